import type { LoadProgress } from "../engine/index.js";

/**
 * The engine's load progress, handed to the parent by long-poll (`WorkerApi.loadProgress`), as
 * streamed text is: each poll resolves with the latest progress once it is past what the parent
 * has seen, so a slow parent costs one message per poll, not one per native callback.
 */
export class LoadProgressFeed {
  private latest: LoadProgress | undefined;
  private ended = false;
  private readonly waiting = new Set<{ after: number; resolve: (progress: LoadProgress | null) => void }>();

  push(progress: LoadProgress): void {
    this.latest = progress;
    for (const waiter of this.waiting) {
      if (progress.ratio <= waiter.after) continue;
      this.waiting.delete(waiter);
      waiter.resolve(progress);
    }
  }

  /** The load is over (done, failed or aborted): polls waiting for more resolve with null. */
  end(): void {
    this.ended = true;
    for (const waiter of this.waiting) waiter.resolve(null);
    this.waiting.clear();
  }

  /** The latest progress once its ratio is above `after`; null when the load ended without one. */
  next(after: number): Promise<LoadProgress | null> {
    if (this.latest !== undefined && this.latest.ratio > after) return Promise.resolve(this.latest);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiting.add({ after, resolve }));
  }
}
