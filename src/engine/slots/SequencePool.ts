import type { LlamaContext, LlamaContextSequence } from "node-llama-cpp";
import { sequenceIdOf } from "../internals/nodeLlamaCppInternals.js";

/** A sequence of the pool and its place in llama.cpp's order. */
export interface PooledSequence {
  readonly sequence: LlamaContextSequence;
  /** The sequence id (its position in the pool if node-llama-cpp's internals cannot be read). */
  readonly order: number;
}

/**
 * Every sequence of the context, taken once at load and lent to slots. A new slot gets the free
 * sequence with the lowest id, so the slots that generate together tend to hold consecutive
 * ids: the only ones llama.cpp decodes in one micro-batch (see `batchOrder.ts`). A sequence
 * that comes back is cleared, not disposed, and is checked to be empty before it is lent again.
 */
export class SequencePool {
  /** Free sequences, lowest order first. */
  private readonly free: PooledSequence[];

  private constructor(
    private readonly context: LlamaContext,
    private readonly all: PooledSequence[],
  ) {
    this.free = [...all];
  }

  /** Takes every sequence of `context` (it must have none out yet). */
  static take(context: LlamaContext): SequencePool {
    const all: PooledSequence[] = [];
    for (let index = 0; index < context.totalSequences; index++) all.push(SequencePool.newSequence(context, index));
    all.sort((a, b) => a.order - b.order);
    return new SequencePool(context, all);
  }

  /** How many sequences are free. */
  get available(): number {
    return this.free.length;
  }

  /** The free sequence with the lowest id, or undefined when all are lent. */
  acquire(): PooledSequence | undefined {
    return this.free.shift();
  }

  /**
   * Runs `work` on a free sequence (for a probe at load), then takes it back cleared; resolves
   * undefined, without running it, when every sequence is lent.
   */
  async borrow<T>(work: (sequence: LlamaContextSequence) => Promise<T>): Promise<T | undefined> {
    const pooled = this.acquire();
    if (pooled === undefined) return undefined;
    try {
      return await work(pooled.sequence);
    } finally {
      await this.release(pooled);
    }
  }

  /**
   * Takes a sequence back once nothing runs on it any more: its history is cleared (tokens, KV
   * cache, node-llama-cpp's checkpoints). A sequence that is not empty afterwards is replaced by
   * a fresh one, so a slot never inherits another conversation.
   */
  async release(pooled: PooledSequence): Promise<void> {
    const index = this.all.indexOf(pooled);
    if (index < 0 || this.free.includes(pooled)) return;
    let returned = pooled;
    try {
      await pooled.sequence.clearHistory();
      if (!isEmpty(pooled.sequence)) throw new Error("the sequence is not empty after clearHistory()");
    } catch {
      // Disposing drops the sequence's KV cells for sure, and hands its id to the next getSequence.
      await pooled.sequence.dispose();
      if (this.context.disposed) return;
      returned = SequencePool.newSequence(this.context, pooled.order);
      this.all[index] = returned;
    }
    const at = this.free.findIndex((other) => other.order > returned.order);
    this.free.splice(at < 0 ? this.free.length : at, 0, returned);
  }

  /** Disposes every sequence, lent or free. */
  async dispose(): Promise<void> {
    this.free.length = 0;
    await Promise.allSettled(this.all.map(({ sequence }) => sequence.dispose()));
  }

  private static newSequence(context: LlamaContext, fallbackOrder: number): PooledSequence {
    // Context shift is the engine's business (generateReply passes its own); this is only
    // node-llama-cpp's default for evaluations that pass none.
    const sequence = context.getSequence({ contextShift: { size: 0 } });
    return { sequence, order: sequenceIdOf(sequence) ?? fallbackOrder };
  }
}

/** No tokens, no KV cells (`stateCellsStartIndex` is -1 on an empty cache), no checkpoints. */
function isEmpty(sequence: LlamaContextSequence): boolean {
  return (
    sequence.contextTokens.length === 0 &&
    sequence.nextTokenIndex === 0 &&
    sequence.stateCellsStartIndex === -1 &&
    sequence.checkpointsMemoryUsage === 0
  );
}
