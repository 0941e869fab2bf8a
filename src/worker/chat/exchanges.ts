// A chat scope's exchanges, and how they come from and go to history items (node-llama-cpp's shape).
import type { Token } from "node-llama-cpp";
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelResponse } from "../../shared/ChatHistoryItem.js";
import type { RenderPart } from "./renderChat.js";

/** One user turn and the model's reply to it; `user` is gone once a shift erased its start. */
export interface Exchange {
  user: string | undefined;
  /**
   * The reply: text and function calls, each with its tokens as the slot holds them (as
   * generated; undefined: its text is tokenized).
   */
  parts: RenderPart[];
}

/** Whether tokens spell a reply's text, or arguments equal to a call's params. */
export interface Spelling {
  text(tokens: readonly Token[], text: string): boolean;
  params(tokens: readonly Token[], params: unknown): boolean;
}

/** Groups history items (after the system prompt) into exchanges; tokens that do not spell their part are left out. */
export function toExchanges(items: readonly ChatHistoryItem[], spells: Spelling): Exchange[] {
  const exchanges: Exchange[] = [];
  for (const item of items) {
    if (item.type === "user") exchanges.push({ user: item.text, parts: [] });
    else if (item.type === "model") {
      const parts = partsOf(item, spells);
      const last = exchanges.at(-1);
      if (last !== undefined && last.parts.length === 0 && last.user !== undefined) last.parts = parts;
      else exchanges.push({ user: undefined, parts });
    }
  }
  return exchanges;
}

/** A model item's parts: its text (one part, as a chat scope keeps a reply of text) and function calls. */
function partsOf(item: ChatModelResponse, spells: Spelling): RenderPart[] {
  const kept = (tokens: readonly number[] | null | undefined, text: string) =>
    tokens !== undefined && tokens !== null && spells.text(tokens as Token[], text) ? [...(tokens as Token[])] : undefined;
  if (item.response.every((part) => typeof part === "string")) {
    const text = item.response.join("");
    return [{ kind: "text", text, tokens: kept(item.tokens ?? item.partTokens?.[0], text) }];
  }
  const parts: RenderPart[] = [];
  item.response.forEach((part, i) => {
    const tokens = item.partTokens?.[i];
    if (typeof part === "string") parts.push({ kind: "text", text: part, tokens: kept(tokens, part) });
    else if (part.type === "functionCall") {
      const call = part;
      // Argument tokens are kept when they spell arguments equal to the call's params.
      const argsKept =
        tokens !== undefined && tokens !== null && spells.params(tokens as Token[], call.params) ? [...(tokens as Token[])] : undefined;
      parts.push({ kind: "call", name: call.name, params: call.params, result: call.result, rawCall: call.rawCall, tokens: argsKept });
    }
  });
  return parts;
}

/** The history item of an exchange's reply: text as a chat scope keeps it, calls as node-llama-cpp shapes them, and their tokens. */
export function modelItem(parts: readonly RenderPart[]): ChatModelResponse {
  if (parts.length === 0) return { type: "model", response: [""] };
  const only = parts[0]!;
  if (parts.length === 1 && only.kind === "text")
    return only.tokens === undefined
      ? { type: "model", response: [only.text] }
      : { type: "model", response: [only.text], tokens: [...only.tokens] };
  const response: ChatModelResponse["response"] = parts.map((part) => {
    if (part.kind === "text") return part.text;
    const call: ChatModelFunctionCall = { type: "functionCall", name: part.name, params: part.params, result: part.result };
    if (part.rawCall !== undefined) call.rawCall = part.rawCall;
    return call;
  });
  return { type: "model", response, partTokens: parts.map((part) => (part.tokens === undefined ? null : [...part.tokens])) };
}

export function copyExchange(exchange: Exchange): Exchange {
  return { user: exchange.user, parts: exchange.parts.map((part) => ({ ...part })) };
}
