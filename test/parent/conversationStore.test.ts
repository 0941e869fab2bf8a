import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { createClient } from "redis";
import {
  ConversationBusyError,
  InvalidArgumentError,
  LlamaLoad,
  StateMismatchError,
  StoreConflictError,
  StoreUnavailableError,
  type ConversationStore,
  type LlamaParent,
  type LlamaScope,
} from "../../src/index.js";
import { CONVERSATIONS, soloReplies, TURN_OPTIONS, type Conversation } from "../support/conversations.js";
import { startParent } from "../support/parents.js";
import { startRedisServer, type RedisServer } from "../support/redisServer.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const [alice, bob] = CONVERSATIONS as [Conversation, Conversation, ...Conversation[]];
const CHUNK = 8;
/** A chunk's own bytes beside its cells: its cell count (no seal without a state key). */
const CHUNK_OVERHEAD = 4;

let redis: RedisServer;
let solo: Map<string, string[]>;
/** Two parents of the same model with one store stand for two replicas. */
let a: LlamaParent;
let b: LlamaParent;

function storeOf(parent: LlamaParent): ConversationStore {
  return parent.conversations!;
}

function turn(scope: LlamaScope, conversation: Conversation, index: number): Promise<string> {
  return scope.sendPrompt(conversation.turns[index]!, TURN_OPTIONS);
}

/** Bytes a chunk of `cells` cells takes in the store, from the layout the engine reported. */
function chunkBytes(parent: LlamaParent, cells: number): number {
  const layout = parent.modelInfo!.stateLimits.kv!;
  const keys = layout.keys.reduce((sum, key) => sum + key.rowBytes, 0);
  const values = layout.values.reduce((sum, value) => sum + ("rowBytes" in value ? value.rowBytes : value.rows * value.elementBytes), 0);
  return CHUNK_OVERHEAD + cells * (12 + keys + values);
}

beforeAll(async () => {
  redis = await startRedisServer({ appendonly: true }); // a halted server comes back with what it acknowledged
  solo = await soloReplies([alice, bob]);
  const store = { redis: redis.url, chunkTokens: CHUNK, leaseMs: 300, timeoutMs: 1_000 };
  [a, b] = await Promise.all([startParent({ slots: 2, store }), startParent({ slots: 2, store: { ...store } })]);
});
afterAll(async () => {
  await Promise.all([a?.dispose(), b?.dispose()]);
  await redis?.stop();
});

