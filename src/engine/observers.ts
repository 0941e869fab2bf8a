/**
 * Listeners of diagnostic records (steps, batches) for tests and measurements: free when nobody
 * listens, so the hot paths only ask `active` before building a record.
 */
export class Observers<T> {
  private readonly listeners = new Set<(record: T) => void>();

  get active(): boolean {
    return this.listeners.size > 0;
  }

  /** Calls `listener` with every record from now on; returns the function that stops it. */
  add(listener: (record: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(record: T): void {
    for (const listener of this.listeners) listener(record);
  }
}
