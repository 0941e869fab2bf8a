import {
  LlamaText,
  type ChatHistoryItem as NodeChatHistoryItem,
  type ChatWrapper,
  type LlamaModel,
  type LlamaTextValue,
  type Token,
} from "node-llama-cpp";

/** A chat history item as a session renders it: a model reply may carry the tokens the slot holds for it. */
export type RenderItem =
  { type: "system"; text: string } | { type: "user"; text: string } | { type: "model"; text: string; tokens: readonly Token[] | undefined };

/** A history as the slot holds it (see {@link renderChat}). */
export interface ChatRender {
  tokens: Token[];
  /** The template's text stop triggers (its special-token ones arrive as end-of-generation tokens). */
  stop: string[];
}

/**
 * Renders a chat history with the model's template and tokenizes it as a slot holds it: the
 * template's text is tokenized, but a reply that carries its tokens (the ones the model generated)
 * is those tokens, not its text tokenized again. The text between two replies is tokenized on its
 * own, as the turn's prompt was when it was appended after the reply.
 *
 * So the render of a history always continues what a slot that lived through it holds, token for
 * token (a reply the tokenizer would spell otherwise costs no re-evaluation), and a scope started
 * from the same history, with the tokens, holds the same tokens.
 */
export function renderChat(wrapper: ChatWrapper, model: LlamaModel, items: readonly RenderItem[]): ChatRender {
  const replies: Array<readonly Token[]> = [];
  const markers: string[] = [];
  const history: NodeChatHistoryItem[] = items.map((item) => {
    if (item.type !== "model") return item;
    if (item.tokens === undefined) return { type: "model", response: [item.text] };
    // A marker stands for the reply in the template's text; its tokens replace it afterwards.
    const marker = `\uE000${markers.length}\uE001`;
    markers.push(marker);
    replies.push(item.tokens);
    return { type: "model", response: [marker] };
  });
  const { contextText, stopGenerationTriggers } = wrapper.generateContextState({ chatHistory: history });
  const stop = stopGenerationTriggers
    .filter((trigger) => trigger.values.every((value) => typeof value === "string"))
    .map((trigger) => trigger.toString())
    .filter((trigger) => trigger.length > 0);
  const pieces = splitAtMarkers(contextText.values, markers);
  if (pieces === undefined) {
    // The template rewrote a reply: render the replies' text, as any template can.
    const asText = items.map((item): NodeChatHistoryItem => (item.type === "model" ? { type: "model", response: [item.text] } : item));
    return { tokens: wrapper.generateContextState({ chatHistory: asText }).contextText.tokenize(model.tokenizer), stop };
  }
  const tokens: Token[] = [];
  pieces.forEach((piece, i) => {
    if (i > 0) tokens.push(...replies[i - 1]!);
    tokens.push(...LlamaText(piece).tokenize(model.tokenizer, i > 0 ? "trimLeadingSpace" : undefined));
  });
  return { tokens, stop };
}

/**
 * The template's text cut at each marker, in order: `markers.length + 1` pieces; undefined when a
 * marker is missing, repeated or out of order (the template changed a reply).
 */
function splitAtMarkers(values: readonly LlamaTextValue[], markers: readonly string[]): LlamaTextValue[][] | undefined {
  const pieces: LlamaTextValue[][] = [[]];
  let next = 0;
  for (const value of values) {
    if (typeof value !== "string") {
      pieces.at(-1)!.push(value);
      continue;
    }
    let rest = value;
    for (;;) {
      const marker = markers[next];
      const at = marker === undefined ? -1 : rest.indexOf(marker);
      if (at < 0) break;
      pieces.at(-1)!.push(rest.slice(0, at));
      pieces.push([]);
      rest = rest.slice(at + marker!.length);
      next++;
    }
    pieces.at(-1)!.push(rest);
  }
  const leftover = pieces.some((piece) => piece.some((value) => typeof value === "string" && value.includes("\uE000")));
  return next === markers.length && !leftover ? pieces : undefined;
}
