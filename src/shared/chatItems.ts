import type { ChatHistoryItem } from "./ChatHistoryItem.js";

/**
 * The chat history saved with a state's meta (the state itself was checked already). Anything
 * but the items a chat scope writes counts as no history.
 */
export function savedChatOf(meta: { chatTurns?: unknown } | undefined): ChatHistoryItem[] | undefined {
  const turns = meta?.chatTurns;
  return Array.isArray(turns) && turns.every((item, i) => isChatItem(item, i)) ? turns : undefined;
}

/**
 * A system item (first only), a user item or a model item of text and function calls, as a chat
 * scope keeps them.
 */
export function isChatItem(item: unknown, index: number): item is ChatHistoryItem {
  const value = item as ChatHistoryItem | null;
  if (typeof value !== "object" || value === null) return false;
  if (value.type === "system") return index === 0 && typeof value.text === "string";
  if (value.type === "user") return typeof value.text === "string";
  if (value.type !== "model" || !Array.isArray(value.response) || !value.response.every(isResponsePart)) return false;
  const { partTokens } = value;
  return (
    (value.tokens === undefined || isTokens(value.tokens)) &&
    (partTokens === undefined ||
      (Array.isArray(partTokens) &&
        partTokens.length === value.response.length &&
        partTokens.every((tokens) => tokens === null || isTokens(tokens))))
  );
}

function isResponsePart(part: unknown): boolean {
  if (typeof part === "string") return true;
  const call = part as { type?: unknown; name?: unknown } | null;
  return typeof call === "object" && call !== null && call.type === "functionCall" && typeof call.name === "string";
}

function isTokens(tokens: unknown): boolean {
  return Array.isArray(tokens) && tokens.every((token) => Number.isSafeInteger(token) && token >= 0);
}
