/** Runs tasks one after another, in the order they were added. A failed task does not stop the queue. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task added so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
