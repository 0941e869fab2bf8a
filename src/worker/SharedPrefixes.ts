import type { Token } from "node-llama-cpp";
import type { Llama } from "../engine/index.js";
import type { PrefixCache } from "./PrefixCache.js";

/** What {@link SharedPrefixes.fill} left in the slot. */
export interface FilledPrefix {
  /** Tokens of the prefix the slot holds now, all in its KV cache (0: it was left alone). */
  held: number;
  /** Of those, the tokens evaluated here (0 on a hit). */
  evaluated: number;
}

/**
 * Puts a shared prefix into a conversation's empty slot: loaded from the {@link PrefixCache} when
 * it is there, otherwise evaluated alone (after the longest stored prefix of it, if any), stored,
 * and left in the slot. The caller then evaluates only the rest of its prompt.
 *
 * The slot ends up holding the same KV cache either way: a miss evaluates the prefix by itself
 * exactly as the scope that stored it did, so every scope sharing a prefix holds the same bits.
 */
export class SharedPrefixes {
  /** Prefixes being evaluated now, by key: a second scope waits for the first instead of evaluating too. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(readonly cache: PrefixCache) {}

  /**
   * Fills slot `slotId`, which must be empty, with `prefix`. Never rejects: when anything fails
   * the slot may hold part of the prefix, and `held` is 0 so that the prompt replaces it.
   */
  async fill(llama: Llama, slotId: string, prefix: readonly Token[]): Promise<FilledPrefix> {
    const { cache } = this;
    if (!cache.worthCaching(prefix.length)) return { held: 0, evaluated: 0 };
    const key = cache.keyOf(prefix);
    await this.inFlight.get(key)?.catch(() => {});
    // Every engine call binds to the active slot when it is made, and other scopes' calls set
    // theirs while this one awaits: the slot is made active again right before each call.
    const use = (): Llama => (llama.setSlot(slotId), llama);
    try {
      const stored = cache.longestPrefixOf(prefix);
      if (stored !== undefined && stored.tokens.length === prefix.length) {
        await use().loadState(stored.state);
        cache.hit();
        return { held: prefix.length, evaluated: 0 };
      }
      cache.miss();
      const evaluation = (async () => {
        if (stored !== undefined) await use().loadState(stored.state);
        const evaluated = await use().prefill(prefix.slice(stored?.tokens.length ?? 0));
        cache.put(prefix, await use().saveState());
        return evaluated;
      })();
      this.inFlight.set(key, evaluation);
      try {
        return { held: prefix.length, evaluated: await evaluation };
      } finally {
        this.inFlight.delete(key);
      }
    } catch {
      return { held: 0, evaluated: 0 };
    }
  }
}
