import type { Durability } from "./conversations/SharedSessions.js";
import { InvalidArgumentError } from "../index.js";

/** Options of a {@link LlamaServer}. */
export interface ServerOptions {
  /** When set, `/v1/` requests must send `Authorization: Bearer <apiKey>`; others get a 401. Default: none. */
  apiKey?: string;
  /**
   * An existing directory where `close()` writes every session's conversation, and from which
   * a later server revives each session at its first request. Default: none (sessions end with
   * the server).
   */
  stateDir?: string;
  /** Requests that may wait for a turn while every slot generates; more get a 429. Default 64. */
  maxQueue?: number;
  /**
   * Sessions kept at once. Past it the least recently used idle session ends: written to
   * `stateDir` when there is one (a later request revives it), else disposed. Default 1,000.
   */
  maxSessions?: number;
  /**
   * Scopes kept from answered requests without a session id, for their conversations' next
   * requests (which send the whole conversation again and are then evaluated from their new
   * message only); past it the least recently used is disposed. 0 turns this reuse off: every such
   * request starts a new scope, disposed after it. Default 64.
   */
  maxStatelessScopes?: number;
  /**
   * Requests of one session that may wait while its current request runs (a session's requests
   * run one at a time); more get a 429. Default 8.
   */
  maxSessionQueue?: number;
  /**
   * Messages a chat completion request may have; more get a 413. It bounds the work of reading
   * and rendering a conversation, which is done before anything is generated. Default 256.
   */
  maxMessages?: number;
  /**
   * Files `stateDir` keeps at most (saved sessions and set-aside `.rejected` ones); past it the
   * oldest are removed. Default 1,000.
   */
  maxSavedSessions?: number;
  /** Bytes those files may take together; past it the oldest are removed. Default 4 GiB. */
  maxStateBytes?: number;
  /** The model's id in `/v1/models` and in replies. Default: the model file's name without `.gguf`. */
  modelId?: string;
  /** The largest request body, in bytes; a larger one gets a 413. Default 8 MiB. */
  bodyLimit?: number;
  /** How long `close()` lets requests in flight finish before it stops their generations. Default 10,000 ms. */
  closeGraceMs?: number;
  /** Where the server writes what an operator should know (failures, sessions set aside). Default: stderr. */
  log?: (line: string) => void;
  /**
   * With a conversation store (`LlamaLoad({ store })`): when a session's turn is written there.
   * `"turn"` (default): before its response ends, so a replica killed at any moment loses no
   * turn whose response completed. `"async"`: just after it. See docs/scaling.md.
   */
  durability?: Durability;
  /**
   * With a conversation store: how long a session's request waits while another replica runs a
   * turn of the session, before it gets a 409. Default 30,000 ms.
   */
  sessionLeaseWaitMs?: number;
}

/** {@link ServerOptions} checked, with defaults. */
export interface ResolvedServerOptions {
  apiKey: string | undefined;
  stateDir: string | undefined;
  maxQueue: number;
  maxSessions: number;
  maxStatelessScopes: number;
  maxSessionQueue: number;
  maxMessages: number;
  maxSavedSessions: number;
  maxStateBytes: number;
  modelId: string | undefined;
  bodyLimit: number;
  closeGraceMs: number;
  log: (line: string) => void;
  durability: Durability;
  sessionLeaseWaitMs: number;
}

