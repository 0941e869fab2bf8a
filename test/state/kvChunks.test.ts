import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Llama, StateFormatError } from "../../src/index.js";
import { chunkDigest, chunkKeys, verifiedChunkCount } from "../../src/state/chunkKeys.js";
import { joinKv, kvCellOrder, kvJoinPlan, splitKv } from "../../src/state/kvChunks.js";
import { checkKvSection, type KvLayout } from "../../src/state/kvLayout.js";
import { decodeState, encodeState, type SlotState } from "../../src/state/StateFormat.js";
import type { Token } from "../../src/shared/Token.js";
import { CONVERSATIONS, runTurn, soloReplies, type Conversation } from "../support/conversations.js";
import { testLoadOptions } from "../support/testModel.js";

const [alice] = CONVERSATIONS as [Conversation, ...Conversation[]];
/** Two prompts that share their first ~20 tokens, then part. */
const SHARED = "Once upon a time, there was a little girl named Lily. She loved to play";
const PROMPTS = { home: `${SHARED} with her ball in the park.`, dog: `${SHARED} outside, and one day she saw a dog.` };
const CHUNK = 8;

let reference: string[];
let llama: Llama;
let layout: KvLayout;
let identity: string;

beforeAll(async () => {
  reference = (await soloReplies([alice])).get(alice.id)!;
  llama = await Llama.load(testLoadOptions({ slots: 3 }));
  layout = llama.stateLimits.kv!;
  identity = JSON.stringify(llama.stateIdentity);
});
afterAll(() => llama.dispose());

/** A fresh slot `id` that was prompted with `prompt` and generated `maxTokens`; its decoded state. */
async function conversation(id: string, prompt: string, maxTokens = 8): Promise<SlotState> {
  llama.createSlot(id);
  llama.setSlot(id);
  llama.setPrompt(prompt);
  await llama.generate({ maxTokens, temperature: 0 });
  return decodeState(await llama.saveState());
}

/** Loads `state` with its KV section replaced by `kv` into a fresh slot `id`. */
async function restore(id: string, state: SlotState, kv: Uint8Array): Promise<void> {
  if (llama.slots.includes(id)) await llama.freeSlot(id);
  llama.createSlot(id);
  llama.setSlot(id);
  await llama.loadState(encodeState({ ...state, kv }));
}

/** The cell count a chunk starts with. */
const cellsOf = (chunk: Uint8Array) => new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength).getUint32(0, true);

/** The section `kvJoinPlan` makes of `chunks` given one at a time, the last first. */
function joinedInReverse(tokens: readonly Token[], chunks: readonly Uint8Array[], own: KvLayout, order?: number[]): Uint8Array {
  const plan = kvJoinPlan(tokens, chunks.map(cellsOf), own, order);
  const out = new Uint8Array(plan.byteLength);
  plan.writeHeader(out);
  for (let i = chunks.length - 1; i >= 0; i--) expect(plan.writeChunk(out, i, chunks[i]!)).toBe(true);
  return out;
}

function commonPrefix(a: readonly Token[], b: readonly Token[]): number {
  let length = 0;
  while (length < a.length && length < b.length && a[length] === b[length]) length++;
  return length;
}

