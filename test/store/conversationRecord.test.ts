import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Llama } from "../../src/index.js";
import type { Token } from "../../src/shared/Token.js";
import { decodeState, encodeState, type SlotState } from "../../src/state/StateFormat.js";
import { MemoryChunkStore } from "../../src/store/MemoryChunkStore.js";
import { loadConversation, storeConversation, type ConversationRecord } from "../../src/store/conversationRecord.js";
import { CONVERSATIONS, runTurn, soloReplies, type Conversation } from "../support/conversations.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const [alice] = CONVERSATIONS as [Conversation, ...Conversation[]];
const SHARED = "Once upon a time, there was a little girl named Lily. She loved to play";
const CHUNK = 8;

let reference: string[];
/** Two engines of the same model stand for two replicas; the chunks travel through a store. */
let writer: Llama;
let reader: Llama;

beforeAll(async () => {
  reference = (await soloReplies([alice])).get(alice.id)!;
  writer = await Llama.load(testLoadOptions({ slots: 2 }));
  reader = await Llama.load(testLoadOptions({ slots: 2 }));
});
afterAll(async () => {
  await writer.dispose();
  await reader.dispose();
});

async function stateOf(llama: Llama): Promise<SlotState> {
  return decodeState(await llama.saveState());
}

/** The record as it comes back from a store that keeps it as JSON. */
function viaJson(record: ConversationRecord): ConversationRecord {
  return JSON.parse(JSON.stringify(record)) as ConversationRecord;
}

async function prompted(llama: Llama, id: string, prompt: string): Promise<SlotState> {
  llama.createSlot(id);
  llama.setSlot(id);
  llama.setPrompt(prompt);
  await llama.generate({ maxTokens: 8, temperature: 0 });
  const state = await stateOf(llama);
  await llama.freeSlot(id);
  return state;
}

