import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { SerialQueue } from "./SerialQueue.js";

/**
 * One conversation's memory: a sequence of the shared context plus the tokens that belong to the
 * conversation but are not in the KV cache yet (the last generated token, a prompt whose
 * generation was cancelled before it started). Work on a slot runs in call order.
 */
export class Slot {
  /** Set by `setPrompt` (text) or `setPromptTokens` (exact tokens); taken by the next generate call. */
  prompt: string | readonly Token[] | undefined;
  private pending: Token[] = [];
  private readonly queue = new SerialQueue();
  private readonly running = new Set<AbortController>();
  private closedBy: Error | undefined;

  constructor(
    readonly id: string,
    readonly sequence: LlamaContextSequence,
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
   * Runs `task` after every task scheduled on this slot before it. The task's signal fires when
   * the slot is freed or its `Llama` disposed, with the error the task should end with.
   */
  schedule<T>(task: (closeSignal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closedBy !== undefined) return Promise.reject(this.closedBy);
    const controller = new AbortController();
    this.running.add(controller);
    return this.queue
      .run(() => {
        if (this.closedBy !== undefined) throw this.closedBy;
        return task(controller.signal);
      })
      .finally(() => this.running.delete(controller));
  }

  /** Ends running and queued work with `reason`, waits for it to settle, and releases the sequence. */
  async close(reason: Error): Promise<void> {
    if (this.closedBy !== undefined) return;
    this.closedBy = reason;
    for (const controller of this.running) controller.abort(reason);
    await this.queue.idle();
    this.pending = [];
    await this.sequence.dispose();
  }
}