describe("splitKv / joinKv", () => {
  test("the test model's states have a layout to cut them by", () => {
    expect(layout).toBeDefined();
    expect(layout.layers).toBeGreaterThan(0);
  });

  test("a state cut into chunks of any size joins into the same section, which loads and continues exactly", async () => {
    expect(await runTurn(llama, alice, 0)).toBe(reference[0]);
    const state = decodeState(await llama.saveState());
    const cells = state.tokens.length;
    const joined: Uint8Array[] = [];
    for (const size of [1, 7, CHUNK, cells, cells + 5]) {
      const chunks = splitKv(state.kv, layout, size);
      expect(chunks.map(({ start, end }) => [start, end])).toEqual(
        Array.from({ length: Math.ceil(cells / size) }, (_, i) => [i * size, Math.min(cells, (i + 1) * size)]),
      );
      const kv = joinKv(
        state.tokens,
        chunks.map((chunk) => chunk.bytes),
        layout,
      );
      expect(() => checkKvSection(kv, layout, cells)).not.toThrow();
      joined.push(kv);
    }
    for (const kv of joined.slice(1)) expect(kv).toEqual(joined[0]);
    await restore(alice.id, state, joined[0]!);
    expect(await runTurn(llama, alice, 1)).toBe(reference[1]);
    expect(await runTurn(llama, alice, 2)).toBe(reference[2]);
    await llama.freeSlot(alice.id);
  });

  test("conversations that share a prompt share its whole chunks, key for key and byte for byte", async () => {
    const home = await conversation("home", PROMPTS.home);
    const dog = await conversation("dog", PROMPTS.dog);
    const shared = commonPrefix(home.tokens, dog.tokens);
    const whole = Math.floor(shared / CHUNK);
    expect(whole).toBeGreaterThanOrEqual(2);
    const bytes = [splitKv(home.kv, layout, CHUNK), splitKv(dog.kv, layout, CHUNK)];
    const keys = [home, dog].map((state, i) =>
      chunkKeys(
        identity,
        state.tokens,
        CHUNK,
        bytes[i]!.map((chunk) => chunkDigest(chunk.bytes)),
      ),
    );
    expect(keys[0]!.slice(0, whole)).toEqual(keys[1]!.slice(0, whole));
    expect(keys[0]![whole]).not.toBe(keys[1]![whole]);
    for (let i = 0; i < whole; i++) expect(bytes[0]![i]!.bytes).toEqual(bytes[1]![i]!.bytes);
    await llama.freeSlot("home");
    await llama.freeSlot("dog");
  });

  test("a conversation joined from another's prefix chunks and its own continues as it does whole", async () => {
    const home = await conversation("home", PROMPTS.home);
    const dog = await conversation("dog", PROMPTS.dog);
    const whole = Math.floor(commonPrefix(home.tokens, dog.tokens) / CHUNK);
    // The dog conversation's own continuation, from its own slot.
    llama.setSlot("dog");
    llama.setPrompt(" The dog");
    const own = await llama.generateCompleteText({ maxTokens: 24, temperature: 0 });
    const mixed = [...splitKv(home.kv, layout, CHUNK).slice(0, whole), ...splitKv(dog.kv, layout, CHUNK).slice(whole)];
    await restore(
      "dog",
      dog,
      joinKv(
        dog.tokens,
        mixed.map((chunk) => chunk.bytes),
        layout,
      ),
    );
    llama.setPrompt(" The dog");
    expect(await llama.generateCompleteText({ maxTokens: 24, temperature: 0 })).toBe(own);
    await llama.freeSlot("home");
    await llama.freeSlot("dog");
  });

  test("transposed values (flash attention off): chunks hold each value row's elements of their cells, and join back exactly", async () => {
    const transposed = await Llama.load(testLoadOptions({ slots: 1, flashAttention: false }));
    try {
      const own = transposed.stateLimits.kv!;
      expect(own.vTrans).toBe(1);
      expect(await runTurn(transposed, alice, 0)).toBe(reference[0]);
      const state = decodeState(await transposed.saveState());
      const kv = joinKv(
        state.tokens,
        splitKv(state.kv, own, 5).map((chunk) => chunk.bytes),
        own,
      );
      expect(kv).toEqual(
        joinKv(
          state.tokens,
          splitKv(state.kv, own, state.tokens.length).map((chunk) => chunk.bytes),
          own,
        ),
      );
      expect(
        joinedInReverse(
          state.tokens,
          splitKv(state.kv, own, 5).map((chunk) => chunk.bytes),
          own,
        ),
      ).toEqual(kv);
      await transposed.freeSlot(alice.id);
      transposed.createSlot(alice.id);
      transposed.setSlot(alice.id);
      await transposed.loadState(encodeState({ ...state, kv }));
      expect(await runTurn(transposed, alice, 1)).toBe(reference[1]);
    } finally {
      await transposed.dispose();
    }
  });

  test("kvJoinPlan: chunks written one at a time, in any order, give joinKv's section, in position order or in a cache order", async () => {
    const state = await conversation("plan", PROMPTS.home);
    await llama.freeSlot("plan");
    const chunks = splitKv(state.kv, layout, 5).map((chunk) => chunk.bytes);
    expect(chunks.at(-1)!.byteLength).toBeLessThan(chunks[0]!.byteLength); // a partial last chunk too
    expect(joinedInReverse(state.tokens, chunks, layout)).toEqual(joinKv(state.tokens, chunks, layout));
    // A cache order (what a context shift leaves): read back from the section, and cut by position into the same chunks.
    const order = state.tokens.map((_, i) => (i * 7) % state.tokens.length);
    expect(new Set(order).size).toBe(order.length);
    const reordered = joinedInReverse(state.tokens, chunks, layout, order);
    expect(kvCellOrder(reordered, layout)).toEqual(order);
    expect(splitKv(reordered, layout, 5).map((chunk) => chunk.bytes)).toEqual(chunks);
    // A chunk of another length is left out, and the counts and the order are checked.
    const plan = kvJoinPlan(state.tokens, chunks.map(cellsOf), layout);
    expect(plan.writeChunk(new Uint8Array(plan.byteLength), 0, chunks[0]!.subarray(1))).toBe(false);
    expect(plan.writeChunk(new Uint8Array(plan.byteLength), 0, chunks.at(-1)!)).toBe(false);
    expect(() => kvJoinPlan(state.tokens, chunks.slice(1).map(cellsOf), layout)).toThrow(/cells for/);
    expect(() =>
      kvJoinPlan(
        state.tokens,
        chunks.map(cellsOf),
        layout,
        order.map(() => 0),
      ),
    ).toThrow(StateFormatError);
  });

  test("chunks that do not fit the layout or the tokens are refused with StateFormatError", async () => {
    const state = await conversation("bad", PROMPTS.home);
    await llama.freeSlot("bad");
    const chunks = splitKv(state.kv, layout, CHUNK).map((chunk) => chunk.bytes);
    const refused =
      (parts: Uint8Array[], tokens: readonly Token[] = state.tokens) =>
      () =>
        joinKv(tokens, parts, layout);
    expect(refused([chunks[0]!.subarray(0, chunks[0]!.byteLength - 1), ...chunks.slice(1)])).toThrow(StateFormatError);
    expect(refused([new Uint8Array(2), ...chunks.slice(1)])).toThrow(StateFormatError);
    expect(refused(chunks.slice(1))).toThrow(/cells for/);
    expect(refused(chunks, state.tokens.slice(1))).toThrow(StateFormatError);
    expect(() => splitKv(state.kv.subarray(0, state.kv.byteLength - 3), layout, CHUNK)).toThrow(StateFormatError);
    expect(() => splitKv(state.kv, layout, 0)).toThrow(RangeError);
    // A section whose layers are not the layout's is refused before its rows are read by it.
    const otherType = { ...layout, keys: layout.keys.map((key, i) => (i === 0 ? { ...key, type: key.type + 1 } : key)) };
    expect(() => splitKv(state.kv, otherType, CHUNK)).toThrow(/another type/);
  });
});

