import type { BatchItem, CustomBatchingPrioritizationStrategy, LlamaContext, PrioritizedBatchItem } from "node-llama-cpp";
import { queuedSequenceIds } from "./internals/nodeLlamaCppInternals.js";

/**
 * node-llama-cpp's batch strategy for a context whose sequences should share micro-batches:
 * items in sequence-id order (llama.cpp's non-unified KV cache splits a batch wherever the ids
 * stop increasing by one), each given a fair share of the batch as node-llama-cpp's own
 * "maximumParallelism" does, what is left going to the items still short, in order.
 *
 * `context` is read when a batch is formed (the strategy is passed before the context exists).
 */
export function sequenceOrderStrategy(context: () => LlamaContext | undefined): CustomBatchingPrioritizationStrategy {
  return ({ items, size }) => {
    const current = context();
    const ids = current === undefined ? new Map<BatchItem, number>() : queuedSequenceIds(current, items);
    // Items whose id is unknown keep their place after the known ones (a stable sort).
    const ordered = [...items].sort((a, b) => (ids.get(a) ?? Infinity) - (ids.get(b) ?? Infinity));
    return fairShares(ordered, size);
  };
}

/** Every item gets up to an equal share of `size` tokens; what is left goes in order. */
function fairShares(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
  const share = Math.max(1, Math.floor(size / Math.max(1, items.length)));
  let left = size;
  const prioritized: PrioritizedBatchItem[] = [];
  for (const item of items) {
    if (left <= 0) break;
    const processAmount = Math.min(item.tokens.length, share, left);
    prioritized.push({ item, processAmount });
    left -= processAmount;
  }
  for (const entry of prioritized) {
    if (left <= 0) break;
    const more = Math.min(entry.item.tokens.length - entry.processAmount, left);
    entry.processAmount += more;
    left -= more;
  }
  return prioritized;
}
