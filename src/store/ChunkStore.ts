/**
 * Where a conversation store keeps KV chunks: bytes under content keys (`chunkKeys`). A key names
 * its content, so a chunk is written once and never changes; a tier may drop chunks (a byte
 * budget, a TTL), and a reader that misses one re-evaluates from the tokens instead.
 */
export interface ChunkStore {
  /**
   * The chunks under `keys`, in order; undefined for each one the store does not hold. A store
   * that reads them bit by bit may hand each to `arrived` as it comes (its index in `keys`), so
   * the caller works on it while the rest are on their way.
   */
  get(keys: readonly string[], arrived?: (index: number, bytes: Uint8Array) => void): Promise<(Uint8Array | undefined)[]>;
  /** Stores the chunks it does not hold yet; resolves with the bytes it wrote. */
  put(chunks: ReadonlyMap<string, Uint8Array>): Promise<number>;
  /** Keeps chunks it holds as if stored again (renews their TTL, or their place in an LRU), without their bytes. */
  renew(keys: readonly string[]): Promise<void>;
}
