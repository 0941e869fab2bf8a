import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelResponse, FunctionResult } from "../../index.js";
import { badRequest } from "../ApiError.js";

/** A chat completion request's `messages`, as a chat scope takes them. */
export interface ChatTurns {
  /** The system (or developer) messages at the start, joined; undefined when there are none. */
  systemPrompt: string | undefined;
  /**
   * The user and model turns before the prompt. A model turn holds the assistant's text and
   * tool calls (with the `tool` messages' results); with {@link functionResults}, the last
   * one's calls wait for them.
   */
  prior: ChatHistoryItem[];
  /** The last user turn: the prompt to answer; `""` when the request ends with tool messages. */
  prompt: string;
  /** The results of the last assistant message's tool calls, when the request ends with its tool messages. */
  functionResults?: FunctionResult[];
}

type Role = "system" | "user" | "model";
const ROLES: Record<string, Role> = { system: "system", developer: "system", user: "user", assistant: "model" };

type Turn = { role: "system" | "user"; text: string } | { role: "model"; response: ChatModelResponse["response"] };

/** A tool call of an assistant message, with the id its tool message answers. */
interface OpenCall {
  id: string;
  call: ChatModelFunctionCall;
  where: string;
}

/**
 * Reads `messages`: system or developer messages first, then user, assistant and tool messages,
 * the last one from the user, or the tool messages answering the last assistant message's tool
 * calls. Consecutive messages of one role are joined into one turn (with a blank line), as a
 * chat template would run them together anyway; an assistant message after tool results goes on
 * with the same model turn, as the model goes on after a function's result.
 */
export function chatTurnsOf(messages: unknown): ChatTurns {
  if (!Array.isArray(messages) || messages.length === 0)
    throw badRequest('messages must be a non-empty array such as [{ "role": "user", "content": "Hello" }].', "messages");
  const turns: Turn[] = [];
  /** The calls of the last assistant message, and which of them the tool messages since have answered. */
  let open: OpenCall[] = [];
  const answered = new Set<string>();
  let endsWithTools = false;
  messages.forEach((message: unknown, i) => {
    const where = `messages[${i}]`;
    if (isToolMessage(message)) {
      answer(message, where, open, answered);
      endsWithTools = true;
      return;
    }
    assertAnswered(open, answered);
    endsWithTools = false;
    const { role, text, calls } = messageOf(message, where);
    if (role === "system" && turns.some((turn) => turn.role !== "system"))
      throw badRequest(`${where} is a system message after the conversation started: put system messages first.`, `${where}.role`);
    const last = turns.at(-1);
    if (role === "model") {
      open = calls;
      answered.clear();
      const parts = [...(text === "" && calls.length > 0 ? [] : [text]), ...calls.map(({ call }) => call)];
      if (last?.role === "model") {
        const tail = last.response.at(-1);
        // After results the reply goes on; after text, a blank line joins the two as one.
        if (typeof tail === "string" && typeof parts[0] === "string") {
          last.response[last.response.length - 1] = `${tail}\n\n${parts.shift() as string}`;
        }
        last.response.push(...parts);
      } else turns.push({ role, response: parts });
      return;
    }
    if (last !== undefined && last.role === role) last.text += `\n\n${text}`;
    else turns.push({ role, text });
  });
  if (endsWithTools) {
    assertAnswered(open, answered);
    // The results are the prompt: the scope holds the calls waiting for them.
    const functionResults = open.map(({ call }) => ({ name: call.name, result: call.result }));
    for (const { call } of open) call.result = undefined;
    const { systemPrompt, rest } = systemOf(turns);
    return { systemPrompt, prior: rest.map(itemOf), prompt: "", functionResults };
  }
  const { systemPrompt, rest } = systemOf(turns);
  const last = rest.pop();
  if (last?.role !== "user")
    throw badRequest(
      "The last message must be the user's, or the tool messages answering the assistant's tool calls: this server does not continue an assistant message.",
      "messages",
    );
  return { systemPrompt, prior: rest.map(itemOf), prompt: last.text };
}

function systemOf(turns: Turn[]): { systemPrompt: string | undefined; rest: Turn[] } {
  const first = turns[0];
  return first?.role === "system" ? { systemPrompt: first.text, rest: turns.slice(1) } : { systemPrompt: undefined, rest: turns };
}

function itemOf(turn: Turn): ChatHistoryItem {
  if (turn.role === "model") return { type: "model", response: turn.response };
  if (turn.role === "user") return { type: "user", text: turn.text };
  throw badRequest("A system message after the conversation started: put system messages first.", "messages");
}

function isToolMessage(message: unknown): message is { role: "tool"; tool_call_id?: unknown; content?: unknown } {
  return typeof message === "object" && message !== null && (message as { role?: unknown }).role === "tool";
}