describe("storeConversation / loadConversation", () => {
  test("a conversation stored as chunks by one engine loads on another and continues exactly, turn after turn", async () => {
    const store = new MemoryChunkStore(1 << 30);
    expect(await runTurn(writer, alice, 0)).toBe(reference[0]);
    const first = await stateOf(writer);
    const stored = await storeConversation(first, writer.stateLimits.kv!, store, { chunkTokens: CHUNK });
    const chunks = Math.ceil(first.tokens.length / CHUNK);
    expect(stored.record.chunks).toHaveLength(chunks);
    // The section's rows and cells, less its headers (the token list, stream and cell counts,
    // v_trans and the layer count, each layer's type and size), plus each chunk's count and seal.
    const layout = writer.stateLimits.kv!;
    const headers = 12 + 4 * first.tokens.length + 8 + 8 + 12 * (layout.keys.length + layout.values.length);
    // Without a state key a chunk has no seal: its key, a hash of its bytes, checks it.
    expect(stored.bytesWritten).toBe(first.kv.byteLength - headers + chunks * 4);

    const loaded = await loadConversation(viaJson(stored.record), reader.stateIdentity, reader.stateLimits.kv!, store);
    expect(loaded).toBeDefined();
    reader.createSlot(alice.id);
    reader.setSlot(alice.id);
    expect(loaded!.loadedTokens).toBe(first.tokens.length);
    await reader.loadState(encodeState(loaded!.state));
    expect(await runTurn(reader, alice, 1)).toBe(reference[1]);

    // The next turn, stored from the reader, writes only the chunks from the last partial one on.
    const second = await stateOf(reader);
    const next = await storeConversation(second, reader.stateLimits.kv!, store, { chunkTokens: CHUNK });
    const kept = Math.floor(first.tokens.length / CHUNK);
    expect(next.record.chunks.slice(0, kept)).toEqual(stored.record.chunks.slice(0, kept));
    expect(store.size).toBe(chunks + next.record.chunks.length - kept);
    const again = await loadConversation(viaJson(next.record), writer.stateIdentity, writer.stateLimits.kv!, store);
    await writer.freeSlot(alice.id);
    writer.createSlot(alice.id);
    writer.setSlot(alice.id);
    await writer.loadState(encodeState(again!.state));
    expect(await runTurn(writer, alice, 2)).toBe(reference[2]);
    await writer.freeSlot(alice.id);
    await reader.freeSlot(alice.id);
  });

  test("a second conversation with the same prompt writes only what it does not share", async () => {
    const store = new MemoryChunkStore(1 << 30);
    const layout = writer.stateLimits.kv!;
    const home = await prompted(writer, "home", `${SHARED} with her ball in the park.`);
    const dog = await prompted(writer, "dog", `${SHARED} outside, and one day she saw a dog.`);
    let shared = 0;
    while (home.tokens[shared] === dog.tokens[shared]) shared++;
    const whole = Math.floor(shared / CHUNK);
    expect(whole).toBeGreaterThanOrEqual(2);
    await storeConversation(home, layout, store, { chunkTokens: CHUNK });
    const alone = await storeConversation(dog, layout, new MemoryChunkStore(1 << 30), { chunkTokens: CHUNK });
    const beside = await storeConversation(dog, layout, store, { chunkTokens: CHUNK });
    const sharedBytes = (await store.get(beside.record.chunks.slice(0, whole))).reduce((sum, chunk) => sum + chunk!.byteLength, 0);
    expect(sharedBytes).toBeGreaterThan(0);
    expect(beside.bytesWritten).toBe(alone.bytesWritten - sharedBytes);
    expect(await storeConversation(dog, layout, store, { chunkTokens: CHUNK })).toMatchObject({ bytesWritten: 0 });
  });

  test("refused: another model's record (undefined); a changed or missing chunk, or another state key, ends the loaded prefix there", async () => {
    const layout = writer.stateLimits.kv!;
    const state = await prompted(writer, "x", SHARED);
    const key = new TextEncoder().encode("the app's state key");
    const store = new MemoryChunkStore(1 << 30);
    const { record } = await storeConversation(state, layout, store, { chunkTokens: CHUNK, stateKey: key });
    const chunks = record.chunks.length;
    expect(chunks).toBeGreaterThanOrEqual(3);
    const load = (r: ConversationRecord, s = store, k: { stateKey: Uint8Array | undefined } = { stateKey: key }) =>
      loadConversation(r, reader.stateIdentity, layout, s, k.stateKey);
    const nothing = { loadedTokens: 0, refusedChunks: chunks };
    expect(await load(record)).toMatchObject({ loadedTokens: state.tokens.length, refusedChunks: 0 });
    expect(await load(record, store, { stateKey: new TextEncoder().encode("another key") })).toMatchObject(nothing);
    expect(await load(record, store, { stateKey: undefined })).toMatchObject(nothing);
    expect(await load(record, new MemoryChunkStore(1 << 30))).toMatchObject(nothing);
    // Whatever was refused, the state holds every token: those past the prefix as pending.
    const empty = (await load(record, new MemoryChunkStore(1 << 30)))!.state;
    expect([...empty.tokens, ...empty.pending]).toEqual([...state.tokens, ...state.pending]);

    // One bit changed in the second chunk: the first one loads.
    const all = await store.get(record.chunks);
    const flipped = Uint8Array.from(all[1]!);
    flipped[100]! ^= 1;
    const changed = new MemoryChunkStore(1 << 30);
    await changed.put(new Map(record.chunks.map((k, i) => [k, i === 1 ? flipped : all[i]!])));
    const partial = await load(record, changed);
    expect(partial).toMatchObject({ loadedTokens: CHUNK, refusedChunks: chunks - 1 });
    expect(partial!.state.tokens).toEqual(state.tokens.slice(0, CHUNK));
    expect(partial!.state.pending).toEqual([...state.tokens.slice(CHUNK), ...state.pending]);

    // A record whose last token is not its chunk's: the chunks before it load.
    expect(await load({ ...record, tokens: [...record.tokens.slice(0, -1), 7 as Token] })).toMatchObject({
      loadedTokens: (chunks - 1) * CHUNK,
      refusedChunks: 1,
    });
    // A shifted conversation gets a lineage of its own: its keys match no unshifted prefix.
    const shifted = await storeConversation({ ...state, erasedTokens: 51 }, layout, store, { chunkTokens: CHUNK, stateKey: key });
    expect(shifted.record.lineage).not.toBe("");
    expect(shifted.record.chunks.some((k) => record.chunks.includes(k))).toBe(false);

    const other = await Llama.load(testLoadOptions({ slots: 1, modelPath: otherModelPath() }));
    try {
      expect(await loadConversation(record, other.stateIdentity, other.stateLimits.kv!, store, key)).toBeUndefined();
    } finally {
      await other.dispose();
    }
  });

  test("a conversation whose chunks are missing past its first ones continues exactly: the rest is evaluated again", async () => {
    const store = new MemoryChunkStore(1 << 30);
    const layout = writer.stateLimits.kv!;
    expect(await runTurn(writer, alice, 0)).toBe(reference[0]);
    const { record } = await storeConversation(await stateOf(writer), layout, store, { chunkTokens: CHUNK });
    await writer.freeSlot(alice.id);
    const kept = new MemoryChunkStore(1 << 30);
    const firstTwo = record.chunks.slice(0, 2);
    const bytes = await store.get(firstTwo);
    await kept.put(new Map(firstTwo.map((k, i) => [k, bytes[i]!])));
    const loaded = await loadConversation(viaJson(record), reader.stateIdentity, layout, kept);
    expect(loaded).toMatchObject({ loadedTokens: 2 * CHUNK, refusedChunks: record.chunks.length - 2 });
    reader.createSlot(alice.id);
    reader.setSlot(alice.id);
    await reader.loadState(encodeState(loaded!.state));
    expect(await runTurn(reader, alice, 1)).toBe(reference[1]);
    await reader.freeSlot(alice.id);
  });

  test("a shifted conversation, its cells out of position order, loads in its own order and continues exactly", async () => {
    const load = () => Llama.load(testLoadOptions({ slots: 1, contextSize: 256 }));
    const [shifting, other] = await Promise.all([load(), load()]);
    try {
      const prompt = " Once upon a time there was a girl named Lily and a dog. She liked to play in the park with her ball.";
      shifting.createSlot("s");
      shifting.setSlot("s");
      for (let turn = 0; turn < 6; turn++) {
        shifting.setPrompt(prompt);
        await shifting.generateCompleteText({ maxTokens: 40, temperature: 0 });
      }
      const state = await stateOf(shifting);
      expect(state.erasedTokens).toBeGreaterThan(0);
      const layout = shifting.stateLimits.kv!;
      const store = new MemoryChunkStore(1 << 30);
      const { record } = await storeConversation(state, layout, store, { chunkTokens: CHUNK });
      expect(record.cellOrder).toBeDefined(); // new cells filled the ones the shift freed
      const loaded = await loadConversation(viaJson(record), other.stateIdentity, layout, store);
      expect(loaded).toMatchObject({ loadedTokens: state.tokens.length, refusedChunks: 0 });
      // The joined cache is the saved one, cell for cell, in the same order.
      expect(loaded!.state.kv).toEqual(state.kv);
      other.createSlot("s");
      other.setSlot("s");
      await other.loadState(loaded!.bytes);
      const next = " Then the dog ran to the tree.";
      shifting.setPrompt(next);
      other.setPrompt(next);
      const [mine, theirs] = [
        await shifting.generateCompleteText({ maxTokens: 24, temperature: 0 }),
        await other.generateCompleteText({ maxTokens: 24, temperature: 0 }),
      ];
      expect(theirs).toBe(mine);
    } finally {
      await Promise.all([shifting.dispose(), other.dispose()]);
    }
  });
});
