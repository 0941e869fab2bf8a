import {
  ConversationBusyError,
  StateFormatError,
  StateMismatchError,
  StoreConflictError,
  StoreUnavailableError,
  type ConversationLease,
  type ConversationStore,
  type LlamaScope,
} from "../../index.js";
import { ApiError } from "../ApiError.js";

/**
 * When a turn of a session is written to the conversation store. `"turn"`: before its response
 * ends, so a replica killed at any moment loses no turn whose response completed. `"async"`: just
 * after the response, a turn's latency without the write.
 */
export type Durability = "turn" | "async";

/** What the shared store knows of one session on this replica. */
export interface SharedSessionState {
  readonly id: string;
  scope: LlamaScope | undefined;
  /**
   * The stored version the session's scope continues: after this replica saved it or loaded it.
   * Undefined: none known (a new session, or one whose scope is not the stored one).
   */
  version: number | undefined;
  /** The scope holds turns the store has not got (it was down, or slow): they are written when it is back. */
  dirty: boolean;
}

/** What the sessions' counters say, for `/metrics`. */
export interface SharedSessionCounts {
  /** Sessions brought up to date from the store (another replica's turns, or a session new here). */
  loaded: number;
  saved: number;
  /** Saves that failed because the store was down or slow: the turn is kept here and written later. */
  saveFailures: number;
  /** Saves refused because another replica saved the session meanwhile (its lease was lost). */
  conflicts: number;
  /** Requests refused with 409 because another replica held the session past the wait. */
  busy: number;
  /** Turns that ran without the store (down): on this replica's copy alone. */
  degraded: number;
  /** Tokens evaluated again because their chunks were missing from the store. */
  evaluatedTokens: number;
}

/**
 * Sessions shared by replicas through a conversation store (`parent.conversations`, Redis). Each
 * turn takes the session's lease (a turn on another replica waits for it, up to `leaseWaitMs`,
 * then gets a 409), brings the session up to the stored version (another replica's turns load
 * from the store; a session whose stored version is its own keeps its scope), and saves the
 * session after the reply. The store being down never fails a request: the turn runs on this
 * replica's copy, and the session is written when the store is back.
 */
export class SharedSessions {
  readonly counts: SharedSessionCounts = { loaded: 0, saved: 0, saveFailures: 0, conflicts: 0, busy: 0, degraded: 0, evaluatedTokens: 0 };

  constructor(
    /** `parent.conversations`: there once the model is loaded, before any turn can run. */
    private readonly storeOf: () => ConversationStore | undefined,
    readonly durability: Durability,
    private readonly leaseWaitMs: number,
    private readonly log: (line: string) => void,
  ) {}

  get store(): ConversationStore {
    const store = this.storeOf();
    if (store === undefined) throw new Error("The conversation store is used before the model was loaded.");
    return store;
  }

  /**
   * Starts a turn of `session`: its lease, then its stored version. Resolves with the lease to
   * give to {@link end} (undefined when the store is down).
   * @throws {ApiError} 409 when another replica holds the session past `leaseWaitMs`.
   */
  async begin(session: SharedSessionState, signal: AbortSignal): Promise<ConversationLease | undefined> {
    let lease: ConversationLease;
    try {
      lease = await this.store.lease(session.id, { waitMs: this.leaseWaitMs, signal });
    } catch (error) {
      if (error instanceof ConversationBusyError) {
        this.counts.busy++;
        throw new ApiError(
          409,
          `Session ${JSON.stringify(session.id)} has a turn running on another replica, still after ${this.leaseWaitMs} ms. ` +
            "Send its next message once that reply has come.",
          { code: "session_busy" },
        );
      }
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.degraded(session, error);
      return undefined;
    }
    try {
      await this.catchUp(session);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) {
        await lease.release();
        throw error;
      }
      this.degraded(session, error);
    }
    return lease;
  }

  /** Writes the session's scope to the store (a turn's end); a failure is logged and kept for later, never thrown. */
  async save(session: SharedSessionState): Promise<void> {
    const scope = session.scope;
    if (scope === undefined || scope.disposed) return;
    try {
      const { version } = await this.store.save(session.id, scope);
      session.version = version;
      session.dirty = false;
      this.counts.saved++;
    } catch (error) {
      if (error instanceof StoreConflictError) {
        // Another replica saved a turn meanwhile: the stored conversation wins, and this
        // replica's turn, which its client did get, is not in it. The next turn loads the stored one.
        this.counts.conflicts++;
        session.version = undefined;
        session.dirty = false;
        this.log(
          `session ${JSON.stringify(session.id)}: another replica saved it meanwhile; its last turn here is not in the store (${error.message})`,
        );
        return;
      }
      this.counts.saveFailures++;
      session.dirty = true;
      this.log(
        `session ${JSON.stringify(session.id)}: could not save it to the store; kept here and written when it is back: ${(error as Error).message}`,
      );
    }
  }

  /** Ends a turn: the lease goes back (a held lease also runs out by itself). */
  async end(lease: ConversationLease | undefined): Promise<void> {
    await lease?.release();
  }

  /**
   * Brings the session's scope to the stored version, under its lease: a newer stored version
   * replaces the scope; the session's own version keeps it. A session the store lost (or never
   * had) keeps its scope, and its next save writes it as new.
   */
  private async catchUp(session: SharedSessionState): Promise<void> {
    let opened;
    try {
      opened = await this.store.open(session.id, session.version === undefined ? {} : { unlessVersion: session.version });
    } catch (error) {
      if (!(error instanceof StateMismatchError || error instanceof StateFormatError)) throw error;
      // Another model's conversation, or not one: this session starts anew here, and its save replaces it.
      this.log(`session ${JSON.stringify(session.id)}: its stored conversation cannot continue here, so it starts anew: ${error.message}`);
      await this.replace(session, undefined, undefined);
      return;
    }
    if (opened === undefined) {
      session.version = undefined;
      if (session.scope !== undefined) session.dirty = true;
      return;
    }
    if (opened.scope === undefined) return; // the stored version is this scope's
    this.counts.loaded++;
    this.counts.evaluatedTokens += opened.evaluatedTokens;
    await this.replace(session, opened.scope, opened.version);
  }

  private async replace(session: SharedSessionState, scope: LlamaScope | undefined, version: number | undefined): Promise<void> {
    const old = session.scope;
    session.scope = scope;
    session.version = version;
    session.dirty = false;
    await old?.dispose();
  }

  private degraded(session: SharedSessionState, error: Error): void {
    this.counts.degraded++;
    this.log(`session ${JSON.stringify(session.id)}: the store is unavailable; this turn runs on this replica's copy: ${error.message}`);
  }
}
