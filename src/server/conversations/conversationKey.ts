import { createHash } from "node:crypto";
import type { ChatHistoryItem } from "../../index.js";

/**
 * A digest of a chat conversation's content: its system prompt and its turns, each by role and
 * text (a reply's tokens are left out: a client sends text). A chat scope whose history has the
 * key of a request's earlier messages holds exactly those messages, so it can answer the request's
 * last one without evaluating the others again.
 */
export function conversationKey(items: readonly ChatHistoryItem[]): string {
  const content = items.map((item) => {
    switch (item.type) {
      case "system":
        return ["system", typeof item.text === "string" ? item.text : JSON.stringify(item.text)];
      case "user":
        return ["user", item.text];
      case "model":
        // Text joined as a client sends it; a function call apart, so that no text spells one.
        return ["model", item.response.map((part) => (typeof part === "string" ? part : { part }))];
    }
  });
  return createHash("sha256").update(JSON.stringify(content)).digest("base64");
}
