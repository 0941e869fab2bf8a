import type { BatchItem, LlamaContext, LlamaContextSequence } from "node-llama-cpp";

/**
 * The only place llama-scope reads node-llama-cpp internals (3.22.1). Everything here is marked
 * `@internal` there and may change in any release: `test/engine.internals.test.ts` checks each
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
  for (const decode of queued as QueuedDecode[])
    if (typeof decode?.sequenceId === "number") byTokens.set(decode.tokens, decode.sequenceId);
  for (const item of items) {
    const id = byTokens.get(item.tokens);
    if (id !== undefined) ids.set(item, id);
  }
  return ids;
}
