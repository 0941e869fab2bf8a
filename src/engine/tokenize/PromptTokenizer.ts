import { setImmediate as nextTurn } from "node:timers/promises";
import { LlamaVocabularyType, type LlamaModel, type Token } from "node-llama-cpp";
import { splitAtLineStarts } from "./textPieces.js";
import { scanVocabulary } from "./vocabulary.js";

/**
 * Texts longer than this are tokenized in pieces of about this length, the event loop turning
 * between them. Measured on the test models (2 cores): 8,192 characters take 1 to 10 ms, so one
 * prompt never holds the thread much longer, whatever its length (the guard caps it anyway).
 */
export const PIECE_LENGTH = 8192;

/** Lines a model's tokenizer must tokenize the same in pieces as whole before it is trusted to. */
const PROBE = [
  "Once upon a time, there was a little girl named Lily.",
  'She said, "Look!" 123 4567 — ça va? 日本語 🙂 emoji',
  "  indented line\ttab",
  "",
  "\r",
  "-- dashes ---------------- and ____ underscores",
  "x",
].join("\n");

/**
 * Turns prompt text into tokens for one model, and says how long a prompt can be at most.
 *
 * Long texts are tokenized in pieces cut at line starts (after a newline, before a character
 * that is not whitespace), yielding to the event loop between pieces, so a long prompt does not
 * freeze the other conversations' streams. That gives exactly the whole text's tokens when no
 * token can join text across such a cut: an SPM tokenizer (llama.cpp's, for Llama models) only
 * merges characters into vocabulary tokens, so a merge across a cut would make a token that has
 * a newline followed by more text, and we check that the vocabulary has none. A piece after the
 * first is tokenized as a continuation ("trimLeadingSpace": node-llama-cpp tokenizes "\n" + piece
 * and drops the newline's tokens), which is what the whole text gives after its newline. Other
 * tokenizers (BPE's pre-tokenizer rules differ per model) get one piece; so does any model whose
 * tokenizer fails a check on a probe text at load.
 */
export class PromptTokenizer {
  private static readonly byModel = new WeakMap<LlamaModel, PromptTokenizer>();

  /** See `VocabularyFacts.charsPerToken`. */
  readonly charsPerToken: number;
  /** Whether long texts are tokenized in pieces (see the class comment). */
  readonly piecewise: boolean;

  private constructor(private readonly model: LlamaModel) {
    const facts = scanVocabulary(model);
    this.charsPerToken = facts.charsPerToken;
    this.piecewise = model.vocabularyType === LlamaVocabularyType.spm && !facts.newlineInsideToken && this.passesProbe();
  }

  /** The model's tokenizer, made once per loaded model (the vocabulary scan reads every token). */
  static of(model: LlamaModel): PromptTokenizer {
    let tokenizer = PromptTokenizer.byModel.get(model);
    if (tokenizer === undefined) PromptTokenizer.byModel.set(model, (tokenizer = new PromptTokenizer(model)));
    return tokenizer;
  }

  /**
   * The tokens of `text` as `model.tokenize(text, false)` gives them, or, with `continuation`,
   * as `model.tokenize(text, false, "trimLeadingSpace")` does (a text that continues another one:
   * no added leading space). `signal` is checked after each piece; its reason is thrown.
   */
  async tokenize(text: string, { continuation, signal }: { continuation: boolean; signal?: AbortSignal | undefined }): Promise<Token[]> {
    const pieces = this.piecewise && text.length > PIECE_LENGTH ? splitAtLineStarts(text, PIECE_LENGTH) : [text];
    const tokens: Token[] = [];
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0) await nextTurn();
      signal?.throwIfAborted();
      for (const token of this.tokenizePiece(pieces[i]!, continuation || i > 0)) tokens.push(token);
    }
    signal?.throwIfAborted();
    return tokens;
  }

  /** Like {@link tokenize}, all at once, cutting at every line start: the probe's check. */
  tokenizeInPieces(text: string, continuation: boolean): Token[] {
    return splitAtLineStarts(text, 1).flatMap((piece, i) => this.tokenizePiece(piece, continuation || i > 0));
  }

  private tokenizePiece(piece: string, continuation: boolean): Token[] {
    return this.model.tokenize(piece, false, continuation ? "trimLeadingSpace" : undefined);
  }

  /** A tokenizer that would give other tokens in pieces is found out here, not in a conversation. */
  private passesProbe(): boolean {
    return [false, true].every((continuation) => {
      const whole = this.model.tokenize(PROBE, false, continuation ? "trimLeadingSpace" : undefined);
      const pieces = this.tokenizeInPieces(PROBE, continuation);
      return whole.length === pieces.length && whole.every((token, i) => token === pieces[i]);
    });
  }
}
