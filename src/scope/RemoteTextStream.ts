import type { GenerationResult, TokenLogprob } from "../engine/index.js";
import type { PromptStream } from "./PromptStream.js";
import type { ScopeHost } from "./ScopeHost.js";

/**
 * The caller's side of a streamed reply. Each `next()` with nothing buffered is one `pull` to
 * the worker, which answers with everything decoded since the previous pull: a consumer slower
 * than the model gets fewer, larger chunks instead of a message per token.
 */
export class RemoteTextStream implements PromptStream {
  readonly logprobs: TokenLogprob[] = [];
  private finished = false;
  /** The consumer left the loop: later `next()` calls just say done. */
  private left = false;
  /** Settles once the prompt was sent (it may wait for a slot) or failed before; the first pull waits for it. */
  private unsent: Promise<void> | undefined;

  constructor(
    private readonly host: ScopeHost,
    private readonly requestId: number,
    sent: Promise<void>,
    readonly result: Promise<GenerationResult>,
    /** Stops the generation, or keeps the prompt from being sent if it is still waiting for a slot. */
    private readonly cancel: () => void,
  ) {
    this.unsent = sent;
    result.catch(() => {}); // surfaced by next(); a consumer that left early must not see it unhandled
  }

  async next(): Promise<IteratorResult<string>> {
    if (this.left) return { value: undefined, done: true };
    if (this.unsent !== undefined) {
      await this.unsent;
      this.unsent = undefined;
    }
    while (!this.finished) {
      const batch = await this.host
        .call((api) => api.pull(this.requestId))
        .catch(async (error: unknown) => {
          this.finished = true;
          await this.result; // the request's own error says more than the pull's
          throw error;
        });
      if (batch.done) this.finished = true;
      if (batch.logprobs !== undefined) this.logprobs.push(...batch.logprobs);
      // A stop string can cut the last token's text: its entry comes with no text of its own.
      if (batch.text.length > 0 || batch.logprobs !== undefined) return { value: batch.text, done: false };
    }
    await this.result;
    return { value: undefined, done: true };
  }

  /** Leaving the loop early stops the generation; what was generated stays in the scope. */
  async return(): Promise<IteratorResult<string>> {
    this.left = true;
    if (!this.finished) {
      this.finished = true;
      this.cancel();
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
