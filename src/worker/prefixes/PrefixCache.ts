import { createHash } from "node:crypto";
import type { Token } from "node-llama-cpp";
import { LruMap } from "../../shared/LruMap.js";
import { startsWith } from "../../shared/tokenRuns.js";
import type { PrefixCacheStats } from "../../protocol/index.js";

/** One stored prefix: its exact tokens and the engine's saved state of a slot holding just them. */
interface PrefixEntry {
  tokens: readonly Token[];
  state: Uint8Array;
}

type Counts = Pick<PrefixCacheStats, "hits" | "misses" | "copies" | "evictions">;

/**
 * Saved states of prefixes many conversations start with (a chat scope's system prompt, a
 * template conversation), so each is evaluated once per engine. An entry is found by its exact
 * tokens and the engine's state identity (model fingerprint and KV layout; one cache serves one
 * engine, the identity keeps a key from ever meaning another model's cache). Entries over
 * `maxBytes` in total go least recently used first; a state larger than `maxBytes` is not kept.
 */
export class PrefixCache {
  /** By key, least recently used first. */
  private readonly entries = new LruMap<string, PrefixEntry>();
  private heldBytes = 0;
  private readonly counts: Counts = { hits: 0, misses: 0, copies: 0, evictions: 0 };
  private readonly reported: Counts = { hits: 0, misses: 0, copies: 0, evictions: 0 };
  /** Bytes per token of the last state stored: a prefix that could never fit is not evaluated apart. */
  private bytesPerToken: number | undefined;

  constructor(
    readonly maxBytes: number,
    /** The engine's state identity (model fingerprint, KV layout), as text. */
    private readonly identity: string,
  ) {}

  /** Whether a prefix of `length` tokens can be stored, as far as known: a larger state is not saved. */
  worthStoring(length: number): boolean {
    return this.bytesPerToken === undefined || length * this.bytesPerToken <= this.maxBytes;
  }

  /** The key of a prefix: a digest of the identity and the exact tokens. */
  keyOf(tokens: readonly Token[]): string {
    const hash = createHash("sha256").update(this.identity).update("\0");
    hash.update(new Uint8Array(Uint32Array.from(tokens).buffer));
    return hash.digest("base64");
  }

  /** The state stored for exactly `tokens`, now the most recently used; or undefined. */
  get(tokens: readonly Token[]): Uint8Array | undefined {
    const key = this.keyOf(tokens);
    const entry = this.entries.peek(key);
    // The tokens are compared too: a key is a digest, the promise is the exact tokens.
    if (entry === undefined || entry.tokens.length !== tokens.length || !startsWith(entry.tokens, tokens)) return undefined;
    this.entries.get(key); // now the most recently used
    return entry.state;
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
    while (this.heldBytes + state.byteLength > this.maxBytes) {
      const oldest = this.entries.oldest();
      if (oldest === undefined) break;
      this.remove(oldest[0]);
      this.counts.evictions++;
    }
    this.entries.set(key, { tokens: [...tokens], state });
    this.heldBytes += state.byteLength;
  }

  /** Counts a first prompt that loaded its whole shared prefix from the cache. */
  hit(): void {
    this.counts.hits++;
  }

  /** Counts a prefix copied from a resident slot rather than loaded from its stored state. */
  copied(): void {
    this.counts.copies++;
  }

  /** Counts a first prompt whose shared prefix had to be evaluated (maybe after loading a shorter one). */
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
      copies: this.counts.copies - this.reported.copies,
      evictions: this.counts.evictions - this.reported.evictions,
    };
    Object.assign(this.reported, this.counts);
    return { ...delta, bytes: this.heldBytes, entries: this.entries.size };
  }

  private remove(key: string): void {
    const entry = this.entries.peek(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.heldBytes -= entry.state.byteLength;
  }
}
