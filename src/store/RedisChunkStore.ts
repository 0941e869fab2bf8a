import type { ChunkStore } from "./ChunkStore.js";

/**
 * What {@link RedisChunkStore} uses of a Redis client: node-redis's `mGet` and `set`, with blob
 * strings read as Buffers (`client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })`). The
 * store takes a client rather than making one, so this room needs no `redis` package of its own:
 * the caller owns the connection, its options and its lifetime.
 */
export interface RedisChunkClient {
  mGet(keys: string[]): Promise<readonly unknown[]>;
  set(key: string, value: Buffer, options: { expiration: { type: "PX"; value: number }; condition: "NX" }): Promise<unknown>;
  pExpire(key: string, ms: number): Promise<unknown>;
}

export interface RedisChunkStoreOptions {
  /** Prepended to every key, so one Redis can hold several deployments' chunks apart. */
  prefix?: string;
  /**
   * How long a chunk stays after it was last stored, in ms: storing it again (a later turn of its
   * conversation, or another conversation that shares it) renews the time. Redis's own `maxmemory`
   * with an LRU policy is the byte budget.
   */
  ttlMs: number;
}

/** Keys a chunk read asks Redis for at once, and such reads under way together (see `get`). */
const GET_BATCH_KEYS = 4;
const GETS_IN_FLIGHT = 2;

/** The shared tier: chunks in Redis under `prefix + key`, each written once (`SET NX PX`), renewed when stored again. */
export class RedisChunkStore implements ChunkStore {
  private readonly prefix: string;
  private readonly ttlMs: number;

  constructor(
    private readonly client: RedisChunkClient,
    options: RedisChunkStoreOptions,
  ) {
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs < 1)
      throw new RangeError(`ttlMs must be a positive integer, not ${options.ttlMs}.`);
    this.prefix = options.prefix ?? "llama-scope:chunk:";
    this.ttlMs = options.ttlMs;
  }

  /**
   * The chunks under `keys`, read a few keys a round trip with two round trips in flight. One
   * `MGET` of a long conversation (tens of MB) made Redis copy the whole reply into fresh memory
   * before sending a byte of it: about 110 ms for 25 MB here, against 40 ms in small batches,
   * whose reply buffers Redis reuses, and whose next batch it prepares while this side reads one
   * (and works on it: `arrived`).
   */
  async get(keys: readonly string[], arrived?: (index: number, bytes: Uint8Array) => void): Promise<(Uint8Array | undefined)[]> {
    const values = new Array<Uint8Array | undefined>(keys.length);
    let next = 0;
    const reader = async () => {
      for (let start = next; start < keys.length; start = next) {
        next = start + GET_BATCH_KEYS;
        const batch = await this.client.mGet(keys.slice(start, next).map((key) => this.prefix + key));
        batch.forEach((value, i) => {
          if (!(value instanceof Uint8Array)) return;
          values[start + i] = value;
          arrived?.(start + i, value);
        });
      }
    };
    await Promise.all(Array.from({ length: GETS_IN_FLIGHT }, reader));
    return values;
  }

  async renew(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.client.pExpire(this.prefix + key, this.ttlMs)));
  }

  async put(chunks: ReadonlyMap<string, Uint8Array>): Promise<number> {
    // Issued together: the client pipelines them in one round trip.
    const written = await Promise.all(
      [...chunks].map(async ([key, bytes]) => {
        const reply = await this.client.set(this.prefix + key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
          expiration: { type: "PX", value: this.ttlMs },
          condition: "NX",
        });
        if (reply === "OK") return bytes.byteLength;
        await this.client.pExpire(this.prefix + key, this.ttlMs); // held already: still in use
        return 0;
      }),
    );
    return written.reduce((sum, bytes) => sum + bytes, 0);
  }
}
