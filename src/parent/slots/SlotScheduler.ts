// Over 350 lines as one idea: who holds a slot. The wait queue, the LRU victim and freeze, restore and rebuild share its entries and turns.
import { stateTokenCount } from "../../state/StateFormat.js";
import { SerialQueue } from "../../shared/SerialQueue.js";
import { DisposedError, SlotCapacityError } from "../../shared/errors/index.js";
import type { FrozenStorage, FrozenStore } from "../frozen/FrozenStore.js";

/** What the scheduler asks of the worker; every call is about one scope's slot. */
export interface SlotWorker {
  /** Saves the scope's conversation and frees its slot; null when it has none. */
  freeze(scopeId: string): Promise<Uint8Array | null>;
  /** Gives the scope a slot holding `state`. */
  restore(scopeId: string, state: Uint8Array): Promise<void>;
  /** Gives a scope whose slot died with its engine a slot rebuilt from the parent's copy of its history. */
  rebuild(scopeId: string): Promise<void>;
  /** Ends the scope's work and frees its slot; true if it had one. */
  free(scopeId: string): Promise<boolean>;
}

/**
 * How {@link SlotScheduler.fork} made a fork: copied into a free slot in the worker, registered
 * frozen with the origin's bytes, or (the origin had never held a slot) registered empty.
 */
export type ForkOutcome = { how: "copied" } | { how: "state"; state: Uint8Array } | { how: "empty" };

/** One freeze or restore, as reported by `scopeFrozen` / `scopeRestored`. */
export interface SwapReport {
  /** Size of the frozen conversation. */
  bytes: number;
  /** Milliseconds from the decision to the slot being free (freeze) or usable (restore). */
  ms: number;
  /** Where the bytes were kept. */
  storage: FrozenStorage;
}

export interface SwapListener {
  frozen(scopeId: string, report: SwapReport): void;
  restored(scopeId: string, report: SwapReport): void;
}

/**
 * Where a scope's conversation is. `claiming` and `freezing` are moves in progress; `lost`: its
 * slot died with the engine, and it is rebuilt from the parent's copy at its next call.
 */
type Residency = "none" | "frozen" | "claiming" | "resident" | "freezing" | "lost";

class ScopeEntry {
  residency: Residency = "none";
  /** Calls granted and not yet settled; a busy scope is never frozen. */
  busy = 0;
  lastUsed = 0;
  /** The scope's calls take their turn for a slot in the order they were made. */
  readonly turns = new SerialQueue();
  /** A freeze or claim in progress; never rejects. */
  transition: Promise<void> | undefined;
  disposed = false;

  constructor(readonly id: string) {}
}

interface Waiter {
  entry: ScopeEntry;
  /** Starts the waiting call; runs synchronously at the grant, so nothing can come between. */
  granted(): void;
  failed(error: Error): void;
}

/**
 * Decides which scopes hold the worker's slots. A scope that needs a slot takes a free one, or
 * the slot of the least recently used idle scope, which is frozen into the {@link FrozenStore};
 * a frozen scope is restored when it needs its slot again. When every slot is held by a scope
 * with a call in flight, scopes wait in one FIFO queue.
 *
 * Calls of one scope are started in the order they were made; calls of a scope that holds a slot
 * start at once and are ordered by the engine's slot queue.
 */
export class SlotScheduler {
  private readonly scopes = new Map<string, ScopeEntry>();
  /** Scopes holding a slot or claiming one; never more than `capacity`. */
  private readonly holders = new Set<ScopeEntry>();
  private readonly queue: Waiter[] = [];
  private clock = 0;
  private failure: Error | undefined;
  /** While the engine restarts, nothing is granted or claimed; calls wait in the queue. */
  private paused = false;
  private freezes = 0;
  private restores = 0;

  constructor(
    private readonly capacity: number,
    /** False: a scope beyond the slots fails with SlotCapacityError instead of freezing another. */
    private readonly swapping: boolean,
    private readonly store: FrozenStore,
    private readonly worker: SlotWorker,
    private readonly listener: SwapListener,
  ) {}

  /** The ids of the live scopes. */
  get scopeIds(): string[] {
    return [...this.scopes.keys()];
  }