export const DEFAULT_MAX_QUEUE = 64;
export const DEFAULT_MAX_SESSIONS = 1000;
export const DEFAULT_MAX_STATELESS_SCOPES = 64;
export const DEFAULT_MAX_SESSION_QUEUE = 8;
export const DEFAULT_MAX_MESSAGES = 256;
export const DEFAULT_MAX_SAVED_SESSIONS = 1000;
export const DEFAULT_MAX_STATE_BYTES = 4 * 1024 ** 3;
const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;
const DEFAULT_CLOSE_GRACE_MS = 10_000;
const DEFAULT_SESSION_LEASE_WAIT_MS = 30_000;

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const {
    apiKey,
    stateDir,
    maxQueue = DEFAULT_MAX_QUEUE,
    maxSessions = DEFAULT_MAX_SESSIONS,
    maxStatelessScopes = DEFAULT_MAX_STATELESS_SCOPES,
    maxSessionQueue = DEFAULT_MAX_SESSION_QUEUE,
    maxMessages = DEFAULT_MAX_MESSAGES,
    maxSavedSessions = DEFAULT_MAX_SAVED_SESSIONS,
    maxStateBytes = DEFAULT_MAX_STATE_BYTES,
    modelId,
    bodyLimit = DEFAULT_BODY_LIMIT,
    closeGraceMs = DEFAULT_CLOSE_GRACE_MS,
    log,
    durability = "turn",
    sessionLeaseWaitMs = DEFAULT_SESSION_LEASE_WAIT_MS,
  } = options;
  if (apiKey !== undefined && (typeof apiKey !== "string" || apiKey.length === 0))
    throw new InvalidArgumentError("apiKey must be a non-empty string, or left out to accept every client.");
  if (stateDir !== undefined && (typeof stateDir !== "string" || stateDir.length === 0))
    throw new InvalidArgumentError("stateDir must be the path of a directory.");
  if (!Number.isSafeInteger(maxQueue) || maxQueue < 0)
    throw new InvalidArgumentError(`maxQueue must be a whole number of at least 0, not ${String(maxQueue)}.`);
  if (!Number.isSafeInteger(maxSessions) || maxSessions < 1)
    throw new InvalidArgumentError(`maxSessions must be a whole number of at least 1, not ${String(maxSessions)}.`);
  if (!Number.isSafeInteger(maxStatelessScopes) || maxStatelessScopes < 0)
    throw new InvalidArgumentError(`maxStatelessScopes must be a whole number of at least 0, not ${String(maxStatelessScopes)}.`);
  if (!Number.isSafeInteger(maxSessionQueue) || maxSessionQueue < 0)
    throw new InvalidArgumentError(`maxSessionQueue must be a whole number of at least 0, not ${String(maxSessionQueue)}.`);
  if (!Number.isSafeInteger(maxMessages) || maxMessages < 1)
    throw new InvalidArgumentError(`maxMessages must be a whole number of at least 1, not ${String(maxMessages)}.`);
  if (!Number.isSafeInteger(maxSavedSessions) || maxSavedSessions < 1)
    throw new InvalidArgumentError(`maxSavedSessions must be a whole number of at least 1, not ${String(maxSavedSessions)}.`);
  if (!Number.isSafeInteger(maxStateBytes) || maxStateBytes < 1)
    throw new InvalidArgumentError(`maxStateBytes must be a whole number of bytes, at least 1, not ${String(maxStateBytes)}.`);
  if (modelId !== undefined && (typeof modelId !== "string" || modelId.length === 0))
    throw new InvalidArgumentError("modelId must be a non-empty string.");
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1024)
    throw new InvalidArgumentError(`bodyLimit must be a whole number of bytes, at least 1024, not ${String(bodyLimit)}.`);
  if (typeof closeGraceMs !== "number" || !(closeGraceMs >= 0))
    throw new InvalidArgumentError(`closeGraceMs must be a number of milliseconds (0 or more), not ${String(closeGraceMs)}.`);
  if (durability !== "turn" && durability !== "async")
    throw new InvalidArgumentError(`durability must be "turn" or "async", not ${JSON.stringify(durability)}.`);
  if (!Number.isSafeInteger(sessionLeaseWaitMs) || sessionLeaseWaitMs < 0)
    throw new InvalidArgumentError(
      `sessionLeaseWaitMs must be a whole number of milliseconds (0 or more), not ${String(sessionLeaseWaitMs)}.`,
    );
  return {
    apiKey,
    stateDir,
    maxQueue,
    maxSessions,
    maxStatelessScopes,
    maxSessionQueue,
    maxMessages,
    maxSavedSessions,
    maxStateBytes,
    modelId,
    bodyLimit,
    closeGraceMs,
    log: log ?? ((line) => process.stderr.write(`llama-scope: ${line}\n`)),
    durability,
    sessionLeaseWaitMs,
  };
}
