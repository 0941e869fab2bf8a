import {
  LlamaText,
  type ChatHistoryItem as NodeChatHistoryItem,
  type ChatModelFunctions,
  type ChatModelResponse,
  type ChatWrapper,
  type LlamaModel,
  type LlamaTextValue,
  type Token,
} from "node-llama-cpp";
import { InvalidArgumentError } from "../../shared/errors/index.js";
import type { LlamaTextJSON } from "../../shared/ChatHistoryItem.js";
import { callText } from "./callText.js";

/** A part of a model reply as a session renders it: text or a function call, with the tokens the slot holds for it. */
export type RenderPart =
  | { kind: "text"; text: string; tokens: readonly Token[] | undefined }
  | {
      kind: "call";
      name: string;
      params: unknown;
      /** Undefined while the call waits for it (rendered as the template renders no result). */
      result: unknown;
      /** The call's text as it was written, when its arguments' tokens are not known. */
      rawCall: LlamaTextJSON | undefined;
      /** The arguments' tokens as generated. */
      tokens: readonly Token[] | undefined;
    };

/** A chat history item as a session renders it: a model reply is parts that may carry the tokens the slot holds for them. */
export type RenderItem =
  { type: "system"; text: string } | { type: "user"; text: string } | { type: "model"; parts: readonly RenderPart[] };

/**
 * Where a render of a reply in progress ends: before the name of its last part's function call
 * (the model picks it next), before the call's arguments (generated next), or after its last
 * part (the model goes on after a function result). Without a cut, the render is the template's
 * whole text, as for a user turn.
 */
export type RenderCut = "name" | "arguments" | "end";

/** What else a render takes: the functions the template documents, and where a reply in progress ends. */
export interface RenderOptions {
  functions?: ChatModelFunctions | undefined;
  cut?: RenderCut | undefined;
}

/** A history as the slot holds it (see {@link renderChat}). */
export interface ChatRender {
  tokens: Token[];
  /** The template's text stop triggers (its special-token ones arrive as end-of-generation tokens). */
  stop: string[];
}

/**
 * Renders a chat history with the model's template and tokenizes it as a slot holds it: the
 * template's text is tokenized, but a reply part that carries its tokens (the ones the model
 * generated: text, or a call's arguments) is those tokens, not its text tokenized again. The text
 * between two of them is tokenized on its own, as the prompt was when it was appended after them.
 *
 * So the render of a history always continues what a slot that lived through it holds, token for
 * token (a reply the tokenizer would spell otherwise costs no re-evaluation), and a scope started
 * from the same history, with the tokens, holds the same tokens. Function calls are rendered in
 * the wrapper's own syntax (`settings.functions`), results as its function-result text.
 */
export function renderChat(wrapper: ChatWrapper, model: LlamaModel, items: readonly RenderItem[], options: RenderOptions = {}): ChatRender {
  const replies: Array<readonly Token[]> = [];
  const markers: string[] = [];
  const mark = (tokens: readonly Token[]): string => {
    // A marker stands for generated tokens in the template's text; they replace it afterwards.
    const marker = `\uE000${markers.length}\uE001`;
    markers.push(marker);
    replies.push(tokens);
    return marker;
  };
  let lastModel = items.length - 1;
  while (lastModel >= 0 && items[lastModel]!.type !== "model") lastModel--;
  let cutMarker: string | undefined;
  const history: NodeChatHistoryItem[] = items.map((item, index) => {
    if (item.type !== "model") return item;
    const cut = index === lastModel ? options.cut : undefined;
    const response: ChatModelResponse["response"] = item.parts.map((part, i) => {
      const cutHere = cut !== undefined && cut !== "end" && i === item.parts.length - 1 ? cut : undefined;
      if (part.kind === "text") return part.tokens === undefined ? part.text : mark(part.tokens);
      let rawCall = part.rawCall;
      if (cutHere !== undefined) rawCall = callText(wrapper, part.name, (cutMarker = mark([])), cutHere).toJSON();
      else if (part.tokens !== undefined) rawCall = callText(wrapper, part.name, mark(part.tokens), undefined).toJSON();
      const call = { type: "functionCall" as const, name: part.name, params: part.params, result: part.result };
      return rawCall === undefined ? call : { ...call, rawCall };
    });
    if (cut === "end") response.push((cutMarker = mark([])));
    if (response.length === 0) response.push("");
    return { type: "model", response };
  });
  const state = wrapper.generateContextState({
    chatHistory: history,
    ...(options.functions === undefined ? {} : { availableFunctions: options.functions, documentFunctionParams: true }),
  });
  const stop = state.stopGenerationTriggers
    .filter((trigger) => trigger.values.every((value) => typeof value === "string"))
    .map((trigger) => trigger.toString())
    .filter((trigger) => trigger.length > 0);
  let pieces = splitAtMarkers(state.contextText.values, markers);
  if (pieces === undefined) {
    const hasCalls = items.some((item) => item.type === "model" && item.parts.some((part) => part.kind === "call"));
    if (cutMarker !== undefined || hasCalls)
      throw new InvalidArgumentError(
        `The model's chat template (${wrapper.wrapperName}) rewrites replies, so llama-scope cannot keep function calls in it: ` +
          "leave functions out of this scope's prompts.",
      );
    // The template rewrote a reply: render the replies' text, as any template can.
    const asText = items.map((item): NodeChatHistoryItem => (item.type === "model" ? { type: "model", response: [textOf(item)] } : item));
    return { tokens: wrapper.generateContextState({ chatHistory: asText }).contextText.tokenize(model.tokenizer), stop };
  }
  // A cut ends the render at its marker: what the template writes after it is not in the slot yet.
  if (cutMarker !== undefined) pieces = pieces.slice(0, markers.indexOf(cutMarker) + 1);
  const tokens: Token[] = [];
  pieces.forEach((piece, i) => {
    if (i > 0) tokens.push(...replies[i - 1]!);
    tokens.push(...LlamaText(piece).tokenize(model.tokenizer, i > 0 ? "trimLeadingSpace" : undefined));
  });
  return { tokens, stop };
}

/** A model item's text, calls left out (for templates that keep no marker; such histories have no calls). */
function textOf(item: { parts: readonly RenderPart[] }): string {
  return item.parts.map((part) => (part.kind === "text" ? part.text : "")).join("");
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
