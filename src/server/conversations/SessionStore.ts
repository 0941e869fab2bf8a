import { LruMap } from "../../shared/LruMap.js";
import { StateFormatError, StateMismatchError, type LlamaParent, type LlamaScope } from "../../index.js";
import { AdmissionQueue } from "../AdmissionQueue.js";
import { ApiError, badRequest } from "../ApiError.js";
import type { StateDirectory } from "./StateDirectory.js";
import type { SharedSessions, SharedSessionState } from "./SharedSessions.js";

/** The longest session id taken (an `X-Session-Id` header). */
export const MAX_SESSION_ID_LENGTH = 256;

/** One session: the scope its requests continue, and its own queue, where its requests wait to run one at a time. */
class Session implements SharedSessionState {
  scope: LlamaScope | undefined;
  /** The stored version its scope continues, with a conversation store (see {@link SharedSessions}). */
  version: number | undefined;
  /** Its scope holds turns the conversation store has not got yet. */
  dirty = false;
  /** Settles when the session's requests so far have (for `persist()`). */
  tail: Promise<unknown> = Promise.resolve();
  /** Whether its file in the state directory has been looked for. */
  looked = false;
  /** Requests of this session not settled yet: a session with none may be evicted (or forked). */
  pending = 0;
  /**
   * Whether this server started the session's scope from a request's messages (not revived from a
   * file, whose past it does not know): only such a scope may be forked for a request without a session.
   */
  ownScope = false;
  /** The key of the conversation its scope holds, while it is indexed (see {@link SessionStore.idleScopeHolding}). */
  contentKey: string | undefined;
  /** Its requests' turns: one runs, `maxQueue` more may wait, the next one is refused. */
  readonly turns: AdmissionQueue;

  constructor(
    readonly id: string,
    maxQueue: number,
    /** An earlier session of this id being written to the state directory: its first request waits for it. */
    readonly ended: Promise<unknown>,
  ) {
    this.turns = new AdmissionQueue(
      1,
      maxQueue,
      () =>
        new ApiError(
          429,
          `Session ${JSON.stringify(id)} has ${maxQueue} requests waiting already (they run one at a time). Wait for their replies before sending more.`,
          {
            code: "session_queue_full",
          },
        ),
    );
  }
}

/** What a request can do with its session while it has its turn. */
export interface SessionTurn {
  readonly id: string;
  /** The session's scope: the one earlier requests left, or revived from the state directory. */
  readonly scope: LlamaScope | undefined;
  /** Makes `scope` the session's, disposing the one it had. */
  replace(scope: LlamaScope): Promise<void>;
  /**
   * Says which conversation the session's scope holds now (its key), after a request was
   * answered: requests without a session that send exactly it may fork the scope while the
   * session is idle. Undefined: none to offer (the scope was shifted).
   */
  holds(key: string | undefined): void;
  /**
   * Writes the session to the conversation store, if there is one and it wants each turn written
   * before its response ends (`durability: "turn"`); else the turn is written after the response.
   * Call it once the reply is complete and before its last byte is sent. Never rejects.
   */
  commit(): Promise<void>;
}

/** Limits of a {@link SessionStore}. */
export interface SessionLimits {
  /** Sessions kept at once; past it the least recently used idle ones end. */
  maxSessions: number;
  /** Requests of one session that may wait for their turn while one of its requests runs. */
  maxSessionQueue: number;
}

/**
 * Maps session ids to scopes. A session's requests run one at a time, in order, so each one sees
 * the conversation its predecessor left; they wait in the session's own bounded queue, so a
 * session with many requests holds one place in the server's admission queue, not one per
 * request. With a state directory, `persist()` writes every session there and a later server
 * revives each one at its first request, lazily.
 */
export class SessionStore {
  /** Least recently used first: eviction takes from the front. */
  private readonly sessions = new LruMap<string, Session>();
  /** Sessions revived from the state directory since start. */
  revived = 0;
  /** Sessions ended to stay within `maxSessions` since start (written to the state directory, if any). */
  evicted = 0;
  /** Sessions being ended, by id: a request for one waits until its file is written, then revives it. */
  private readonly ending = new Map<string, Promise<unknown>>();
  /** Sessions by the key of the conversation their scope holds (see {@link SessionTurn.holds}). */
  private readonly byContent = new Map<string, Session>();

