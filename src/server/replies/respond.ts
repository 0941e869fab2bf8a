import type { FastifyReply } from "fastify";
import type { GenerationResult, LlamaScope, PromptOptions } from "../../index.js";
import { apiErrorOf } from "../ApiError.js";
import { EventStream } from "./EventStream.js";
import type { ReplyFormat } from "./replyFormats.js";
import { respondChoices } from "./respondChoices.js";

/** How one completion request wants its reply. */
export interface ReplyPlan {
  reply: FastifyReply;
  /** Aborts when the client goes away: the generation stops. */
  signal: AbortSignal;
  stream: boolean;
  format: ReplyFormat;
  /** Extra response headers (the session id). */
  headers: Record<string, string>;
  /** Logs a failure after the stream started, when no status code can say it any more. */
  log: (line: string) => void;
  /** The request's `n` (see respondChoices). */
  choices: number;
  endpoint: "chat" | "completions";
  /**
   * Called with the result once the reply is generated, before the response ends (a stream's last
   * events): what the server keeps of the conversation is in place before the client can send
   * its next request. Must not reject.
   */
  generated?: (result: GenerationResult) => Promise<void>;
}

/**
 * Prompts `scope` and answers the request: a whole JSON reply, or server-sent events. A stream's
 * headers go out with its first text, so a prompt refused before it (too large, bad options)
 * still gets its status code and JSON error; a failure after that ends the stream with an error
 * event. Resolves with the generation's result (none after such a failure), and the body to send
 * for a whole reply.
 */
export async function respond(
  scope: LlamaScope,
  prompt: string,
  options: PromptOptions,
  plan: ReplyPlan,
): Promise<{ result: GenerationResult | undefined; body?: object }> {
  const { reply, signal, format } = plan;
  if (plan.choices > 1 || options.logprobs !== undefined) return respondChoices(scope, prompt, options, plan);
  if (!plan.stream) {
    const result = await scope.generate(prompt, { ...options, signal });
    await plan.generated?.(result);
    return { result, body: format.whole(result) };
  }
  const stream = scope.streamPrompt(prompt, { ...options, signal });
  // Whatever happens below, the stream is returned: a reply that fails never leaves its generation running.
  try {
    const first = await stream.next();
    reply.hijack();
    const events = new EventStream(reply.raw);
    try {
      events.open(plan.headers);
      for (const chunk of format.opening()) await events.send(chunk);
      for (let item = first; item.done !== true; item = await stream.next()) await events.send(format.chunk(item.value));
      const result = await stream.result;
      await plan.generated?.(result);
      for (const chunk of format.calls(result)) await events.send(chunk);
      await events.send(format.closing(result));
      await events.send(format.usage(result));
      await events.send("[DONE]");
      return { result };
    } catch (error) {
      const apiError = apiErrorOf(error);
      if (apiError.status >= 500) plan.log(`a streamed reply failed: ${(error as Error).stack ?? String(error)}`);
      await events.send(apiError.body); // OpenAI's clients raise an error event as an APIError
      return { result: undefined };
    } finally {
      events.end();
    }
  } finally {
    void stream.return?.();
  }
}
