import { randomUUID } from "node:crypto";
import type { FinishReason, GenerationResult } from "../../index.js";

/** The JSON of one endpoint's replies: whole, or as server-sent chunks. */
export interface ReplyFormat {
  whole(result: GenerationResult): object;
  /** The chunks a stream opens with (the chat endpoint announces the assistant's role). */
  opening(): object[];
  chunk(text: string): object;
  /** The chunks of the function calls a reply ends with (the chat endpoint's `delta.tool_calls`). */
  calls(result: GenerationResult): object[];
  /** The chunk that says why the reply ended. */
  closing(result: GenerationResult): object;
  /** The last chunk: token counts, no choices. */
  usage(result: GenerationResult): object;
}

/** OpenAI's finish reasons: `length` when the reply was cut by a limit, `tool_calls` when it calls functions, `stop` otherwise. */
export function finishReasonOf(reason: FinishReason): "stop" | "length" | "tool_calls" {
  if (reason === "functionCall") return "tool_calls";
  return reason === "maxTokens" || reason === "contextFull" ? "length" : "stop";
}

/** A reply's calls as OpenAI's `tool_calls`, each with an id of its own (`call_…`) that the tool message answers. */
function toolCallsOf(result: GenerationResult): { id: string; type: "function"; function: { name: string; arguments: string } }[] {
  return (result.functionCalls ?? []).map((call) => ({
    id: `call_${randomUUID().replaceAll("-", "")}`,
    type: "function",
    function: { name: call.name, arguments: call.rawArguments },
  }));
}

/** `usage`: `prompt_tokens` counts the tokens this request evaluated (a continued session's new turn only). */
function usageOf({ promptTokenCount, tokenCount }: GenerationResult) {
  return { prompt_tokens: promptTokenCount, completion_tokens: tokenCount, total_tokens: promptTokenCount + tokenCount };
}

/** The assistant's message: its text, and the calls it ends with (`content` null when it is only calls, as OpenAI's). */
function messageOf(result: GenerationResult): object {
  const calls = toolCallsOf(result);
  if (calls.length === 0) return { role: "assistant", content: result.text, refusal: null };
  return { role: "assistant", content: result.text === "" ? null : result.text, refusal: null, tool_calls: calls };
}

/** `chat.completion` and `chat.completion.chunk` objects. */
export function chatFormat(model: string): ReplyFormat {
  const head = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model, system_fingerprint: null };
  const chunk = (delta: object, finish: string | null) => ({
    ...head,
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  return {
    whole: (result) => ({
      ...head,
      object: "chat.completion",
      choices: [
        {
          index: 0,
          message: messageOf(result),
          logprobs: null,
          finish_reason: finishReasonOf(result.finishReason),
        },
      ],
      usage: usageOf(result),
    }),
    opening: () => [chunk({ role: "assistant", content: "" }, null)],
    chunk: (text) => chunk({ content: text }, null),
    // Each call in two chunks, as OpenAI streams them: its id and name, then its arguments.
    calls: (result) =>
      toolCallsOf(result).flatMap(({ id, type, function: { name, arguments: args } }, index) => [
        chunk({ tool_calls: [{ index, id, type, function: { name, arguments: "" } }] }, null),
        chunk({ tool_calls: [{ index, function: { arguments: args } }] }, null),
      ]),
    closing: (result) => chunk({}, finishReasonOf(result.finishReason)),
    usage: (result) => ({ ...head, object: "chat.completion.chunk", choices: [], usage: usageOf(result) }),
  };
}

/** `text_completion` objects, whole and streamed. */
export function textFormat(model: string): ReplyFormat {
  const head = {
    id: `cmpl-${randomUUID()}`,
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
  };
  const choice = (text: string, finish: string | null) => ({
    ...head,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
  });
  return {
    whole: (result) => ({ ...choice(result.text, finishReasonOf(result.finishReason)), usage: usageOf(result) }),
    opening: () => [],
    chunk: (text) => choice(text, null),
    calls: () => [],
    closing: (result) => choice("", finishReasonOf(result.finishReason)),
    usage: (result) => ({ ...head, choices: [], usage: usageOf(result) }),
  };
}
