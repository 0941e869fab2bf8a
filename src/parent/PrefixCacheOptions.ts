import { assertKnownKeys, positiveInteger } from "../shared/validate.js";
import { InvalidArgumentError } from "../shared/errors/index.js";
import type { PrefixCachePolicy } from "../protocol/index.js";

/**
 * The engine's cache of shared prefixes: a chat scope's first prompt loads the KV cache of what
 * other scopes with the same history already evaluated (their system prompt, a template
 * conversation) instead of evaluating it again (see docs/scopes.md).
 */
export interface PrefixCacheOptions {
  /**
   * Bytes of saved prefix states kept in the engine's memory (its worker thread or process); past
   * it the least recently used go. A prefix larger than this is never kept. Default 256 MiB.
   */
  maxBytes?: number;
  /**
   * The shortest prefix, in tokens, worth keeping: a shorter one is evaluated as before. Default 32.
   */
  minTokens?: number;
}

/**
 * 256 MiB, as much as `swap.maxRamBytes` keeps of frozen conversations in memory: two 1,000-token
 * system prompts of an 8B model with grouped keys and values (128 KB of KV per token in f16),
 * twenty on the 125M sized model (12 KB/token), more than an app has on small models. Models with
 * more KV per token (Llama 2 7B: 512 KB) need more.
 */
export const DEFAULT_PREFIX_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * 32 tokens: on the smallest models evaluating fewer costs little more than the cache's own fixed
 * costs, a state saved on a miss and loaded on a hit (stories260K: 32 tokens take 1.9 ms to
 * evaluate, 0.5 ms to load), and so short a prefix (a template's opening, a one-line system
 * prompt) would mostly take entries. On larger models every prefix worth the name is longer.
 */
export const DEFAULT_PREFIX_CACHE_MIN_TOKENS = 32;

const OPTION_NAMES = ["maxBytes", "minTokens"];

/** `undefined` and `{}` mean the defaults; `false` turns the cache off. */
export function resolvePrefixCachePolicy(option: PrefixCacheOptions | false | undefined): PrefixCachePolicy {
  if (option === false) return false;
  if (option === undefined) option = {};
  if (option === null || typeof option !== "object" || Array.isArray(option))
    throw new InvalidArgumentError("prefixCache must be false or an object such as { maxBytes: 64 * 1024 * 1024, minTokens: 32 }.");
  assertKnownKeys(option, OPTION_NAMES, "prefixCache option", "prefixCache options");
  return {
    maxBytes: positiveInteger("prefixCache.maxBytes", option.maxBytes) ?? DEFAULT_PREFIX_CACHE_BYTES,
    minTokens: positiveInteger("prefixCache.minTokens", option.minTokens) ?? DEFAULT_PREFIX_CACHE_MIN_TOKENS,
  };
}
