/**
 * Lets the loops run their operations together (shared) and one check run alone (exclusive):
 * a copy whose reply differed from its origin's is replayed with nothing else decoding, because
 * at temperature 0 a sequence decoded in a batch can (rarely) differ from the same decoded alone.
 * An exclusive holder waits for the shared ones under way; shared ones asked for meanwhile wait
 * for it.
 */
export class Gate {
  private shared = 0;
  /** Settles when the exclusive holder (or the last one queued) is done. */
  private exclusiveTail: Promise<void> = Promise.resolve();
  private exclusivePending = 0;
  private sharedDrained: (() => void) | undefined;

  async runShared<T>(use: () => Promise<T>): Promise<T> {
    while (this.exclusivePending > 0) await this.exclusiveTail;
    this.shared++;
    try {
      return await use();
    } finally {
      this.shared--;
      if (this.shared === 0) this.sharedDrained?.();
    }
  }

  runExclusive<T>(use: () => Promise<T>): Promise<T> {
    this.exclusivePending++;
    const run = this.exclusiveTail.then(async () => {
      if (this.shared > 0) await new Promise<void>((resolve) => (this.sharedDrained = resolve));
      this.sharedDrained = undefined;
      return use();
    });
    const done = run.then(
      () => {},
      () => {},
    );
    this.exclusiveTail = done.then(() => void this.exclusivePending--);
    return run;
  }
}
