import { createHash } from "node:crypto";
import type { Token } from "node-llama-cpp";
import type { PrefixCacheStats } from "../protocol/index.js";

/** One stored prefix: its exact tokens and the engine's saved state of a slot holding just them. */
export interface PrefixEntry {
  tokens: readonly Token[];
  state: Uint8Array;
}

type Counts = Pick<PrefixCacheStats, "hits" | "misses" | "evictions">;

/**
 * Saved states of prefixes many conversations start with (a chat scope's system prompt, a
 * template conversation), so each is evaluated once per engine. An entry is found by its exact
 * tokens and the engine's state identity (model fingerprint and KV layout; one cache serves one
 * engine, the identity keeps a key from ever meaning another model's cache). Entries over
 * `maxBytes` in total go least recently used first.
 */
export class PrefixCache {
  /** By key, least recently used first (a Map keeps insertion order; a use moves an entry to the end). */
  private readonly entries = new Map<string, PrefixEntry>();
  /** How many entries have each token count: a lookup hashes only prefixes of those lengths. */
  private readonly lengths = new Map<number, number>();
  private heldBytes = 0;
  private readonly counts: Counts = { hits: 0, misses: 0, evictions: 0 };
  private readonly reported: Counts = { hits: 0, misses: 0, evictions: 0 };
  /** Bytes per token of the last state stored: a prefix that could never fit is not evaluated apart. */
  private bytesPerToken: number | undefined;

  constructor(
    readonly maxBytes: number,
    /** Shorter prefixes are not worth a state: loading one costs about as much as evaluating it. */
    readonly minTokens: number,
    /** The engine's state identity (model fingerprint, KV layout), as text. */
    private readonly identity: string,
  ) {}

  /** Whether a prefix of `length` tokens is worth storing: long enough, and small enough as far as known. */
  worthCaching(length: number): boolean {
    return length >= this.minTokens && (this.bytesPerToken === undefined || length * this.bytesPerToken <= this.maxBytes);
  }

  /** The key of a prefix: a digest of the identity and the exact tokens. */
  keyOf(tokens: readonly Token[]): string {
    const hash = createHash("sha256").update(this.identity).update("\0");
    hash.update(new Uint8Array(Uint32Array.from(tokens).buffer));
    return hash.digest("base64");
  }

  /**
   * The longest stored prefix of `tokens` (all of them at most), now the most recently used; or
   * undefined. Tries the stored lengths only, longest first.
   */
  longestPrefixOf(tokens: readonly Token[]): PrefixEntry | undefined {
    const lengths = [...this.lengths.keys()].filter((length) => length <= tokens.length).sort((a, b) => b - a);
    for (const length of lengths) {
      const key = this.keyOf(tokens.slice(0, length));
      const entry = this.entries.get(key);
      // The tokens are compared too: a key is a digest, the promise is the exact tokens.
      if (entry === undefined || !entry.tokens.every((token, i) => token === tokens[i])) continue;
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry;
    }
    return undefined;
  }

  /**
   * Stores the state of a slot holding exactly `tokens`, dropping the least recently used
   * entries until it fits. A state larger than `maxBytes` is not stored.
   */
  put(tokens: readonly Token[], state: Uint8Array): void {
    this.bytesPerToken = state.byteLength / Math.max(1, tokens.length);
    if (state.byteLength > this.maxBytes) return;
    const key = this.keyOf(tokens);
    this.remove(key);
    for (const oldest of this.entries.keys()) {
      if (this.heldBytes + state.byteLength <= this.maxBytes) break;
      this.remove(oldest);
      this.counts.evictions++;
    }
    this.entries.set(key, { tokens: [...tokens], state });
    this.heldBytes += state.byteLength;
    this.lengths.set(tokens.length, (this.lengths.get(tokens.length) ?? 0) + 1);
  }

  /** Counts a first prompt that loaded its whole prefix from the cache. */
  hit(): void {
    this.counts.hits++;
  }

  /** Counts a first prompt whose prefix had to be evaluated. */
  miss(): void {
    this.counts.misses++;
  }

  /** Everything since the cache started; `bytes` and `entries` as they are now. */
  stats(): PrefixCacheStats {
    return { ...this.counts, bytes: this.heldBytes, entries: this.entries.size };
  }

  /** Counts since the previous report (the parent adds them up), `bytes` and `entries` as now. */
  report(): PrefixCacheStats {
    const delta = {
      hits: this.counts.hits - this.reported.hits,
      misses: this.counts.misses - this.reported.misses,
      evictions: this.counts.evictions - this.reported.evictions,
    };
    Object.assign(this.reported, this.counts);
    return { ...delta, bytes: this.heldBytes, entries: this.entries.size };
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.heldBytes -= entry.state.byteLength;
    const count = (this.lengths.get(entry.tokens.length) ?? 1) - 1;
    if (count === 0) this.lengths.delete(entry.tokens.length);
    else this.lengths.set(entry.tokens.length, count);
  }
}
