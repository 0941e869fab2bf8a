import type { GenerationResult, LlamaScope, PromptOptions } from "../../index.js";
import type { ReplyPlan } from "./ReplyPlan.js";
import { respondChoices } from "./respondChoices.js";
import { sendEvents } from "./sendEvents.js";

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
  const { signal, format } = plan;
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
    const result = await sendEvents(plan, async (events) => {
      for (const chunk of format.opening()) await events.send(chunk);
      for (let item = first; item.done !== true; item = await stream.next()) await events.send(format.chunk(item.value));
      const result = await stream.result;
      await plan.generated?.(result);
      for (const chunk of format.calls(result)) await events.send(chunk);
      await events.send(format.closing(result));
      await events.send(format.usage(result));
      await events.send("[DONE]");
      return result;
    });
    return { result };
  } finally {
    void stream.return?.();
  }
}
