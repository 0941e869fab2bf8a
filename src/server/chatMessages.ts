import type { ChatHistoryItem } from "../index.js";
import { badRequest } from "./ApiError.js";

/** A chat completion request's `messages`, as a chat scope takes them. */
export interface ChatTurns {
  /** The system (or developer) messages at the start, joined; undefined when there are none. */
  systemPrompt: string | undefined;
  /** The user and model turns before the last user turn, alternating. */
  prior: ChatHistoryItem[];
  /** The last user turn: the prompt to answer. */
  prompt: string;
}

type Role = "system" | "user" | "model";
const ROLES: Record<string, Role> = { system: "system", developer: "system", user: "user", assistant: "model" };

/**
 * Reads `messages`: system or developer messages first, then user and assistant messages, the
 * last one from the user. Consecutive messages of one role are joined into one turn (with a blank
 * line), as a chat template would run them together anyway.
 */
export function chatTurnsOf(messages: unknown): ChatTurns {
  if (!Array.isArray(messages) || messages.length === 0)
    throw badRequest('messages must be a non-empty array such as [{ "role": "user", "content": "Hello" }].', "messages");
  const turns: { role: Role; text: string }[] = [];
  messages.forEach((message: unknown, i) => {
    const { role, text } = messageOf(message, `messages[${i}]`);
    if (role === "system" && turns.some((turn) => turn.role !== "system"))
      throw badRequest(
        `messages[${i}] is a system message after the conversation started: put system messages first.`,
        `messages[${i}].role`,
      );
    const last = turns.at(-1);
    if (last?.role === role) last.text += `\n\n${text}`;
    else turns.push({ role, text });
  });
  const systemPrompt = turns[0]?.role === "system" ? turns.shift()!.text : undefined;
  const last = turns.pop();
  if (last?.role !== "user")
    throw badRequest(
      "The last message must be the user's: this server answers a user message (it does not continue an assistant message).",
      "messages",
    );
  const prior = turns.map(({ role, text }): ChatHistoryItem =>
    role === "user" ? { type: "user", text } : { type: "model", response: [text] },
  );
  return { systemPrompt, prior, prompt: last.text };
}

/**
 * The text a session's chat scope, holding `history`, has to be sent for this request to go on
 * from where it is: the last user turn, when the request's earlier turns are what the scope
 * holds (its last turns: a context shift may have erased older ones), or when the request sends
 * only the new message. Undefined when the request is another conversation.
 */
export function continuationOf(history: readonly ChatHistoryItem[], request: ChatTurns): string | undefined {
  const scopeSystem = history[0]?.type === "system" ? history[0].text : undefined;
  const held = scopeSystem === undefined ? history : history.slice(1);
  if (request.prior.length === 0) {
    // Only the new message: the session goes on, under the system prompt it has unless another is given.
    return request.systemPrompt === undefined || request.systemPrompt === scopeSystem ? request.prompt : undefined;
  }
  if (request.systemPrompt !== scopeSystem || held.length === 0 || held.length > request.prior.length) return undefined;
  const tail = request.prior.slice(request.prior.length - held.length);
  return tail.every((item, i) => sameItem(item, held[i]!)) ? request.prompt : undefined;
}

function sameItem(a: ChatHistoryItem, b: ChatHistoryItem): boolean {
  if (a.type === "user" && b.type === "user") return a.text === b.text;
  if (a.type === "model" && b.type === "model") return a.response.join("") === b.response.join("");
  return false;
}

function messageOf(message: unknown, where: string): { role: Role; text: string } {
  if (typeof message !== "object" || message === null) throw badRequest(`${where} must be an object with a role and content.`, where);
  const { role, content, tool_calls: toolCalls } = message as { role?: unknown; content?: unknown; tool_calls?: unknown };
  const mapped = typeof role === "string" ? ROLES[role] : undefined;
  if (mapped === undefined)
    throw badRequest(
      `${where}.role must be "system", "developer", "user" or "assistant", not ${JSON.stringify(role)}: this server does not call tools.`,
      `${where}.role`,
    );
  if (toolCalls !== undefined && toolCalls !== null && !(Array.isArray(toolCalls) && toolCalls.length === 0))
    throw badRequest(`${where}.tool_calls is not supported: this server does not call tools.`, `${where}.tool_calls`);
  return { role: mapped, text: contentText(content, `${where}.content`) };
}

/** A message's content: a string, or an array of text parts (OpenAI's other parts are refused). */
function contentText(content: unknown, where: string): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((part: unknown, i) => {
        const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
        if (type !== "text" || typeof text !== "string")
          throw badRequest(
            `${where}[${i}] must be a text part, { "type": "text", "text": "…" }: this model reads text only.`,
            `${where}[${i}]`,
          );
        return text;
      })
      .join("");
  throw badRequest(`${where} must be a string or an array of text parts.`, where);
}

/**
 * The conversation less its oldest exchanges that can never be in a slot: while the turns after
 * the system prompt are longer than `maxChars` (the model's `maxPromptLength`, the characters
 * past which a text has more tokens than a slot holds), the oldest exchange goes, as the chat
 * scope would leave it out of the prompt anyway. Done here, it costs nothing; in the scope, each
 * exchange left out costs another render of the whole conversation.
 */
export function trimmedToFit(turns: ChatTurns, maxChars: number): ChatTurns {
  const lengths = turns.prior.map(itemLength);
  let total = turns.prompt.length + lengths.reduce((sum, length) => sum + length, 0);
  let start = 0;
  while (start < turns.prior.length && total > maxChars) {
    // An exchange is a user turn and the reply after it (the chat scope's unit), or a lone reply.
    const size = turns.prior[start]!.type === "user" && turns.prior[start + 1]?.type === "model" ? 2 : 1;
    for (let i = 0; i < size; i++) total -= lengths[start + i]!;
    start += size;
  }
  return start === 0 ? turns : { ...turns, prior: turns.prior.slice(start) };
}

function itemLength(item: ChatHistoryItem): number {
  return item.type === "user" ? item.text.length : item.type === "model" ? item.response.join("").length : 0;
}
