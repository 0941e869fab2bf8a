import type { LlamaScope } from "../../scope/LlamaScope.js";
import {
  ConversationBusyError,
  DisposedError,
  InvalidArgumentError,
  StateFormatError,
  StateMismatchError,
  StoreConflictError,
  StoreUnavailableError,
} from "../../shared/errors/index.js";
import { LruMap } from "../../shared/LruMap.js";
import type { KvLayout } from "../../state/kvLayout.js";
import { decodeState, type SlotState, type StateIdentity } from "../../state/StateFormat.js";
import { loadConversation, storeConversation, type ConversationRecord } from "../../store/conversationRecord.js";
import { RedisChunkStore } from "../../store/RedisChunkStore.js";
import { RedisRecords } from "../../store/RedisRecords.js";
import { ConversationLease } from "./ConversationLease.js";
import type { ConversationStorePolicy } from "./ConversationStoreOptions.js";
import type { RedisConnection } from "./redisConnection.js";

/** What the store needs of its parent: the loaded model's identity and KV layout, its state key, and new scopes. */
export interface ConversationHost {
  readonly identity: StateIdentity;
  readonly layout: KvLayout;
  /** Tokens a slot holds: a longer conversation cannot be opened here. */
  readonly contextSize: number;
  readonly stateKey: Uint8Array | undefined;
  /** The engine is a thread of this process: states made for it go in shared memory (see `EncodeOptions`). */
  readonly sharedStates: boolean;
  /** `parent.getScope({ state })`, for a state this store made and checked (`decoded` is its content). */
  scopeFrom(state: Uint8Array, decoded: SlotState): LlamaScope;
}

/** What `save` did. */
export interface SavedConversation {
  /** The version the save gave the conversation: give it as `ifVersion` to the next save, or as `unlessVersion` to `open`. */
  version: number;
  /** Bytes of KV chunks written (the chunks the store did not hold yet), seals included. */
  bytesWritten: number;
  /** Tokens in the conversation saved. */
  tokenCount: number;
}

/** What `open` found under a name. */
export interface OpenedConversation {
  version: number;
  /** The conversation as a new scope; undefined when its version is `unlessVersion` (the caller's is current). */
  scope: LlamaScope | undefined;
  /** Tokens whose KV cache came from the store. */
  loadedTokens: number;
  /** Tokens whose chunks were missing or refused: the scope evaluates them again at its first prompt. */
  evaluatedTokens: number;
}

/** How the store is doing, for health checks and metrics. */
export interface ConversationStoreStatus {
  /** Whether Redis is connected now. */
  connected: boolean;
  /** Redis calls that failed or timed out since start. */
  failures: number;
  /** The last failure's message, and when it happened (ms since the epoch). */
  lastFailure?: { message: string; at: number };
  saves: number;
  opens: number;
  /** Saves refused because another writer saved first. */
  conflicts: number;
  bytesWritten: number;
  /** Tokens that `open` could not load and the scopes evaluate again. */
  evaluatedTokens: number;
}

/** Names whose last version and record this store remembers: their next save sends only new chunks. */
const KNOWN_NAMES = 10_000;

/**
 * Conversations saved by name in Redis, for every process that loads the same model with the
 * same store (replicas behind a load balancer): one replica saves a scope after a turn, another
 * opens it and goes on. A conversation is stored as KV chunks under keys of their content (a
 * prefix that conversations share is stored once) and a small record: its chunk list, its tokens
 * and its chat history, under a version that each save raises. See docs/scaling.md.
 */
export class ConversationStore {
  private readonly records: RedisRecords;
  private readonly chunks: RedisChunkStore;
  /** The version and record this store last saw of each name (opened or saved). */
  private readonly known = new LruMap<string, { version: number; record: ConversationRecord | undefined }>();
  private readonly counts = { failures: 0, saves: 0, opens: 0, conflicts: 0, bytesWritten: 0, evaluatedTokens: 0 };
  private lastFailure: { message: string; at: number } | undefined;
  private closed = false;
  private readonly leases = new Set<ConversationLease>();

