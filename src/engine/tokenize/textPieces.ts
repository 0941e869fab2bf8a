/**
 * Whether a piece may start at `index`: right after a newline, at a character that is not
 * whitespace. A tokenizer continues a text there as it would start a line after a newline (see
 * `PromptTokenizer`); before whitespace it may not (an SPM tokenizer's "\n\n" and leading spaces
 * depend on what precedes them).
 */
export function isLineStart(text: string, index: number): boolean {
  return index > 0 && index < text.length && text.charCodeAt(index - 1) === 0x0a && !/\s/.test(text.charAt(index));
}

/**
 * Cuts `text` into pieces of about `pieceLength` characters, each after the first starting at a
 * line start ({@link isLineStart}): the last one within `pieceLength` of the piece's start, or,
 * in a longer line, the first one after it. A text without line starts is one piece. The pieces
 * concatenate to `text`.
 */
export function splitAtLineStarts(text: string, pieceLength: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (text.length - start > pieceLength) {
    const cut = lastLineStart(text, start, start + pieceLength) ?? nextLineStart(text, start + pieceLength);
    if (cut === undefined) break;
    pieces.push(text.slice(start, cut));
    start = cut;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/** The last line start in `(start, end]`. */
function lastLineStart(text: string, start: number, end: number): number | undefined {
  for (let newline = text.lastIndexOf("\n", end - 1); newline >= start; newline = text.lastIndexOf("\n", newline - 1)) {
    if (isLineStart(text, newline + 1)) return newline + 1;
    if (newline === 0) break; // lastIndexOf("\n", -1) would find it again
  }
  return undefined;
}

/** The first line start after `from`. */
function nextLineStart(text: string, from: number): number | undefined {
  for (let newline = text.indexOf("\n", from); newline !== -1; newline = text.indexOf("\n", newline + 1))
    if (isLineStart(text, newline + 1)) return newline + 1;
  return undefined;
}
