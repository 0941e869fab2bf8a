import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createClient, RESP_TYPES } from "redis";
import { Llama } from "../../src/index.js";
import { decodeState, encodeState } from "../../src/state/StateFormat.js";
import { loadConversation, storeConversation } from "../../src/store/conversationRecord.js";
import { RedisChunkStore, type RedisChunkClient } from "../../src/store/RedisChunkStore.js";
import { CONVERSATIONS, runTurn, soloReplies, type Conversation } from "../support/conversations.js";
import { startRedisServer, type RedisServer } from "../support/redisServer.js";
import { testLoadOptions } from "../support/testModel.js";

const [alice] = CONVERSATIONS as [Conversation, ...Conversation[]];
let server: RedisServer;
let client: ReturnType<typeof createClient>;
let chunks: RedisChunkClient;

beforeAll(async () => {
  server = await startRedisServer();
  client = createClient({ url: server.url });
  await client.connect();
  // node-redis's own client, reading values as Buffers.
  chunks = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
});
afterAll(async () => {
  client.destroy();
  await server.stop();
});

test("chunks are written once under their prefix with a TTL, renewed when stored again, and read back as bytes", async () => {
  const store = new RedisChunkStore(chunks, { prefix: "t1:", ttlMs: 60_000 });
  const a = Uint8Array.from([1, 2, 3, 0, 255]);
  expect(
    await store.put(
      new Map([
        ["a", a],
        ["b", new Uint8Array(7)],
      ]),
    ),
  ).toBe(12);
  expect(await client.pTTL("t1:a")).toBeGreaterThan(59_000);
  await client.pExpire("t1:a", 5_000);
  expect(await store.put(new Map([["a", a]]))).toBe(0);
  expect(await client.pTTL("t1:a")).toBeGreaterThan(59_000);
  const [got, missing, b] = await store.get(["a", "nothing", "b"]);
  expect(got).toEqual(Buffer.from(a));
  expect(missing).toBeUndefined();
  expect(b?.byteLength).toBe(7);
  expect(await store.get([])).toEqual([]);
  expect(() => new RedisChunkStore(chunks, { ttlMs: 0 })).toThrow(RangeError);
});

test("a read of many chunks, taken a few keys a round trip, gives each in its key's place, and gaps where Redis has none", async () => {
  const store = new RedisChunkStore(chunks, { prefix: "t3:", ttlMs: 60_000 });
  const held = Array.from({ length: 23 }, (_, i) => i).filter((i) => i % 5 !== 3);
  await store.put(new Map(held.map((i) => [`k${i}`, Uint8Array.from([i, i + 1])])));
  const mGets: number[] = [];
  const counting: RedisChunkClient = {
    mGet: (keys) => (mGets.push(keys.length), chunks.mGet(keys)),
    set: (key, value, options) => chunks.set(key, value, options),
    pExpire: (key, ms) => chunks.pExpire(key, ms),
  };
  const got = await new RedisChunkStore(counting, { prefix: "t3:", ttlMs: 60_000 }).get(Array.from({ length: 23 }, (_, i) => `k${i}`));
  expect(got.map((bytes) => (bytes === undefined ? undefined : [...bytes]))).toEqual(
    Array.from({ length: 23 }, (_, i) => (i % 5 === 3 ? undefined : [i, i + 1])),
  );
  expect(mGets.length).toBeGreaterThan(1);
  expect(mGets.reduce((sum, n) => sum + n, 0)).toBe(23);
});

test("a conversation stored in Redis by one engine continues exactly on another", async () => {
  const reference = (await soloReplies([alice])).get(alice.id)!;
  const writer = await Llama.load(testLoadOptions({ slots: 1 }));
  const reader = await Llama.load(testLoadOptions({ slots: 1 }));
  try {
    const store = new RedisChunkStore(chunks, { prefix: "t2:", ttlMs: 60_000 });
    expect(await runTurn(writer, alice, 0)).toBe(reference[0]);
    const { record, bytesWritten } = await storeConversation(decodeState(await writer.saveState()), writer.stateLimits.kv!, store, {
      chunkTokens: 16,
    });
    expect(bytesWritten).toBeGreaterThan(0);
    expect(await client.keys("t2:*")).toHaveLength(record.chunks.length);
    const loaded = await loadConversation(JSON.parse(JSON.stringify(record)), reader.stateIdentity, reader.stateLimits.kv!, store);
    reader.createSlot(alice.id);
    reader.setSlot(alice.id);
    expect(loaded!.refusedChunks).toBe(0);
    await reader.loadState(encodeState(loaded!.state));
    expect(await runTurn(reader, alice, 1)).toBe(reference[1]);
  } finally {
    await writer.dispose();
    await reader.dispose();
  }
});