  constructor(
    private readonly host: ConversationHost,
    private readonly connection: RedisConnection,
    readonly policy: ConversationStorePolicy,
  ) {
    const { prefix, ttlMs } = policy;
    this.records = new RedisRecords(connection.commands, { prefix, ttlMs });
    this.chunks = new RedisChunkStore(connection.commands, { prefix: `${prefix}chunk:`, ttlMs });
  }

  get status(): ConversationStoreStatus {
    return {
      connected: this.connection.ready,
      ...this.counts,
      ...(this.lastFailure === undefined ? {} : { lastFailure: this.lastFailure }),
    };
  }

  /** Keeps a failure the connection reported by itself (a lost connection) as `status.lastFailure`. */
  connectionFailed(error: Error): void {
    this.lastFailure = { message: error.message, at: Date.now() };
  }

  /**
   * Saves the scope's conversation (after the calls already sent to it) under `name`: the KV
   * chunks the store lacks, then the record, which makes the save visible at once. The save is
   * refused when the stored version is not `ifVersion` (default: the version this store last
   * opened or saved of the name, or none).
   * @throws {StoreConflictError} when another writer saved the name meanwhile: nothing was written.
   * @throws {StoreUnavailableError} when Redis failed or did not answer within `timeoutMs`.
   */
  async save(name: string, scope: LlamaScope, options: { ifVersion?: number } = {}): Promise<SavedConversation> {
    this.assertOpen();
    checkName(name);
    const ifVersion = options.ifVersion ?? this.known.peek(name)?.version ?? 0;
    if (!Number.isSafeInteger(ifVersion) || ifVersion < 0)
      throw new InvalidArgumentError(`ifVersion must be a version a save returned (a whole number), or 0 for a name never saved.`);
    const state = decodeState(await scope.saveState(), this.host.stateKey);
    const known = this.known.peek(name);
    const earlier = known?.version === ifVersion ? known.record : undefined;
    // A shifted conversation keeps its lineage while it only grows; another shift starts a new one (see chunkKeys).
    const sameLine =
      earlier !== undefined &&
      state.erasedTokens > 0 &&
      earlier.erasedTokens === state.erasedTokens &&
      earlier.tokens.every((token, i) => state.tokens[i] === token);
    const { record, bytesWritten } = await this.redis(() =>
      storeConversation(state, this.host.layout, this.chunks, {
        chunkTokens: this.policy.chunkTokens,
        stateKey: this.host.stateKey,
        lineage: sameLine ? earlier.lineage : undefined,
        known: earlier === undefined ? undefined : new Set(earlier.chunks),
      }),
    );
    const outcome = await this.redis(() => this.records.write(name, record, ifVersion));
    if (!outcome.written) {
      this.counts.conflicts++;
      throw new StoreConflictError(
        `Conversation ${JSON.stringify(name)} is at version ${outcome.version} in the store, not ${ifVersion}: another writer saved it meanwhile, and nothing was written. ` +
          "Open it again to continue the stored one, or save with ifVersion set to the stored version to replace it.",
        { storedVersion: outcome.version },
      );
    }
    this.known.set(name, { version: outcome.version, record });
    this.known.trim(KNOWN_NAMES);
    this.counts.saves++;
    this.counts.bytesWritten += bytesWritten;
    return { version: outcome.version, bytesWritten, tokenCount: state.tokens.length + state.pending.length };
  }

