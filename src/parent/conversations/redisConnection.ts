import { MissingDependencyError } from "../../shared/errors/index.js";
import { isMissingPackage } from "../../shared/missingPackage.js";
import type { RedisChunkClient } from "../../store/RedisChunkStore.js";
import type { RedisRecordClient } from "../../store/RedisRecords.js";

/** What the conversation store uses of a connection: its two rooms' commands, its state and its end. */
export interface RedisConnection {
  commands: RedisChunkClient & RedisRecordClient;
  /** Whether commands can be sent now (connected); while not, they fail at once instead of queueing. */
  readonly ready: boolean;
  close(): void;
}

/**
 * Connects to Redis with the `redis` package, imported only here: it is an optional peer
 * dependency, which library users without a store never install. Resolves at once: the client
 * connects (and reconnects, for as long as it lives) in the background, and commands sent while
 * it is not connected fail at once (`disableOfflineQueue`), so a replica never waits on a Redis
 * that is down. Every error is given to `failed`; none is thrown into the process.
 */
export async function connectRedis(url: string, failed: (error: Error) => void): Promise<RedisConnection> {
  let redis: typeof import("redis");
  try {
    redis = await import("redis");
  } catch (error) {
    if (isMissingPackage(error, "redis"))
      throw new MissingDependencyError(
        "A conversation store needs the redis package, which llama-scope does not install for every user: run `npm install redis` beside llama-scope.",
        { cause: error },
      );
    throw error;
  }
  const client = redis.createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000) },
  });
  client.on("error", (error: Error) => failed(error));
  client.connect().catch(() => {}); // rejects only when closed before it connected: failures went to "error"
  const commands = client.withTypeMapping({ [redis.RESP_TYPES.BLOB_STRING]: Buffer }) as unknown as RedisChunkClient & RedisRecordClient;
  return {
    commands,
    get ready() {
      return client.isReady;
    },
    close: () => client.destroy(),
  };
}
