import type { BatchItem, LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";

/**
 * With nativeCallTrace.ts and addonGreedyLoop.ts beside it (both for the benchmarks), the only
 * place llama-scope reads node-llama-cpp internals (3.22.1). Everything here is marked
 * `@internal` there and may change in any release: `test/engine/internals.test.ts` checks each
 * read against a real context and fails loudly when an upgrade changes one, and every caller has
 * a safe fallback when a read comes back empty.
 */

interface QueuedDecode {
  sequenceId: number;
  tokens: unknown;
}

/** A sequence's id in its context (`LlamaContextSequence._sequenceId`), or undefined. */
export function sequenceIdOf(sequence: LlamaContextSequence): number | undefined {
  const id = (sequence as unknown as { _sequenceId?: unknown })._sequenceId;
  return typeof id === "number" ? id : undefined;
}

/**
 * The sequence id of each batch item node-llama-cpp is about to decode. A batch item carries only
 * its tokens; the queued decode it came from (`LlamaContext._queuedDecodes`) holds the same
 * tokens array and the sequence id. Items it cannot place are missing from the map.
 */
export function queuedSequenceIds(context: LlamaContext, items: readonly BatchItem[]): Map<BatchItem, number> {
  const queued = (context as unknown as { _queuedDecodes?: unknown })._queuedDecodes;
  const ids = new Map<BatchItem, number>();
  if (!Array.isArray(queued)) return ids;
  const byTokens = new Map<unknown, number>();
  for (const decode of queued as QueuedDecode[]) if (typeof decode?.sequenceId === "number") byTokens.set(decode.tokens, decode.sequenceId);
  for (const item of items) {
    const id = byTokens.get(item.tokens);
    if (id !== undefined) ids.set(item, id);
  }
  return ids;
}

type CopyFromOtherSequence = (other: LlamaContextSequence, upToTokenIndex: number) => Promise<boolean | undefined>;

/**
 * Copies `source`'s KV cache (its first `upTo` tokens; default all) into the empty `target` inside
 * llama.cpp (`llama_memory_seq_cp`), through `LlamaContextSequence._copyStateFromOtherSequence`.
 * Resolves true when `target` then holds exactly those tokens and their cache, false when it
 * could not copy (the internal is gone, the model's memory cannot be copied this way, no room):
 * `target` is then empty, and the caller copies through a saved state instead.
 *
 * The one trap: with one KV stream per sequence (node-llama-cpp's layout), llama.cpp only records
 * a copy between streams and copies the buffers at the next decode of the context. A state saved
 * or loaded before that decode sees the old buffers (a saved fork would hold garbage, a loaded one
 * would be overwritten later, and so would the copy if the source's buffers were loaded first).
 * So by default the copy is completed here at once with a throwaway decode: one token evaluated
 * after the copied ones and erased again, which leaves every copied cell exactly as the source
 * holds it (re-evaluating a copied token instead would change its bits on some models: llama.cpp's
 * sums depend on the batch). With `complete` false that decode is left out (a few milliseconds on
 * a real model) and the caller keeps states away from both sequences until a decode has run.
 */
export async function copySequenceKv(
  source: LlamaContextSequence,
  target: LlamaContextSequence,
  upTo = source.nextTokenIndex,
  /** False: leave the copy to the context's next decode; the caller then guards the trap above (see PendingCopies). */
  complete = true,
): Promise<boolean> {
  const copy = (target as unknown as { _copyStateFromOtherSequence?: CopyFromOtherSequence })._copyStateFromOtherSequence;
  const length = source.nextTokenIndex;
  if (upTo === 0 && target.nextTokenIndex === 0) return true; // nothing in the cache to copy
  // Recurrent and sliding-window models keep checkpoints besides the cache; a saved state carries both.
  if (
    typeof copy !== "function" ||
    target.nextTokenIndex !== 0 ||
    source.needsCheckpoints ||
    upTo > length ||
    length + 1 >= target.contextSize - 1
  )
    return false;
  let copied = false;
  try {
    // node-llama-cpp copies the whole sequence, then erases the target's tokens from `upTo` on.
    copied = (await copy.call(target, source, upTo)) === true && target.nextTokenIndex === upTo;
  } catch {
    copied = false;
  }
  try {
    if (!copied) await target.clearHistory();
    if (complete || !copied) await completePendingCopy(target);
  } catch {
    await target.clearHistory().catch(() => {});
    return false;
  }
  return copied;
}

/**
 * Evaluates one throwaway token after `sequence`'s tokens and erases it: llama.cpp's pending
 * buffer copies (every one in the context) run first. `sequence` must have nothing else running.
 */
export async function completePendingCopy(sequence: LlamaContextSequence): Promise<void> {
  const end = sequence.nextTokenIndex;
  const token = sequence.contextTokens.at(-1) ?? sequence.model.tokens.bos ?? (0 as Token);
  await sequence.evaluateWithoutGeneratingNewTokens([token]);
  await sequence.eraseContextTokenRanges([{ start: end, end: end + 1 }]);
}

/** One step of {@link evaluateWithProbabilities}: the chosen token and the distribution it was drawn from. */
export interface ProbabilityStep {
  token: Token;
  /** Token → probability, most likely first (node-llama-cpp's order); only when `all` was asked. */
  probabilities?: ReadonlyMap<Token, number>;
  /** The chosen token's probability. */
  confidence?: number;
}

type SequenceEvaluateOptions = Parameters<LlamaContextSequence["evaluate"]>[1];

/**
 * `sequence.evaluate`, with each token's probability (`evaluateWithMetadata`), and with `all`
 * the whole distribution's: llama.cpp then copies the vocabulary's probabilities out at every
 * step, which costs milliseconds per token with a large vocabulary (see docs/api.md).
 *
 * node-llama-cpp tells the native sampler's `[token, probabilities, confidence]` result from a
 * bare token by `instanceof Array`, which is false for an array made in another realm (a vm
 * context such as Jest's): it then yields that array as the token, and would decode it as the
 * next input. So the raw result is read here when it comes through, and every step hands the
 * token back explicitly.
 */
export async function* evaluateWithProbabilities(
  sequence: LlamaContextSequence,
  input: Token[],
  options: SequenceEvaluateOptions,
  all: boolean,
): AsyncGenerator<ProbabilityStep, void, void> {
  const steps = sequence.evaluateWithMetadata(input, all ? { probabilities: true } : { confidence: true }, options);
  try {
    let next = await steps.next();
    while (next.done !== true) {
      const step = probabilityStep(next.value);
      yield step;
      next = await steps.next(step.token);
    }
  } finally {
    await steps.return();
  }
}

interface RawStep {
  token: unknown;
  probabilities?: Map<Token, number>;
  confidence?: number;
}

function probabilityStep(value: RawStep): ProbabilityStep {
  if (!Array.isArray(value.token)) {
    const step: ProbabilityStep = { token: value.token as Token };
    if (value.probabilities !== undefined) step.probabilities = value.probabilities;
    if (value.confidence !== undefined) step.confidence = value.confidence;
    return step;
  }
  const [token, pairs, confidence] = value.token as [Token, unknown, unknown];
  const step: ProbabilityStep = { token };
  if (Array.isArray(pairs)) {
    const probabilities = new Map<Token, number>();
    for (let i = 1; i < pairs.length; i += 2) probabilities.set(pairs[i - 1] as Token, pairs[i] as number);
    step.probabilities = probabilities;
  }
  if (typeof confidence === "number") step.confidence = confidence;
  return step;
}