  /**
   * The conversation saved under `name` as a new scope, or undefined when there is none. With
   * `unlessVersion`, a conversation still at that version is not loaded (`scope` is undefined):
   * the caller's own scope is current. Chunks the store lost or that fail their seal are not
   * loaded: the scope evaluates their tokens again at its first prompt.
   * @throws {StateMismatchError} for a conversation saved with another model or KV cache settings.
   * @throws {StateFormatError} for a record that is not a conversation's (save over it with `ifVersion`).
   * @throws {StoreUnavailableError} when Redis failed or did not answer within `timeoutMs`.
   */
  async open(name: string, options: { unlessVersion?: number } = {}): Promise<OpenedConversation | undefined> {
    this.assertOpen();
    checkName(name);
    const stored = await this.redis(() => this.records.read(name));
    if (stored === undefined) {
      this.known.delete(name);
      return undefined;
    }
    const { version, record } = stored;
    this.known.set(name, { version, record });
    this.known.trim(KNOWN_NAMES);
    if (version === options.unlessVersion) return { version, scope: undefined, loadedTokens: 0, evaluatedTokens: 0 };
    if (record === undefined)
      throw new StateFormatError(
        `The store's record of ${JSON.stringify(name)} (version ${version}) is not a conversation's. Save over it with ifVersion: ${version}.`,
      );
    // Before any chunk is read: the state is made at its whole size as the chunks arrive, and a
    // record (which anyone with access to Redis may write) must not size it past what a slot holds.
    const tokens = record.tokens.length + record.pending.length;
    if (tokens > this.host.contextSize)
      throw new StateMismatchError(
        `Conversation ${JSON.stringify(name)} holds ${tokens} tokens; a slot here holds ${this.host.contextSize}. ` +
          `Open it where contextSize ≥ ${tokens}, or start a new conversation.`,
      );
    const loaded = await this.redis(() =>
      loadConversation(record, this.host.identity, this.host.layout, this.chunks, this.host.stateKey, { shared: this.host.sharedStates }),
    );
    if (loaded === undefined)
      throw new StateMismatchError(
        `Conversation ${JSON.stringify(name)} was saved with another model or other KV cache settings (${record.identity.model.name}); ` +
          "it cannot continue here. Open it where that model is loaded, or start a new conversation.",
      );
    const scope = this.host.scopeFrom(loaded.bytes, loaded.state);
    const evaluatedTokens = loaded.state.pending.length - record.pending.length;
    this.counts.opens++;
    this.counts.evaluatedTokens += evaluatedTokens;
    return { version, scope, loadedTokens: loaded.loadedTokens, evaluatedTokens };
  }

  /**
   * Takes `name`'s lease: while it is held (it renews itself), no other holder gets it, so turns
   * of one conversation on several replicas run one at a time. Waits up to `waitMs` (default 0)
   * for a holder to release it.
   * @throws {ConversationBusyError} when another holder still has it after `waitMs`.
   * @throws {StoreUnavailableError} when Redis failed or did not answer within `timeoutMs`.
   */
  async lease(name: string, options: { waitMs?: number; signal?: AbortSignal } = {}): Promise<ConversationLease> {
    this.assertOpen();
    checkName(name);
    const waitMs = options.waitMs ?? 0;
    if (!(waitMs >= 0)) throw new InvalidArgumentError(`waitMs must be 0 or more, not ${String(waitMs)}.`);
    const deadline = Date.now() + waitMs;
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      const token = await this.redis(() => this.records.acquire(name, this.policy.leaseMs));
      if (token !== undefined) {
        const lease = new ConversationLease(name, token, this.policy.leaseMs, {
          renew: () => this.redis(() => this.records.renew(name, token, this.policy.leaseMs)),
          release: () => this.redis(() => this.records.release(name, token)),
          ended: () => this.leases.delete(lease),
        });
        this.leases.add(lease);
        return lease;
      }
      options.signal?.throwIfAborted();
      if (Date.now() + pause > deadline)
        throw new ConversationBusyError(
          `Conversation ${JSON.stringify(name)} is in use elsewhere (another replica holds its lease, for at most ${this.policy.leaseMs} ms unless renewed). ` +
            "Try again when its turn is over, or wait longer.",
        );
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** Ends the leases held and the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.leases].map((lease) => lease.release()));
    this.connection.close();
  }

  /** Runs a Redis call within `timeoutMs`; any failure becomes a {@link StoreUnavailableError} and is counted. */
  private async redis<T>(call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`The conversation store (Redis) did not answer within ${this.policy.timeoutMs} ms.`)),
        this.policy.timeoutMs,
      );
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (error) {
      if (error instanceof StateFormatError || error instanceof StateMismatchError) throw error;
      this.counts.failures++;
      const message = error instanceof Error ? error.message : String(error);
      this.lastFailure = { message, at: Date.now() };
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(
        `The conversation store (Redis) failed: ${message}. Nothing was lost here; try again once it is back.`,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new DisposedError("The conversation store was closed with its LlamaParent. Create a new one.");
  }
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > 1024)
    throw new InvalidArgumentError("A conversation's name must be a string of 1 to 1,024 characters.");
}
