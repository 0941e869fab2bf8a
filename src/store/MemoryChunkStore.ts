import { LruMap } from "../shared/LruMap.js";
import type { ChunkStore } from "./ChunkStore.js";

/**
 * The in-process tier: chunks in a Map, least recently used dropped first beyond `maxBytes`. A
 * chunk larger than the whole budget is not kept.
 */
export class MemoryChunkStore implements ChunkStore {
  private readonly chunks = new LruMap<string, Uint8Array>();
  private heldBytes = 0;

  constructor(readonly maxBytes: number) {
    if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be 0 or more, not ${maxBytes}.`);
  }

  /** Bytes of the chunks held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  get size(): number {
    return this.chunks.size;
  }

  get(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return Promise.resolve(keys.map((key) => this.chunks.get(key)));
  }

  renew(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.chunks.get(key); // the most recent now
    return Promise.resolve();
  }

  put(chunks: ReadonlyMap<string, Uint8Array>): Promise<number> {
    let written = 0;
    for (const [key, bytes] of chunks) {
      if (this.chunks.has(key)) {
        this.chunks.get(key); // still in use: the most recent now
        continue;
      }
      if (bytes.byteLength > this.maxBytes) continue;
      this.chunks.set(key, bytes);
      this.heldBytes += bytes.byteLength;
      written += bytes.byteLength;
    }
    for (let oldest = this.chunks.oldest(); this.heldBytes > this.maxBytes && oldest !== undefined; oldest = this.chunks.oldest()) {
      this.chunks.delete(oldest[0]);
      this.heldBytes -= oldest[1].byteLength;
    }
    return Promise.resolve(written);
  }
}
