/**
 * Lock-step decoding for the slots of one context.
 *
 * node-llama-cpp decodes whatever is queued at the instant it dispatches, in queue order, and
 * llama.cpp (with node-llama-cpp's non-unified KV cache) puts only consecutive, increasing
 * sequence ids into one micro-batch. Slots that run free queue their next token at scattered
 * moments and in any order, so a "batch" of N sequences becomes several weight passes. Here each
 * generating slot, after taking a token, waits until the other slots of the step have theirs;
 * then all are released in the same tick, in sequence-id order, and queue their next decode
 * together.
 *
 * Nobody is held back for long: a slot that stops generating leaves the step, a slot that starts
 * joins the step under way, and a slot that does not arrive within {@link STEP_PATIENCE_MS}
 * (busy with a context shift, say) is left for the next step.
 */
export class StepBarrier {
  /** Slots that have their token and wait for the step, by sequence id. */
  private readonly waiting = new Map<number, () => void>();
  /** Slots released together last time that have not arrived again (nor left). */
  private readonly expected = new Set<number>();
  private patience: NodeJS.Timeout | undefined;

  /** Resolves when the slot may queue its next token: once every slot of the step is here. */
  arrive(sequenceId: number): Promise<void> {
    return new Promise<void>((release) => {
      this.waiting.set(sequenceId, release);
      this.expected.delete(sequenceId);
      this.releaseWhenComplete();
    });
  }

  /** The slot stopped generating: the step no longer waits for it. */
  leave(sequenceId: number): void {
    this.expected.delete(sequenceId);
    const release = this.waiting.get(sequenceId);
    this.waiting.delete(sequenceId);
    release?.();
    this.releaseWhenComplete();
  }

  private releaseWhenComplete(): void {
    if (this.waiting.size === 0) return;
    if (this.expected.size === 0) return this.release();
    // Some slot of the step is late: it gets a little while, not the power to stall the others.
    this.patience ??= setTimeout(() => this.release(), STEP_PATIENCE_MS);
  }

  /** Releases every waiting slot, lowest sequence id first, in one tick. */
  private release(): void {
    clearTimeout(this.patience);
    this.patience = undefined;
    this.expected.clear();
    const step = [...this.waiting].sort(([a], [b]) => a - b);
    this.waiting.clear();
    for (const [sequenceId, release] of step) {
      this.expected.add(sequenceId);
      release();
    }
  }
}

/** How long a step waits for a late slot before going on without it. */
export const STEP_PATIENCE_MS = 20;
