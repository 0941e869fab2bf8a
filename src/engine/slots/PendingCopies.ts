import type { LlamaContextSequence } from "node-llama-cpp";
import { completePendingCopy } from "../internals/nodeLlamaCppInternals.js";

/**
 * KV copies llama.cpp has recorded but not made yet (`copyPrefix` leaves out the throwaway decode
 * that would make them at once): it makes them all at the context's next decode. Until then a
 * state saved from the target would hold stale buffers, and a state loaded into either sequence
 * would be overwritten (the target's) or copied instead of the prefix (the source's). So every
 * state save or load, copy and sequence release first {@link settle}s the sequences it touches.
 *
 * The common case costs nothing: the new slot's own next decode (its turn's prompt) makes the
 * copy, and {@link decoded} forgets it.
 */
export class PendingCopies {
  private readonly copies = new Set<{ source: LlamaContextSequence; target: LlamaContextSequence }>();

  add(source: LlamaContextSequence, target: LlamaContextSequence): void {
    this.copies.add({ source, target });
  }

  /** `target` evaluated tokens: the context decoded since its copy was recorded, so it is made. */
  decoded(target: LlamaContextSequence): void {
    for (const copy of this.copies) if (copy.target === target) this.copies.delete(copy);
  }

  /**
   * Makes every recorded copy now when `sequence` is either end of one: a throwaway decode on
   * `sequence`, which must have nothing else running (call it from its slot's queue, or once the
   * slot is closed). Otherwise resolves at once.
   */
  async settle(sequence: LlamaContextSequence): Promise<void> {
    if (![...this.copies].some(({ source, target }) => source === sequence || target === sequence)) return;
    const recorded = [...this.copies];
    await completePendingCopy(sequence);
    // One decode makes every copy recorded before it (not those recorded while it ran).
    for (const copy of recorded) this.copies.delete(copy);
  }
}