/** Gives a tool message's content to the call it answers (as JSON when it is JSON text, else as the text). */
function answer(message: { tool_call_id?: unknown; content?: unknown }, where: string, open: OpenCall[], answered: Set<string>): void {
  const id = message.tool_call_id;
  const target = open.find((call) => call.id === id);
  if (typeof id !== "string" || target === undefined)
    throw badRequest(
      `${where}.tool_call_id must be the id of a tool call of the assistant message before it (${open.map((call) => call.id).join(", ") || "it made none"}).`,
      `${where}.tool_call_id`,
    );
  if (answered.has(id)) throw badRequest(`${where} answers tool call ${id} a second time.`, `${where}.tool_call_id`);
  answered.add(id);
  const text = contentText(message.content, `${where}.content`);
  target.call.result = parsedOrText(text);
}

function assertAnswered(open: readonly OpenCall[], answered: ReadonlySet<string>): void {
  const missing = open.find((call) => !answered.has(call.id));
  if (missing !== undefined)
    throw badRequest(
      `${missing.where} (${missing.id}) has no tool message answering it: send its result as { role: "tool", tool_call_id, content }.`,
      missing.where,
    );
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The text a session's chat scope, holding `history`, has to be sent for this request to go on
 * from where it is: the last user turn (or `""` with the request's function results), when the
 * request's earlier turns are what the scope holds (its last turns: a context shift may have
 * erased older ones), or when the request sends only the new message. Undefined when the
 * request is another conversation.
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
  if (a.type === "model" && b.type === "model") return responseKey(a.response) === responseKey(b.response);
  return false;
}

/** A reply as the request and the scope both say it: text runs joined, calls by name, arguments and result (or none yet). */
function responseKey(response: ChatModelResponse["response"]): string {
  const parts: unknown[] = [];
  for (const part of response) {
    if (typeof part === "string") {
      const last = parts.at(-1);
      if (typeof last === "string") parts[parts.length - 1] = last + part;
      else if (part !== "") parts.push(part);
    } else if (part.type === "functionCall")
      parts.push([part.name, part.params ?? {}, part.result === undefined ? { waiting: true } : { result: part.result }]);
  }
  return JSON.stringify(parts);
}

/** A message's role, text and tool calls (an assistant's, each with its id). */
function messageOf(message: unknown, where: string): { role: Role; text: string; calls: OpenCall[] } {
  if (typeof message !== "object" || message === null) throw badRequest(`${where} must be an object with a role and content.`, where);
  const { role, content, tool_calls: toolCalls } = message as { role?: unknown; content?: unknown; tool_calls?: unknown };
  const mapped = typeof role === "string" ? ROLES[role] : undefined;
  if (mapped === undefined)
    throw badRequest(
      `${where}.role must be "system", "developer", "user", "assistant" or "tool", not ${JSON.stringify(role)}.`,
      `${where}.role`,
    );
  const hasCalls = toolCalls !== undefined && toolCalls !== null && !(Array.isArray(toolCalls) && toolCalls.length === 0);
  if (hasCalls && mapped !== "model") throw badRequest(`${where}.tool_calls belong to assistant messages.`, `${where}.tool_calls`);
  const calls = hasCalls ? callsOf(toolCalls, `${where}.tool_calls`) : [];
  const text = calls.length > 0 && (content === null || content === undefined) ? "" : contentText(content, `${where}.content`);
  return { role: mapped, text, calls };
}

/** An assistant message's `tool_calls`: function calls whose arguments are JSON text. */
function callsOf(toolCalls: unknown, where: string): OpenCall[] {
  if (!Array.isArray(toolCalls)) throw badRequest(`${where} must be an array of tool calls.`, where);
  return toolCalls.map((item: unknown, i) => {
    const at = `${where}[${i}]`;
    const { id, type, function: fn } = (item ?? {}) as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } };
    if (typeof id !== "string" || type !== "function" || typeof fn?.name !== "string" || typeof fn.arguments !== "string")
      throw badRequest(`${at} must be { id, type: "function", function: { name, arguments } }, arguments as JSON text.`, at);
    let params: unknown;
    try {
      params = JSON.parse(fn.arguments);
    } catch {
      throw badRequest(`${at}.function.arguments must be JSON text, as the model wrote it.`, `${at}.function.arguments`);
    }
    return { id, where: at, call: { type: "functionCall", name: fn.name, params, result: undefined } };
  });
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
  return item.type === "user" ? item.text.length : item.type === "model" ? responseText(item.response).length : 0;
}

/** A reply's length as text: its text and its calls as JSON (a template renders them about that long). */
export function responseText(response: ChatModelResponse["response"]): string {
  return response
    .map((part) =>
      typeof part === "string" ? part : part.type === "functionCall" ? JSON.stringify([part.name, part.params, part.result]) : "",
    )
    .join("");
}
