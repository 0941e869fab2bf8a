import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { ResolvedContextShift, TokenRange } from "../../shared/ContextShift.js";
import { SerialQueue } from "../../shared/SerialQueue.js";
import type { LockStep } from "../batching/StepBarrier.js";

/**
 * What the next generate call appends: text (tokenized then), or exact tokens, optionally after
 * erasing a range of the history (as a context shift does) and cutting what is left back to its
 * first `keep` tokens (a chat turn re-rendered by its template).
 */
export type SlotPrompt = string | { tokens: readonly Token[]; keep: number | undefined; erase: TokenRange | undefined };

/**
 * One conversation's memory: a sequence of the shared context plus the tokens that belong to the
 * conversation but are not in the KV cache yet (the last generated token, a prompt whose
 * generation was cancelled before it started). Work on a slot runs in call order.
 */
export class Slot {
  /** Set by `setPrompt` (text) or `setPromptTokens` (exact tokens); taken by the next generate call. */
  prompt: SlotPrompt | undefined;
  /** Tokens erased by context shifts over the conversation's life (kept in saved states). */
  erasedTokens = 0;
  private pending: Token[] = [];
  private readonly queue = new SerialQueue();
  /** One controller per scheduled task (queued or running): closing the slot aborts them all. */
  private readonly scheduled = new Set<AbortController>();
  /** Stops the task running now, the way a caller's AbortSignal stops a generation. */
  private stopRunning: AbortController | undefined;
  private closedBy: Error | undefined;

  constructor(
    readonly id: string,
    readonly sequence: LlamaContextSequence,
    /** What the slot does when it is full; false: it refuses to overflow. */
    readonly shift: ResolvedContextShift | false,
    /** The context's step barrier as this slot's generations meet it; undefined: free-running. */
    readonly lockstep?: LockStep,
  ) {}

  /** Every token of the conversation, evaluated or not. */
  get tokens(): Token[] {
    return [...this.sequence.contextTokens, ...this.pending];
  }

  /** Tokens of the conversation that the next evaluation must feed in first. */
  get pendingTokens(): readonly Token[] {
    return this.pending;
  }

  set pendingTokens(tokens: readonly Token[]) {
    this.pending = [...tokens];
  }

  /**
   * Runs `task` after every task scheduled on this slot before it. `close` fires when the slot is
   * freed or its `Llama` disposed, with the error the task should end with; `stop` fires when
   * {@link stop} is called while this task runs.
   */
  schedule<T>(task: (signals: { close: AbortSignal; stop: AbortSignal }) => Promise<T>): Promise<T> {
    if (this.closedBy !== undefined) return Promise.reject(this.closedBy);
    const close = new AbortController();
    this.scheduled.add(close);
    return this.queue
      .run(async () => {
        if (this.closedBy !== undefined) throw this.closedBy;
        const stop = (this.stopRunning = new AbortController());
        try {
          return await task({ close: close.signal, stop: stop.signal });
        } finally {
          this.stopRunning = undefined;
        }
      })
      .finally(() => this.scheduled.delete(close));
  }

  /** Whether a task is queued or running on the slot. */
  get busy(): boolean {
    return this.scheduled.size > 0;
  }

  /** Stops the task running now (a generation returns what it has); queued tasks are untouched. */
  stop(): void {
    this.stopRunning?.abort();
  }

  /**
   * Ends running and queued work with `reason` and waits for it to settle: nothing runs on the
   * sequence afterwards, and its owner (the engine's sequence pool) may clear it and lend it again.
   */
  async close(reason: Error): Promise<void> {
    if (this.closedBy !== undefined) return;
    this.closedBy = reason;
    for (const controller of this.scheduled) controller.abort(reason);
    await this.queue.idle();
    this.pending = [];
  }
}
