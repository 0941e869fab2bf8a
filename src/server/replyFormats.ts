import { randomUUID } from "node:crypto";
import type { FinishReason, GenerationResult } from "../index.js";

/** The JSON of one endpoint's replies: whole, or as server-sent chunks. */
export interface ReplyFormat {
  whole(result: GenerationResult): object;
  /** The chunks a stream opens with (the chat endpoint announces the assistant's role). */
  opening(): object[];
  chunk(text: string): object;
  /** The chunk that says why the reply ended. */
  closing(result: GenerationResult): object;
  /** The last chunk: token counts, no choices. */
  usage(result: GenerationResult): object;
}

/** OpenAI's finish reasons: `length` when the reply was cut by a limit, `stop` otherwise. */
export function finishReasonOf(reason: FinishReason): "stop" | "length" {
  return reason === "maxTokens" || reason === "contextFull" ? "length" : "stop";
}

/** `usage`: `prompt_tokens` counts the tokens this request evaluated (a continued session's new turn only). */
function usageOf({ promptTokenCount, tokenCount }: GenerationResult) {
  return { prompt_tokens: promptTokenCount, completion_tokens: tokenCount, total_tokens: promptTokenCount + tokenCount };
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
          message: { role: "assistant", content: result.text, refusal: null },
          logprobs: null,
          finish_reason: finishReasonOf(result.finishReason),
        },
      ],
      usage: usageOf(result),
    }),
    opening: () => [chunk({ role: "assistant", content: "" }, null)],
    chunk: (text) => chunk({ content: text }, null),
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
    closing: (result) => choice("", finishReasonOf(result.finishReason)),
    usage: (result) => ({ ...head, choices: [], usage: usageOf(result) }),
  };
}
