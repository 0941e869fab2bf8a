/**
 * The async iterator behind `generateText`: the generation pushes text, the caller pulls it.
 *
 * Text that arrives while the caller is busy is joined into one chunk at the next pull, so a
 * slow consumer costs one step per pull, not one per token. Leaving a `for await` early (break,
 * return, throw) calls `onCancel`, which ends the generation.
 *
 * Each push may carry extras (a reply's log-probabilities): after a `next()` settles,
 * `lastExtras` holds the extras pushed with exactly the text it returned.
 */
export class TextStream<Extra = never> implements AsyncIterableIterator<string> {
  /** The extras of the text the latest `next()` returned. */
  lastExtras: Extra[] = [];
  private chunks: string[] = [];
  private chunkExtras: Extra[] = [];
  private finished = false;
  private failure: { error: unknown } | undefined;
  private waiting: { resolve: (r: IteratorResult<string>) => void; reject: (e: unknown) => void } | undefined;

  constructor(private readonly onCancel: () => void) {}

  push(text: string, extras: readonly Extra[] = []): void {
    if (this.finished) return;
    if (this.waiting === undefined) {
      this.chunks.push(text);
      this.chunkExtras.push(...extras);
    } else {
      this.lastExtras = [...extras];
      this.settle({ value: text, done: false });
    }
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.waiting !== undefined && this.chunks.length === 0) this.settle({ value: undefined, done: true });
  }

  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (this.waiting === undefined) this.failure = { error };
    else {
      const { reject } = this.waiting;
      this.waiting = undefined;
      reject(error);
    }
  }

  next(): Promise<IteratorResult<string>> {
    if (this.chunks.length > 0) {
      const value = this.chunks.join("");
      this.chunks = [];
      this.lastExtras = this.chunkExtras;
      this.chunkExtras = [];
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<string>> {
    if (!this.finished) this.onCancel();
    this.finished = true;
    this.chunks = [];
    this.chunkExtras = [];
    this.failure = undefined;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private settle(result: IteratorResult<string>): void {
    const { resolve } = this.waiting!;
    this.waiting = undefined;
    resolve(result);
  }
}