  /** Registers a scope; with `state`, it starts frozen and is restored at its first call. */
  add(id: string, state?: Uint8Array): void {
    const entry = new ScopeEntry(id);
    if (state !== undefined) {
      this.store.put(id, state);
      entry.residency = "frozen";
    }
    this.scopes.set(id, entry);
  }

  /**
   * Runs `call` once the scope holds a slot, after the scope's earlier calls have started. The
   * scope is not frozen until `call` settles.
   */
  withSlot<T>(id: string, call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = this.entry(id);
      this.inTurn(entry, () => this.admit(entry, this.starter(entry, call, resolve, reject))).catch(reject);
    });
  }

  /**
   * The scope's conversation as bytes, after the calls made before: a frozen scope's are read
   * from the store without touching the worker (so they survive a worker crash); a scope in a
   * slot is saved by `save`.
   */
  saveState(id: string, save: () => Promise<Uint8Array>): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const entry = this.entry(id);
      this.inTurn(entry, async () => {
        while (entry.transition !== undefined) await entry.transition; // a freeze under way: read its result
        if (entry.residency === "frozen") resolve((await this.store.read(id)).slice());
        else await this.admit(entry, this.starter(entry, save, resolve, reject));
      }).catch(reject);
    });
  }

  /**
   * Tokens in the scope's conversation, after the calls made before: a frozen scope's from its
   * bytes' header, a resident scope's from `count` (null if it was frozen meanwhile), a scope
   * waiting to be rebuilt from `lostCount` (the parent's copy of its history).
   */
  tokenCount(id: string, count: () => Promise<number | null>, lostCount: () => number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const entry = this.entry(id);
      this.inTurn(entry, async () => {
        while (entry.transition !== undefined) await entry.transition;
        const counted = entry.residency === "resident" ? await count() : null;
        // TypeScript keeps the narrowing from the loop above across `await count()`; a freeze may have begun since.
        // eslint-disable-next-line @typescript-eslint/await-thenable
        while (entry.transition !== undefined) await entry.transition; // frozen while it asked
        if (counted !== null) resolve(counted);
        else if (entry.residency === "frozen") resolve(stateTokenCount(await this.store.read(id)));
        else resolve(entry.residency === "lost" ? lostCount() : 0);
      }).catch(reject);
    });
  }

  /**
   * Registers scope `forkId` holding a copy of scope `originId`'s conversation as it is after the
   * origin's earlier calls. When the origin holds a slot and another is free with nobody waiting,
   * `copy` copies it in the worker and the fork holds that slot at once (no bytes leave the
   * worker); otherwise the fork starts frozen with the origin's bytes (a frozen origin's from the
   * store, a resident one's from `save`) and is restored at its first call.
   */
  fork(originId: string, forkId: string, worker: { copy: () => Promise<void>; save: () => Promise<Uint8Array> }): Promise<ForkOutcome> {
    return new Promise<ForkOutcome>((resolve, reject) => {
      const origin = this.entry(originId);
      this.inTurn(origin, async () => {
        while (origin.transition !== undefined) await origin.transition;
        if (origin.residency === "none") return (this.add(forkId), resolve({ how: "empty" }));
        if (origin.residency === "frozen") {
          const state = (await this.store.read(originId)).slice();
          return (this.add(forkId, state), resolve({ how: "state", state }));
        }
        if (await this.copyIntoFreeSlot(origin, forkId, worker.copy)) return resolve({ how: "copied" });
        const saved = (state: Uint8Array) => (this.add(forkId, state), resolve({ how: "state", state }));
        await this.admit(
          origin,
          this.starter(origin, () => worker.save(), saved, reject),
        );
      }).catch(reject);
    });
  }

  /**
   * Forgets the scope: fails its waiting calls, ends its work in the worker, frees its slot and
   * deletes its frozen bytes. Resolves true if it held a slot.
   */
  async remove(id: string): Promise<boolean> {
    const entry = this.scopes.get(id);
    if (entry === undefined) return false;
    entry.disposed = true;
    this.scopes.delete(id);
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (this.queue[i]!.entry === entry) this.queue.splice(i, 1)[0]!.failed(disposedError(id));
    while (entry.transition !== undefined) await entry.transition;
    try {
      return await this.worker.free(id);
    } catch {
      return false; // the worker is gone, and its slots with it
    } finally {
      this.holders.delete(entry);
      await this.store.delete(id);
      this.pump();
    }
  }

  /**
   * The engine died and a new one is starting: nothing is granted until {@link resume}. Resolves
   * once every move in progress has settled (their worker calls failed with the engine), then
   * every scope that held a slot is marked to be rebuilt; frozen scopes keep their bytes.
   */
  async engineLost(): Promise<void> {
    this.paused = true;
    for (;;) {
      const moving = [...this.scopes.values()].map((entry) => entry.transition).filter((transition) => transition !== undefined);
      if (moving.length === 0) break;
      await Promise.all(moving);
    }
    for (const entry of this.scopes.values()) if (entry.residency === "resident") entry.residency = "lost";
    this.holders.clear();
  }

  /** A new engine is ready: grant and claim again. */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Fails every waiting call and every later one that needs the worker; frozen bytes stay readable. */
  failAll(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.queue.splice(0)) waiter.failed(error);
  }

  stats(): SchedulerStats {
    let generating = 0;
    let resident = 0;
    for (const entry of this.holders) {
      if (entry.busy > 0) generating++;
      if (entry.residency === "resident") resident++;
    }
    return {
      slots: { total: this.capacity, held: this.holders.size, generating },
      scopes: { total: this.scopes.size, resident, frozen: this.store.count },
      frozenBytes: this.store.bytes,
      queueDepth: this.queue.length,
      freezes: this.freezes,
      restores: this.restores,
    };
  }

  /**
   * Copies a resident origin into a slot that is free now, for a new scope `forkId`; false (and
   * nothing changed) when no slot is free, someone waits for one, or the copy failed.
   */
  private async copyIntoFreeSlot(origin: ScopeEntry, forkId: string, copy: () => Promise<void>): Promise<boolean> {
    const free = this.holders.size < this.capacity && this.queue.length === 0;
    if (origin.residency !== "resident" || origin.disposed || !free || this.paused || this.failure !== undefined) return false;
    const fork = new ScopeEntry(forkId);
    fork.residency = "claiming";
    this.holders.add(fork); // the free slot is the fork's from now on
    origin.busy++; // its slot is being read: never frozen meanwhile
    try {
      await copy();
      fork.residency = "resident";
      fork.lastUsed = ++this.clock;
      this.scopes.set(forkId, fork);
      return true;
    } catch {
      this.holders.delete(fork);
      return false;
    } finally {
      this.release(origin);
    }
  }

  private entry(id: string): ScopeEntry {
    const entry = this.scopes.get(id);
    if (entry === undefined) throw disposedError(id);
    return entry;
  }

  /** Runs `step` after the steps of the scope's earlier calls; the next waits for this one. */
  private inTurn(entry: ScopeEntry, step: () => Promise<void>): Promise<void> {
    return entry.turns.run(step);
  }

  /** Resolves once the scope holds a slot and `start` has run. */
  private admit(entry: ScopeEntry, start: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { entry, granted: () => (start(), resolve()), failed: reject };
      if (entry.disposed) return reject(disposedError(entry.id));
      if (this.failure !== undefined) return reject(this.failure);
      if (entry.residency === "resident" && !this.paused) return this.grant(waiter);
      this.queue.push(waiter);
      this.pump();
    });
  }

  private grant(waiter: Waiter): void {
    const { entry } = waiter;
    if (entry.disposed) return waiter.failed(disposedError(entry.id));
    entry.busy++;
    entry.lastUsed = ++this.clock;
    waiter.granted();
  }

  /** What a granted call runs: the call itself, then the release of the scope's slot. */
  private starter<T>(entry: ScopeEntry, call: () => Promise<T>, resolve: (value: T) => void, reject: (error: unknown) => void): () => void {
    return () => {
      let running: Promise<T>;
      try {
        running = call();
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(
        (value) => (this.release(entry), resolve(value)),
        (error: unknown) => (this.release(entry), reject(error)),
      );
    };
  }

  private release(entry: ScopeEntry): void {
    entry.busy--;
    entry.lastUsed = ++this.clock;
    if (entry.busy === 0) this.pump();
  }

  /** Admits waiting scopes in order while a slot is free or can be freed. */
  private pump(): void {
    if (this.paused) return;
    while (this.queue.length > 0) {
      const waiter = this.queue[0]!;
      if (waiter.entry.transition !== undefined) return; // its own freeze is ending; pumped again after
      let victim: ScopeEntry | undefined;
      if (this.holders.size >= this.capacity) {
        if (!this.swapping) {
          this.queue.shift();
          waiter.failed(
            new SlotCapacityError(
              `All ${this.capacity} slots are held by other scopes and swapping is off: dispose a scope you no longer need, ` +
                `load with more slots, or leave swap on so idle scopes are frozen.`,
            ),
          );
          continue;
        }
        victim = this.leastRecentlyUsedIdle();
        if (victim === undefined) return; // every slot is busy; a release pumps again
      }
      this.queue.shift();
      this.claim(waiter, victim);
    }
  }

  /** Moves the waiter's scope into a slot: the victim's (frozen first) or a free one. */
  private claim(waiter: Waiter, victim: ScopeEntry | undefined): void {
    const { entry } = waiter;
    const previous = entry.residency as "none" | "frozen" | "lost";
    entry.residency = "claiming";
    this.holders.add(entry);
    let freed: Promise<void> = Promise.resolve();
    if (victim !== undefined) {
      victim.residency = "freezing";
      this.holders.delete(victim);
      freed = this.freeze(victim);
      victim.transition = freed
        .catch(() => {})
        .finally(() => {
          victim.transition = undefined;
          this.pump(); // a call of the victim's may be waiting for its freeze to end
        });
    }
    entry.transition = freed
      .then(() => (previous === "frozen" ? this.restore(entry) : previous === "lost" ? this.worker.rebuild(entry.id) : undefined))
      .then(
        () => {
          entry.residency = "resident";
          entry.transition = undefined;
          this.grant(waiter);
        },
        (error: unknown) => {
          entry.residency = previous;
          this.holders.delete(entry);
          entry.transition = undefined;
          waiter.failed(error instanceof Error ? error : new Error(String(error)));
        },
      )
      .finally(() => this.pump());
  }

  private async freeze(victim: ScopeEntry): Promise<void> {
    const started = performance.now();
    let state: Uint8Array | null;
    try {
      state = await this.worker.freeze(victim.id);
    } catch (error) {
      victim.residency = "resident";
      this.holders.add(victim);
      throw error;
    }
    if (state === null) {
      victim.residency = "none";
      return;
    }
    const storage = this.store.put(victim.id, state);
    victim.residency = "frozen";
    this.freezes++;
    this.listener.frozen(victim.id, { bytes: state.byteLength, ms: performance.now() - started, storage });
  }

  private async restore(entry: ScopeEntry): Promise<void> {
    const started = performance.now();
    const storage = this.store.storageOf(entry.id);
    const state = await this.store.read(entry.id);
    await this.worker.restore(entry.id, state);
    void this.store.delete(entry.id);
    this.restores++;
    this.listener.restored(entry.id, { bytes: state.byteLength, ms: performance.now() - started, storage });
  }

  private leastRecentlyUsedIdle(): ScopeEntry | undefined {
    let victim: ScopeEntry | undefined;
    for (const entry of this.holders)
      if (
        entry.residency === "resident" &&
        entry.busy === 0 &&
        !entry.disposed &&
        (victim === undefined || entry.lastUsed < victim.lastUsed)
      )
        victim = entry;
    return victim;
  }
}

/** What {@link SlotScheduler.stats} reports; `LlamaParent.stats()` adds the token count. */
export interface SchedulerStats {
  /** `held`: by a scope or being handed to one; `generating`: held by a scope with a call in flight. */
  slots: { total: number; held: number; generating: number };
  /** `total`: scopes not disposed; `resident`: in a slot; `frozen`: bytes in the parent. */
  scopes: { total: number; resident: number; frozen: number };
  /** Frozen conversations' bytes, in memory and in spill files. */
  frozenBytes: { ram: number; disk: number };
  /** Calls waiting for a slot. */
  queueDepth: number;
  /** Freezes and restores since the parent started. */
  freezes: number;
  restores: number;
}

function disposedError(id: string): DisposedError {
  return new DisposedError(`Scope ${id} was disposed. Get a new one with parent.getScope().`);
}
