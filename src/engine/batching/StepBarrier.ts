import diagnostics_channel from "node:diagnostics_channel";
import { STEP_CHANNEL } from "./diagnostics.js";

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

  /** The barrier as one slot's generation loop sees it. */
  member(sequenceId: number): LockStep {
    return { arrive: () => this.arrive(sequenceId), leave: () => this.leave(sequenceId) };
  }

  /**
   * Resolves when the slot may queue its next token: once every slot of the step is here.
   * Undefined when it may go on at once, being the whole step (a slot generating alone pays no
   * promise per token).
   */
  arrive(sequenceId: number): Promise<void> | undefined {
    this.expected.delete(sequenceId);
    if (this.waiting.size === 0 && this.expected.size === 0) {
      this.stopPatience();
      this.expected.add(sequenceId);
      if (steps.hasSubscribers) steps.publish({ sequenceIds: [sequenceId], late: [], at: performance.now() } satisfies StepRecord);
      return undefined;
    }
    return new Promise<void>((release) => {
      // A slot waits once at a time; a second arrival must not strand the first one's promise.
      this.waiting.get(sequenceId)?.();
      this.waiting.set(sequenceId, release);
      // Checked after the caller has started awaiting: resolved now, this last arrival's
      // continuation would run after the others' instead of in its sequence-id place.
      queueMicrotask(() => this.releaseWhenComplete());
    });
  }

  /** The slot stopped generating: the step no longer waits for it. Safe to call more than once. */
  leave(sequenceId: number): void {
    this.expected.delete(sequenceId);
    const release = this.waiting.get(sequenceId);
    this.waiting.delete(sequenceId);
    release?.();
    this.releaseWhenComplete();
  }

  private releaseWhenComplete(): void {
    if (this.waiting.size === 0) {
      // Nobody left to release: a timer firing later would only forget who is expected.
      this.stopPatience();
      return;
    }
    if (this.expected.size === 0) return this.release();
    // Some slot of the step is late: it gets a little while, not the power to stall the others.
    this.patience ??= setTimeout(() => this.release(), STEP_PATIENCE_MS);
  }

  /** Releases every waiting slot, lowest sequence id first, in one tick. */
  private release(): void {
    this.stopPatience();
    const late = [...this.expected];
    this.expected.clear();
    const step = [...this.waiting].sort(([a], [b]) => a - b);
    this.waiting.clear();
    if (steps.hasSubscribers)
      steps.publish({ sequenceIds: step.map(([sequenceId]) => sequenceId), late, at: performance.now() } satisfies StepRecord);
    for (const [sequenceId, release] of step) {
      this.expected.add(sequenceId);
      release();
    }
  }

  private stopPatience(): void {
    clearTimeout(this.patience);
    this.patience = undefined;
  }
}

/** One slot's side of a {@link StepBarrier}. */
export interface LockStep {
  /** After a token: resolves when the slot may let its next decode be queued (undefined: now). */
  arrive(): Promise<void> | undefined;
  /** On every way out of a generation: the step stops waiting for this slot. */
  leave(): void;
}

/**
 * `tokens` (a sequence's `evaluate` iterator) kept in lock-step: each time the consumer asks for
 * the next token, the slot first arrives at the barrier, so the decode behind that token is
 * queued with the other slots'. Every way out leaves the step first: the consumer breaking out
 * (an ending, an abort, a close) or throwing, the tokens running out, or an error from them.
 * Without a barrier, `tokens` as is. (An iterator object rather than an async generator: fewer
 * promise hops per token.)
 */
export function inLockStep<T>(tokens: AsyncIterable<T>, lockstep: LockStep | undefined): AsyncIterable<T> {
  if (lockstep === undefined) return tokens;
  const iterator = tokens[Symbol.asyncIterator]();
  let started = false;
  const stepped: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => stepped,
    async next() {
      const wait = started ? lockstep.arrive() : undefined;
      started = true;
      if (wait !== undefined) await wait;
      try {
        const result = await iterator.next();
        if (result.done === true) lockstep.leave();
        return result;
      } catch (error) {
        lockstep.leave();
        throw error;
      }
    },
    async return(value?: unknown) {
      lockstep.leave();
      return (await iterator.return?.(value)) ?? { done: true, value: undefined };
    },
  };
  return stepped;
}

/** How long a step waits for a late slot before going on without it. */
export const STEP_PATIENCE_MS = 20;

/** One released step, as published on {@link STEP_CHANNEL}, for tests and diagnostics. */
export interface StepRecord {
  /** The slots released together, in release order. */
  sequenceIds: number[];
  /** Slots the step gave up waiting for (empty unless the patience ran out). */
  late: number[];
  /** `performance.now()` at the release. */
  at: number;
}

/** Where every barrier in this thread publishes the steps it releases. */
const steps = diagnostics_channel.channel(STEP_CHANNEL);
