/** What a lease does through its store. */
interface LeaseCalls {
  /** Extends the lease; false when it is no longer this holder's. */
  renew(): Promise<boolean>;
  release(): Promise<boolean>;
  /** Called once, when the lease ends (released, or lost). */
  ended(): void;
}

/**
 * One holder's right to run a conversation's turns, from `conversations.lease(name)`: it renews
 * itself every third of its time while held. A lease can be lost: Redis unreachable past its
 * time, or this process paused longer than that. Then another replica may take it, and `lost`
 * says so; the conversation stays safe, for a save after a lost lease is refused unless no one
 * saved meanwhile (the version it continues is the fencing token, see `save`'s `ifVersion`).
 */
export class ConversationLease {
  private timer: NodeJS.Timeout | undefined;
  private lostLease = false;
  private released: Promise<void> | undefined;

  constructor(
    readonly name: string,
    /** Names this holding in Redis; a new one for every lease taken. */
    readonly token: string,
    leaseMs: number,
    private readonly calls: LeaseCalls,
  ) {
    const renew = () => {
      this.calls.renew().then(
        (held) => {
          if (!held) this.lose();
        },
        () => {}, // Redis unreachable now: the next renewal tries again, and the lease runs out if none succeeds
      );
    };
    this.timer = setInterval(renew, Math.max(10, Math.floor(leaseMs / 3)));
    this.timer.unref(); // a lease never keeps the process alive
  }

  /** Whether another holder may have it now: a renewal found it was no longer this one's. */
  get lost(): boolean {
    return this.lostLease;
  }

  /** Gives the lease back (once; later calls return the same promise). Never rejects: a lease Redis cannot be told about runs out by itself. */
  release(): Promise<void> {
    this.released ??= (async () => {
      this.stop();
      if (this.lostLease) return;
      await this.calls.release().catch(() => {});
    })();
    return this.released;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  private lose(): void {
    this.lostLease = true;
    this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.calls.ended();
  }
}