describe("parent.conversations", () => {
  test("a conversation saved by one parent continues exactly on another, turn after turn; a save writes only its new chunks", async () => {
    const reference = solo.get(alice.id)!;
    const first = a.getScope();
    expect(await turn(first, alice, 0)).toBe(reference[0]);
    const saved = await storeOf(a).save("alice", first);
    const tokens0 = await first.tokenCount();
    expect(saved).toEqual({ version: 1, tokenCount: tokens0, bytesWritten: expect.any(Number) });
    // Every token's KV but the last (pending, not in the cache yet), in ceil(n / CHUNK) chunks.
    const cells0 = tokens0 - 1;
    const chunks0 = Math.ceil(cells0 / CHUNK);
    expect(saved.bytesWritten).toBe(chunkBytes(a, cells0) + (chunks0 - 1) * CHUNK_OVERHEAD);

    const opened = await storeOf(b).open("alice");
    expect(opened).toMatchObject({ version: 1, loadedTokens: cells0, evaluatedTokens: 0 });
    const second = opened!.scope!;
    expect(await turn(second, alice, 1)).toBe(reference[1]);
    const next = await storeOf(b).save("alice", second);
    const cells1 = (await second.tokenCount()) - 1;
    // Written: the chunks from the last partial one of the first save on, rewritten whole.
    const from = Math.floor(cells0 / CHUNK) * CHUNK;
    const written = Math.ceil((cells1 - from) / CHUNK);
    expect(next).toMatchObject({ version: 2, bytesWritten: chunkBytes(b, cells1 - from) + (written - 1) * CHUNK_OVERHEAD });

    // The first parent's scope is behind: version 2 is loaded, and goes on exactly.
    expect(await storeOf(b).open("alice", { unlessVersion: 2 })).toMatchObject({ version: 2, scope: undefined });
    const third = (await storeOf(a).open("alice", { unlessVersion: 1 }))!.scope!;
    expect(await turn(third, alice, 2)).toBe(reference[2]);
    expect(await storeOf(a).open("nobody")).toBeUndefined();
    await Promise.all([first, second, third].map((scope) => scope.dispose()));
  });

  test("a chat scope's history travels with it", async () => {
    const here = a.getScope({ mode: "chat", systemPrompt: "You tell stories." });
    await here.sendPrompt("Tell me about a cat.", { maxTokens: 12, temperature: 0 });
    await storeOf(a).save("chat", here);
    const there = (await storeOf(b).open("chat"))!.scope!;
    expect(there.mode).toBe("chat");
    expect(await there.getChatHistory()).toEqual(await here.getChatHistory());
    const [mine, theirs] = [await here.sendPrompt("And a dog?", TURN_OPTIONS), await there.sendPrompt("And a dog?", TURN_OPTIONS)];
    expect(theirs).toBe(mine);
    await Promise.all([here.dispose(), there.dispose()]);
  });

  test("a save that does not continue the stored version is refused (StoreConflictError), and nothing is written", async () => {
    const scope = a.getScope();
    await turn(scope, bob, 0);
    const { version } = await storeOf(a).save("bob", scope);
    const other = (await storeOf(b).open("bob"))!.scope!;
    await turn(other, bob, 1);
    await storeOf(b).save("bob", other);
    await turn(scope, bob, 1);
    const refused = await storeOf(a)
      .save("bob", scope)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreConflictError);
    expect(refused).toMatchObject({ code: "LLAMA_SCOPE_ERR_STORE_CONFLICT", storedVersion: version + 1 });
    expect((await storeOf(a).open("bob", { unlessVersion: version + 1 }))?.scope).toBeUndefined();
    // Naming the stored version replaces it.
    expect((await storeOf(a).save("bob", scope, { ifVersion: version + 1 })).version).toBe(version + 2);
    expect(storeOf(a).status.conflicts).toBe(1);
    await Promise.all([scope.dispose(), other.dispose()]);
  });

  test("leases: one holder at a time, renewed while held, waited for or refused by name", async () => {
    const held = await storeOf(a).lease("busy");
    await expect(storeOf(b).lease("busy")).rejects.toThrow(ConversationBusyError);
    // Held past three lease times: renewed, so still refused.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(held.lost).toBe(false);
    await expect(storeOf(b).lease("busy", { waitMs: 50 })).rejects.toMatchObject({ code: "LLAMA_SCOPE_ERR_CONVERSATION_BUSY" });
    setTimeout(() => void held.release(), 200);
    const waited = await storeOf(b).lease("busy", { waitMs: 5_000 });
    expect(waited.token).not.toBe(held.token);
    await waited.release();
    await held.release(); // already released: nothing happens
    await (await storeOf(a).lease("busy")).release();
  });

  test("another model's parent refuses the conversation (StateMismatchError); bad options are refused by name", async () => {
    const scope = a.getScope();
    await turn(scope, alice, 0);
    await storeOf(a).save("model", scope);
    await scope.dispose();
    const other = await startParent({ slots: 1, modelPath: otherModelPath(), store: { redis: redis.url, chunkTokens: CHUNK } });
    try {
      await expect(storeOf(other).open("model")).rejects.toThrow(StateMismatchError);
    } finally {
      await other.dispose();
    }
    const options = testLoadOptions({});
    for (const store of [{ redis: "http://x" }, { redis: redis.url, chunkTokens: 0 }, { redis: redis.url, ttl: 5 }, "redis://x"])
      expect(() => new LlamaLoad({ ...options, store: store as never })).toThrow(InvalidArgumentError);
  });

  test("a record longer than a slot is refused (StateMismatchError) before any of its chunks is read", async () => {
    const scope = a.getScope();
    await turn(scope, alice, 0);
    await storeOf(a).save("long", scope);
    await scope.dispose();
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      // The stored record, made to claim far more tokens than a slot holds (and chunks to match).
      const stored = (await client.get("llama-scope:record:long"))!;
      const newline = stored.indexOf("\n");
      const record = JSON.parse(stored.slice(newline + 1)) as { tokens: number[]; pending: number[]; chunks: string[] };
      const slot = a.modelInfo!.stateLimits.contextSize;
      record.tokens = Array.from({ length: 200 * slot }, (_, i) => record.tokens[i % record.tokens.length]!);
      record.chunks = Array.from({ length: Math.ceil(record.tokens.length / CHUNK) }, (_, i) => record.chunks[i % record.chunks.length]!);
      await client.set("llama-scope:record:long", `${stored.slice(0, newline)}\n${JSON.stringify(record)}`);
      await client.configResetStat();
      await expect(storeOf(b).open("long")).rejects.toThrow(
        new RegExp(`holds ${record.tokens.length + record.pending.length} tokens; a slot here holds ${slot}`),
      );
      expect(await client.info("commandstats")).not.toMatch(/cmdstat_mget:/);
    } finally {
      client.destroy();
    }
  });

  test("a record that is not a conversation's is refused, then saved over; Redis down: calls fail by name, the scope goes on", async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.set("llama-scope:record:junk", "7\n{not json");
    client.destroy();
    await expect(storeOf(a).open("junk")).rejects.toMatchObject({ code: "LLAMA_SCOPE_ERR_STATE_FORMAT" });
    const scope = a.getScope();
    await turn(scope, alice, 0);
    expect((await storeOf(a).save("junk", scope)).version).toBe(8);

    await redis.halt();
    try {
      await expect(storeOf(a).save("junk", scope)).rejects.toThrow(StoreUnavailableError);
      await expect(storeOf(a).open("junk")).rejects.toThrow(StoreUnavailableError);
      await expect(storeOf(a).lease("junk")).rejects.toThrow(StoreUnavailableError);
      expect(storeOf(a).status).toMatchObject({ connected: false, lastFailure: { message: expect.any(String) } });
      expect(await turn(scope, alice, 1)).toBe(solo.get(alice.id)![1]);
    } finally {
      await redis.resume();
    }
    // Back: the client reconnects by itself, and the save goes through.
    for (let tries = 0; !storeOf(a).status.connected && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await storeOf(a).save("junk", scope)).version).toBe(9);
    await scope.dispose();
  });
});
