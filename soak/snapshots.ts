import type { ChatHistoryItem, LlamaScope } from "../src/index.js";

/** What a caller can see of a conversation: its token count and, for a chat scope, its history. */
export interface Snapshot {
  tokens: number;
  /** A chat scope's `getChatHistory()`; undefined for a completion scope. */
  history: ChatHistoryItem[] | undefined;
}

/** Reads a scope's snapshot through its public API (a frozen scope's without restoring it). */
export async function readSnapshot(scope: LlamaScope): Promise<Snapshot> {
  const tokens = await scope.tokenCount();
  const history = scope.mode === "chat" ? await scope.getChatHistory() : undefined;
  return { tokens, history };
}

/** Undefined when both are the same; otherwise what changed, in words and numbers. */
export function snapshotDifference(before: Snapshot, after: Snapshot): string | undefined {
  const changes: string[] = [];
  if (before.tokens !== after.tokens) changes.push(`tokenCount ${before.tokens} → ${after.tokens}`);
  const historyChange = historyDifference(before.history, after.history);
  if (historyChange !== undefined) changes.push(historyChange);
  return changes.length === 0 ? undefined : changes.join("; ");
}

/** Where two chat histories part: their lengths and the first item that differs. */
export function historyDifference(before: ChatHistoryItem[] | undefined, after: ChatHistoryItem[] | undefined): string | undefined {
  if (before === undefined && after === undefined) return undefined;
  if (before === undefined || after === undefined)
    return `history ${before === undefined ? "none" : before.length + " items"} → ${after === undefined ? "none" : after.length + " items"}`;
  const length = Math.max(before.length, after.length);
  for (let i = 0; i < length; i++) {
    const a = JSON.stringify(before[i]);
    const b = JSON.stringify(after[i]);
    if (a !== b) return `history ${before.length} → ${after.length} items, first difference at item ${i}: ${clip(a)} → ${clip(b)}`;
  }
  return undefined;
}

/** A snapshot in a few words, for the logs. */
export function describeSnapshot(snapshot: Snapshot): string {
  return snapshot.history === undefined ? `${snapshot.tokens} tokens` : `${snapshot.tokens} tokens, ${snapshot.history.length} items`;
}

/** A value's JSON cut to a readable length. */
export function clip(text: string | undefined, length = 80): string {
  if (text === undefined) return "nothing";
  return text.length <= length ? text : text.slice(0, length) + `…(${text.length} chars)`;
}
