/**
 * Calls to the worker that have not settled. A Comlink call whose worker died never settles, so
 * every call is raced against `failAll`, which rejects all of them at once (crash, dispose).
 */
export class InFlightCalls {
  private readonly rejecters = new Set<(error: Error) => void>();
  private failure: Error | undefined;

  track<T>(call: () => Promise<T>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.rejecters.add(reject);
      call()
        .then(resolve, reject)
        .finally(() => this.rejecters.delete(reject));
    });
  }

  /** Rejects every call in flight and every later call with `error`; says how many were in flight. */
  failAll(error: Error): number {
    this.failure ??= error;
    const count = this.rejecters.size;
    for (const reject of this.rejecters) reject(error);
    this.rejecters.clear();
    return count;
  }
}
