import { InvalidArgumentError } from "../../shared/errors/index.js";
import { assertKnownKeys } from "../../shared/validate.js";

/**
 * `LlamaLoad({ store })`: a conversation store shared by every process that loads the same model
 * with it (replicas of a service), in Redis. See docs/scaling.md.
 */
export interface ConversationStoreOptions {
  /** The Redis server, as a `redis://` or `rediss://` URL. Needs the `redis` package beside llama-scope. */
  redis: string;
  /** Prepended to every key, so one Redis can hold several deployments apart. Default `"llama-scope:"`. */
  prefix?: string;
  /**
   * How long a conversation and its chunks stay after its last save, in ms (each save renews
   * them). Default one day. Redis's own `maxmemory` with an LRU policy is the byte budget.
   */
  ttlMs?: number;
  /** Tokens per stored KV chunk: a turn writes its new tokens' chunks and rewrites at most one partial chunk. Default 32. */
  chunkTokens?: number;
  /** How long a Redis call may take before it counts as failed, in ms. Default 5,000. */
  timeoutMs?: number;
  /**
   * How long a lease lasts unless renewed (it is renewed every third of it while held), in ms: how
   * long a conversation stays locked after its holder died. Default 10,000.
   */
  leaseMs?: number;
}

export type ConversationStorePolicy = Required<ConversationStoreOptions>;

const DEFAULTS = { prefix: "llama-scope:", ttlMs: 86_400_000, chunkTokens: 32, timeoutMs: 5_000, leaseMs: 10_000 };

/** Checks `store` options, filling in the defaults. */
export function resolveConversationStore(options: unknown): ConversationStorePolicy {
  if (typeof options !== "object" || options === null || Array.isArray(options))
    throw new InvalidArgumentError('store must be an object: { redis: "redis://host:6379" }.');
  assertKnownKeys(options, ["redis", "prefix", "ttlMs", "chunkTokens", "timeoutMs", "leaseMs"], "store option", "store options");
  const given = options as ConversationStoreOptions;
  if (typeof given.redis !== "string" || !/^rediss?:\/\//.test(given.redis))
    throw new InvalidArgumentError('store.redis must be a Redis URL such as "redis://127.0.0.1:6379".');
  const policy = { ...DEFAULTS, ...given } as ConversationStorePolicy;
  if (typeof policy.prefix !== "string") throw new InvalidArgumentError("store.prefix must be a string.");
  const limits: [keyof typeof DEFAULTS, number, number][] = [
    ["ttlMs", 1_000, 2 ** 31],
    ["chunkTokens", 1, 4096],
    ["timeoutMs", 10, 600_000],
    ["leaseMs", 100, 600_000],
  ];
  for (const [name, min, max] of limits) {
    const value = policy[name];
    if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max)
      throw new InvalidArgumentError(`store.${name} must be an integer from ${min} to ${max}, not ${String(value)}.`);
  }
  return policy;
}
