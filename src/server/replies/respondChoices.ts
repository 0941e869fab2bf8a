import type { ChoicesResult, GenerateOptions, GenerationResult, LlamaScope } from "../../index.js";
import { logprobFormatter } from "./logprobFormats.js";
import type { ReplyFormat } from "./replyFormats.js";
import type { ReplyPlan } from "./ReplyPlan.js";
import { sendEvents } from "./sendEvents.js";

type Choice = Record<string, unknown>;
type Body = { choices: Choice[] } & Record<string, unknown>;

/**
 * `respond` for a request with `n` > 1 or log-probabilities: `n` choices from one evaluation of
 * the prompt (`generateChoices`), each choice's object from the endpoint's own format, with its
 * `index` and `logprobs`. Streamed, each chunk carries one choice's piece; every choice gets its
 * closing chunk, then one usage chunk counts the prompt once and the replies together. Resolves
 * as `respond` does, with the replies' totals as the result.
 */
export async function respondChoices(
  scope: LlamaScope,
  prompt: string,
  options: GenerateOptions,
  plan: ReplyPlan,
): Promise<{ result: GenerationResult | undefined; body?: object }> {
  const { signal, format, choices: n } = plan;
  const logprobsOf = (index: number) => formatters[index] ?? (formatters[index] = logprobFormatter(plan.endpoint));
  const formatters: ReturnType<typeof logprobFormatter>[] = [];
  const withLogprobs = options.logprobs !== undefined;
  if (!plan.stream) {
    const result = await scope.generateChoices(prompt, n, { ...options, signal });
    await plan.generated?.(result.choices[0]!);
    const total = totalOf(result);
    const wholes = result.choices.map((choice) => format.whole(choice) as Body);
    const choices = wholes.map((whole, i) =>
      withChoice(whole.choices[0]!, i, withLogprobs ? logprobsOf(i)(result.choices[i]!.logprobs ?? []) : null),
    );
    return { result: total, body: { ...wholes[0], choices, usage: usageOf(format, total) } };
  }
  const stream = scope.streamChoices(prompt, n, { ...options, signal });
  // Whatever happens below, the stream is returned: a reply that fails never leaves its generation running.
  try {
    const first = await stream.next();
    const total = await sendEvents(plan, async (events) => {
      for (let i = 0; i < n; i++) for (const chunk of format.opening()) await events.send(chunkOf(chunk, i, null));
      for (let item = first; item.done !== true; item = await stream.next()) {
        const { index, text, logprobs } = item.value;
        await events.send(chunkOf(format.chunk(text), index, withLogprobs ? logprobsOf(index)(logprobs ?? []) : null));
      }
      const result = await stream.result;
      await plan.generated?.(result.choices[0]!);
      for (const [i, choice] of result.choices.entries()) await events.send(chunkOf(format.closing(choice), i, null));
      const total = totalOf(result);
      await events.send(format.usage(total));
      await events.send("[DONE]");
      return total;
    });
    return { result: total };
  } finally {
    void stream.return?.();
  }
}

/** One choice's object with its index and log-probabilities. */
function withChoice(choice: Choice, index: number, logprobs: object | null): Choice {
  return { ...choice, index, logprobs };
}

/** A chunk of the endpoint's format, its one choice made choice `index`. */
function chunkOf(chunk: object, index: number, logprobs: object | null): object {
  const body = chunk as Body;
  return { ...body, choices: body.choices.map((choice) => withChoice(choice, index, logprobs)) };
}

/** The replies as one result, for usage and metrics: the prompt once, the replies' tokens together. */
function totalOf(result: ChoicesResult): GenerationResult {
  const first = result.choices[0]!;
  return { text: first.text, finishReason: first.finishReason, promptTokenCount: result.promptTokenCount, tokenCount: result.tokenCount };
}

function usageOf(format: ReplyFormat, total: GenerationResult): unknown {
  return (format.usage(total) as { usage?: unknown }).usage;
}