describe("chunkKeys", () => {
  const tokens = Array.from({ length: 20 }, (_, i) => (i * 37) % 500) as Token[];
  /** Stand-ins for three chunks' bytes. */
  const chunks = [0, 1, 2].map((i) => Uint8Array.from([i, 1, 2, 3]));
  const digests = chunks.map(chunkDigest);

  test("a key covers everything before its chunk's end: a shared prefix shares keys, a change changes every key after it", () => {
    const keys = chunkKeys("model A", tokens, 8, digests);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(3);
    const changed = [...tokens];
    changed[9] = 499 as Token;
    const other = chunkKeys("model A", changed, 8, digests);
    expect(other[0]).toBe(keys[0]);
    expect(other.slice(1).every((key, i) => key !== keys[i + 1])).toBe(true);
    // A partial last chunk has a key of its own, not its full chunk's.
    expect(chunkKeys("model A", tokens.slice(0, 12), 8, digests.slice(0, 2))[1]).not.toBe(keys[1]);
    expect(chunkKeys("model A", tokens.slice(0, 16), 8, digests.slice(0, 2))).toEqual(keys.slice(0, 2));
  });

  test("the same tokens with other bytes (evaluated in another batch) never share a key", () => {
    const keys = chunkKeys("model A", tokens, 8, digests);
    const otherBytes = chunkKeys("model A", tokens, 8, [digests[0]!, chunkDigest(Uint8Array.from([1, 1, 2, 4])), digests[2]!]);
    expect(otherBytes[0]).toBe(keys[0]);
    expect(otherBytes.slice(1).some((key) => keys.includes(key))).toBe(false);
  });

  test("another model, layout or lineage never shares a key", () => {
    const keys = chunkKeys("model A", tokens, 8, digests);
    for (const other of [chunkKeys("model B", tokens, 8, digests), chunkKeys("model A", tokens, 8, digests, "shifted-1")])
      expect(other.some((key) => keys.includes(key))).toBe(false);
    expect(() => chunkKeys("model A", tokens, 0, [])).toThrow(RangeError);
    expect(() => chunkKeys("model A", tokens, 8, digests.slice(0, 2))).toThrow(RangeError);
  });

  test("verifiedChunkCount: the chunks from the first that are what their keys name", () => {
    const keys = chunkKeys("model A", tokens, 8, digests);
    const digestsOf = (list: (Uint8Array | undefined)[]) => list.map((chunk) => (chunk === undefined ? undefined : chunkDigest(chunk)));
    expect(verifiedChunkCount("model A", tokens, 8, keys, digestsOf(chunks))).toBe(3);
    expect(verifiedChunkCount("model A", tokens, 8, keys, digestsOf([chunks[0], undefined, chunks[2]]))).toBe(1);
    expect(verifiedChunkCount("model A", tokens, 8, keys, digestsOf([chunks[0], chunks[2], chunks[1]]))).toBe(1);
    expect(verifiedChunkCount("model B", tokens, 8, keys, digestsOf(chunks))).toBe(0);
    const changed = [...tokens];
    changed[19] = 1 as Token;
    expect(verifiedChunkCount("model A", changed, 8, keys, digestsOf(chunks))).toBe(2);
  });
});
