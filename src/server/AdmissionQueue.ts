import { ApiError } from "./ApiError.js";

interface Waiter {
  admit(): void;
}

/**
 * Lets at most `running` requests run at once and `waiting` more wait their turn, first come
 * first served. A request beyond both is refused at once (`refusal()`, a 429), so a burst of
 * requests cannot pile up without bound. The server has one for the slots (a place per running
 * generation) and one per session (its requests run one at a time).
 */
export class AdmissionQueue {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly running: number,
    private readonly waiting: number,
    private readonly refusal: () => ApiError = () =>
      new ApiError(429, `The server is busy: ${running} requests are being answered and ${waiting} are waiting. Retry in a moment.`, {
        code: "queue_full",
      }),
  ) {}

  /** Requests waiting for their turn. */
  get depth(): number {
    return this.waiters.length;
  }

  /** Requests admitted and not yet done. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Resolves with the function that gives the turn back, once the request may run. Rejects with
   * a 429 when the queue is full, or with `signal`'s reason when it aborts while waiting.
   */
  enter(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.active < this.running) return Promise.resolve(this.admitted());
    if (this.waiters.length >= this.waiting) return Promise.reject(this.refusal());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => {
          signal.removeEventListener("abort", leave);
          resolve(this.admitted());
        },
      };
      const leave = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", leave, { once: true });
      this.waiters.push(waiter);
    });
  }

  private admitted(): () => void {
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      // The turn passes straight to the first waiter, so a newcomer cannot jump the queue.
      const next = this.waiters.shift();
      if (next !== undefined) next.admit();
    };
  }
}