  /** While sessions hold turns the conversation store has not got: writes them once it is back. */
  private catchUpTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly parent: LlamaParent,
    private readonly stateDir: StateDirectory | undefined,
    private readonly log: (line: string) => void,
    private readonly limits: SessionLimits = { maxSessions: Infinity, maxSessionQueue: Infinity },
    /** Sessions shared with other replicas through `parent.conversations`; undefined without a store. */
    readonly shared?: SharedSessions,
  ) {}

  /** Indexes the state directory (and keeps it within its bounds). */
  async open(): Promise<void> {
    if (this.stateDir === undefined) return;
    await this.stateDir.open();
  }

  /** Live sessions, and sessions saved in the state directory that are not live. */
  get counts(): { live: number; stored: number } {
    if (this.stateDir === undefined) return { live: this.sessions.size, stored: 0 };
    let liveWithFile = 0;
    for (const id of this.sessions.keys()) if (this.stateDir.has(id)) liveWithFile++;
    return { live: this.sessions.size, stored: this.stateDir.sessionFiles - liveWithFile };
  }

  /** Requests waiting in sessions' own queues for their session's earlier requests. */
  get waiting(): number {
    let count = 0;
    for (const session of this.sessions.values()) count += session.turns.depth;
    return count;
  }

  /** Checks a client's session id. */
  static checkId(id: unknown, where: string): string {
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_SESSION_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(id))
      throw badRequest(`${where} must be a session id of 1 to ${MAX_SESSION_ID_LENGTH} printable characters.`, null, "invalid_session_id");
    return id;
  }

  /**
   * Runs `use` with session `id` once the session's earlier requests are done. Rejects with a
   * 429 when the session has `maxSessionQueue` requests waiting already, or with `signal`'s
   * reason when it aborts while waiting.
   */
  async use<T>(id: string, signal: AbortSignal, use: (turn: SessionTurn) => Promise<T>): Promise<T> {
    const session = this.sessions.get(id) ?? new Session(id, this.limits.maxSessionQueue, this.ending.get(id) ?? Promise.resolve());
    this.sessions.set(id, session);
    session.pending++;
    this.unindex(session); // its conversation is about to change
    // A new session past the limit makes room now, not after its request.
    void this.evictOverLimit();
    const run = (async () => {
      const release = await session.turns.enter(signal);
      let lease: Awaited<ReturnType<SharedSessions["begin"]>>;
      /** Whether the turn got its lease (or ran without the store), and whether it was written already. */
      let began = false;
      let committed = false;
      try {
        await session.ended;
        await this.lookForFile(session);
        const before = session.scope;
        lease = await this.shared?.begin(session, signal);
        began = true;
        // A scope loaded from the conversation store, like one revived from a file, is no fork source.
        if (session.scope !== before) session.ownScope = false;
        const commit = async () => {
          if (committed || this.shared === undefined) return;
          committed = true;
          await this.shared.save(session);
        };
        return await use({
          id,
          get scope() {
            return session.scope;
          },
          replace: async (scope) => {
            const old = session.scope;
            session.scope = scope;
            session.ownScope = true;
            await old?.dispose();
          },
          holds: (key) => {
            this.unindex(session);
            if (key === undefined || !session.ownScope || session.scope === undefined) return;
            session.contentKey = key;
            this.byContent.set(key, session);
          },
          commit: () => (this.shared?.durability === "turn" ? commit() : Promise.resolve()),
        });
      } finally {
        // A turn not written before its response (durability "async", or a request that failed
        // after its scope changed) is written now, while the session's lease is still held.
        if (this.shared !== undefined && began && !committed && session.scope !== undefined) await this.shared.save(session);
        await this.shared?.end(lease);
        if (session.dirty) this.catchUpLater();
        release();
      }
    })();
    const settled = run.catch(() => {});
    session.tail = Promise.all([session.tail, settled]);
    try {
      return await run;
    } finally {
      session.pending--;
      void this.evictOverLimit();
    }
  }

  /**
   * The scope of an idle session (no request under way or waiting) that holds the conversation
   * `key` names, to fork; undefined when none does.
   */
  idleScopeHolding(key: string): LlamaScope | undefined {
    const session = this.byContent.get(key);
    const scope = session?.scope;
    return session !== undefined && session.pending === 0 && scope !== undefined && !scope.disposed ? scope : undefined;
  }

  private unindex(session: Session): void {
    if (session.contentKey !== undefined && this.byContent.get(session.contentKey) === session) this.byContent.delete(session.contentKey);
    session.contentKey = undefined;
  }

  /**
   * Ends the least recently used idle sessions while there are more than `maxSessions`: each is
   * written to the state directory when there is one (its next request revives it), else its
   * scope is disposed. Sessions with requests under way or waiting are never ended.
   */
  private async evictOverLimit(): Promise<void> {
    while (this.sessions.size > this.limits.maxSessions) {
      const oldest = [...this.sessions.values()].find((session) => session.pending === 0);
      if (oldest === undefined) return;
      this.sessions.delete(oldest.id);
      this.unindex(oldest);
      this.evicted++;
      const ended = this.writeAndDispose(oldest);
      this.ending.set(oldest.id, ended);
      await ended;
      if (this.ending.get(oldest.id) === ended) this.ending.delete(oldest.id);
    }
  }

  /**
   * Writes every session's conversation to the state directory, after the requests already
   * made, and disposes its scope. Resolves with the number of sessions written.
   */
  async persist(): Promise<number> {
    const sessions = [...this.sessions.values()];
    await Promise.all([...sessions.map((session) => session.tail), ...this.ending.values()]);
    this.byContent.clear();
    const written = await Promise.all(sessions.map((session) => this.writeAndDispose(session)));
    this.sessions.clear();
    return written.filter(Boolean).length;
  }

  /** Writes the session's conversation to the state directory (if any), then disposes its scope; true when written. */
  private async writeAndDispose(session: Session): Promise<boolean> {
    const scope = session.scope;
    if (scope === undefined || scope.disposed) return false;
    // Turns the conversation store has not got: one more try, under the session's lease.
    if (session.dirty && this.shared !== undefined) await this.saveUnderLease(session);
    try {
      if (this.stateDir === undefined) return false;
      await this.stateDir.write(session.id, await scope.saveState());
      return true;
    } catch (error) {
      this.log(`could not persist session ${JSON.stringify(session.id)}: ${(error as Error).message}`);
      return false;
    } finally {
      session.scope = undefined;
      await scope.dispose();
    }
  }

  /**
   * Writes sessions holding turns the conversation store has not got, each under its lease,
   * once the store is connected again; checks again every second while any is left.
   */
  private catchUpLater(): void {
    if (this.catchUpTimer !== undefined || this.shared === undefined) return;
    this.catchUpTimer = setTimeout(() => {
      this.catchUpTimer = undefined;
      void this.catchUp();
    }, 1_000);
    this.catchUpTimer.unref(); // never keeps the process alive
  }

  private async catchUp(): Promise<void> {
    const dirty = [...this.sessions.values()].filter((session) => session.dirty);
    if (dirty.length === 0 || this.shared === undefined) return;
    if (this.shared.store.status.connected)
      for (const session of dirty) {
        // Only an idle session: a busy one is written at the end of its turn.
        if (session.pending > 0) continue;
        const release = await session.turns.enter(new AbortController().signal);
        try {
          if (session.dirty) await this.saveUnderLease(session);
        } finally {
          release();
        }
      }
    if ([...this.sessions.values()].some((session) => session.dirty)) this.catchUpLater();
  }

  /** Saves a session that holds unsaved turns, with its lease, bringing it up to the stored version first. */
  private async saveUnderLease(session: Session): Promise<void> {
    const shared = this.shared!;
    const lease = await shared.begin(session, new AbortController().signal).catch(() => undefined);
    try {
      if (lease !== undefined && session.dirty) await shared.save(session);
    } finally {
      await shared.end(lease);
    }
  }

  /** Disposes every session's scope without writing anything. */
  async dispose(): Promise<void> {
    clearTimeout(this.catchUpTimer);
    const scopes = [...this.sessions.values()].map((session) => session.scope);
    this.sessions.clear();
    this.byContent.clear();
    await Promise.all([...scopes.map((scope) => scope?.dispose()), ...this.ending.values()]);
  }

  /**
   * A session's first request revives the conversation stored for it, if there is one. The file
   * stays until a newer save of the session replaces it (or the directory's bounds remove it):
   * a server killed before it could save again still has the session as it was revived.
   */
  private async lookForFile(session: Session): Promise<void> {
    if (session.looked || this.stateDir === undefined) return;
    session.looked = true;
    const state = await this.stateDir.read(session.id);
    if (state === undefined) return;
    try {
      session.scope = this.parent.getScope({ state });
      this.revived++;
    } catch (error) {
      if (!(error instanceof StateFormatError || error instanceof StateMismatchError)) throw error;
      // Another model's state, or a damaged file: kept aside for the operator, and the session starts anew.
      const rejected = await this.stateDir.reject(session.id);
      this.log(`session ${JSON.stringify(session.id)}: its saved state was set aside (${rejected}): ${error.message}`);
    }
  }
}
