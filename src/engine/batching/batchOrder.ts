import diagnostics_channel from "node:diagnostics_channel";
import type { BatchItem, CustomBatchingPrioritizationStrategy, LlamaContext, PrioritizedBatchItem } from "node-llama-cpp";
import { queuedSequenceIds } from "../internals/nodeLlamaCppInternals.js";
import { BATCH_CHANNEL } from "./diagnostics.js";

/**
 * node-llama-cpp's batch strategy for a context whose sequences should share micro-batches:
 * node-llama-cpp's own "maximumParallelism" shares (see {@link parallelShares}), with the items
 * in sequence-id order. llama.cpp's non-unified KV cache splits a batch wherever the ids stop
 * increasing, so lock-stepped slots 0..n-1 in order are decoded in one weight pass.
 *
 * When an item cannot be traced to its sequence (an upgrade of node-llama-cpp changed its
 * internals), the items keep node-llama-cpp's queue order: exactly its default strategy.
 *
 * Fewer than `minBatch()` single tokens (the slots' next tokens, see `batchPays.ts`) are decoded
 * one per batch instead: on some models a small batch costs more than its tokens one by one.
 *
 * `context` is read when a batch is formed (the strategy is passed before the context exists).
 */
export function sequenceOrderStrategy(
  context: () => LlamaContext | undefined,
  minBatch: () => number = () => 2,
): CustomBatchingPrioritizationStrategy {
  return ({ items, size }) => {
    const current = context();
    const ids = current === undefined ? new Map<BatchItem, number>() : queuedSequenceIds(current, items);
    const ordered = ids.size === items.length ? [...items].sort((a, b) => ids.get(a)! - ids.get(b)!) : items;
    // Too few next tokens for a batch to beat single decodes on this model: they take turns, the
    // lowest sequence now (node-llama-cpp decodes what is left right after, in the same dispatch).
    const turns = ordered.length > 1 && ordered.length < minBatch() && ordered.every((item) => item.tokens.length === 1);
    const prioritized = turns ? [{ item: ordered[0]!, processAmount: 1 }] : parallelShares(ordered, size);
    if (batches.hasSubscribers) batches.publish(record(prioritized, ids));
    return prioritized;
  };
}

/**
 * node-llama-cpp 3.22.1's "maximumParallelism" (`maximumParallelismStrategy.js`, MIT), which it
 * does not export: every item gets up to an equal share of `size` tokens, in the order given;
 * items still short get more in up to three passes, then by evaluation priority. Kept identical,
 * quirk included (the extra tokens are not counted against `size`, so they can add up to more;
 * node-llama-cpp then fills the batch in item order), so lock-step changes the order of a batch
 * and nothing else. `test/engine/internals.test.ts` compares the two.
 */
export function parallelShares(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
  let left = size;
  const share = Math.floor(left / items.length);
  const prioritized: PrioritizedBatchItem[] = [];
  const clipped: PrioritizedBatchItem[] = [];
  for (const item of items) {
    const entry = { item, processAmount: Math.min(item.tokens.length, left, share) };
    prioritized.push(entry);
    left -= entry.processAmount;
    if (entry.processAmount < item.tokens.length) clipped.push(entry);
    if (left === 0) break;
  }
  for (let passes = 3; left > 0 && clipped.length > 0 && passes > 0; passes--) {
    const increase = Math.ceil(left / clipped.length);
    for (let i = 0; i < clipped.length; i++) if (grow(clipped[i]!, increase)) clipped.splice(i--, 1);
  }
  clipped.sort((a, b) => b.item.evaluationPriority - a.item.evaluationPriority);
  for (let i = 0; i < clipped.length && left > 0; i++) if (grow(clipped[i]!, Infinity)) clipped.splice(i--, 1);
  return prioritized;

  /** Gives `entry` up to `most` more tokens (within `left`); true when it has all of its tokens now. */
  function grow(entry: PrioritizedBatchItem, most: number): boolean {
    const unprocessed = entry.item.tokens.length - entry.processAmount;
    const increase = Math.min(unprocessed, left, most);
    entry.processAmount += increase;
    return increase === unprocessed;
  }
}

/** One batch as the strategy formed it, as published on {@link BATCH_CHANNEL}, for tests and diagnostics. */
export interface BatchRecord {
  /** The sequence id of each item, in batch order (undefined where it could not be traced). */
  sequenceIds: (number | undefined)[];
  /** Tokens each item puts in this batch. */
  tokens: number[];
  /** `performance.now()` when the batch was formed. */
  at: number;
}

/** Where every sequence-order strategy in this thread publishes the batches it forms. */
const batches = diagnostics_channel.channel(BATCH_CHANNEL);

function record(prioritized: readonly PrioritizedBatchItem[], ids: ReadonlyMap<BatchItem, number>): BatchRecord {
  return {
    sequenceIds: prioritized.map(({ item }) => ids.get(item)),
    tokens: prioritized.map(({ processAmount }) => processAmount),
    at: performance.now(),
  };
}
