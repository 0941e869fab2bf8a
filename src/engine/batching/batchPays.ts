import type { LlamaContextSequence, Token } from "node-llama-cpp";

/**
 * Where batching pays, learned from the model at load.
 *
 * A batch of n tokens is not always cheaper than n single-token decodes. On llama.cpp's CPU
 * kernels a batch of a few tokens can cost several single tokens: on the benchmarks' 125M Q8_0
 * model, 2 tokens took ~15 ms against ~4.7 ms for one, and only from about 6 tokens on did a
 * batch beat decoding its tokens one by one (stories260K gains from 2 on). So lock-stepped slots
 * are decoded as one batch only when there are at least `minBatch` of them; fewer take turns,
 * one token per decode, back to back (see `batchOrder.ts`).
 *
 * The probe times the decode of 1 to `slots` tokens on one sequence (the same cost as one token
 * each of as many sequences, measured: within a few percent) and keeps the fastest of a few
 * tries of each, so a busy moment on the machine cannot make a size look slow.
 */
export async function probeMinBatch(sequence: LlamaContextSequence, token: Token, slots: number): Promise<number> {
  if (slots < 2) return 2;
  const largest = Math.min(slots, LARGEST_PROBED);
  // Warm-up: the first decodes of a context allocate its buffers.
  await sequence.evaluateWithoutGeneratingNewTokens([token, token]);
  await sequence.evaluateWithoutGeneratingNewTokens([token]);
  const costs: number[] = [];
  for (let size = 1; size <= largest; size++) {
    // From an empty sequence each time, so the probe fits the smallest slot.
    await sequence.clearHistory();
    let fastest = Infinity;
    for (let attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
      const start = performance.now();
      await sequence.evaluateWithoutGeneratingNewTokens(new Array<Token>(size).fill(token));
      fastest = Math.min(fastest, performance.now() - start);
    }
    costs[size] = fastest;
  }
  await sequence.clearHistory();
  const minBatch = minBatchFrom(costs, largest);
  // Larger batches than the largest probed pay at least as well; none paying means none does.
  return minBatch > largest ? slots + 1 : minBatch;
}

/**
 * The smallest batch size from which every larger one (up to `slots`) costs less than decoding
 * its tokens one by one; `slots + 1` when none does. `costs[n]` is the time of a batch of n tokens.
 */
export function minBatchFrom(costs: readonly number[], slots: number): number {
  const single = costs[1]!;
  let minBatch = slots + 1;
  for (let size = slots; size >= 2; size--) {
    if (!(costs[size]! < size * single * PAYS_BELOW)) break;
    minBatch = size;
  }
  return minBatch;
}

/** Batch sizes probed at most: enough to see the trend, short enough for a quick load. */
const LARGEST_PROBED = 16;
/** Tries of each batch size; the fastest counts. */
const PROBE_ATTEMPTS = 3;
/** A batch must save at least this much against single decodes to be worth a step's wait. */
const PAYS_BELOW = 0.95;
