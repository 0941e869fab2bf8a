import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { InvalidArgumentError, Llama, readStateMeta, StateFormatError, StateMismatchError } from "../../src/index.js";
import { decodeState, encodeState } from "../../src/state/StateFormat.js";
import { CONVERSATIONS, runAlone, runTurn, type Conversation } from "../support/conversations.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const [alice, bob] = CONVERSATIONS as [Conversation, Conversation, ...Conversation[]];
let reference: string[];
let llama: Llama;

beforeAll(async () => {
  const solo = await Llama.load(testLoadOptions({ slots: 1 }));
  reference = await runAlone(solo, alice);
  await solo.dispose();
  llama = await Llama.load(testLoadOptions({ slots: 2 }));
});
afterAll(() => llama.dispose());

/** Alice's first turn on a fresh slot of `llama`, then her state. */
async function aliceAfterOneTurn(target: Llama): Promise<Uint8Array> {
  expect(await runTurn(target, alice, 0)).toBe(reference[0]);
  return target.saveState();
}

describe("saveState / loadState", () => {
  test("freeze, free, recreate, restore: the conversation continues exactly", async () => {
    const state = await aliceAfterOneTurn(llama);
    await llama.freeSlot(alice.id);
    llama.createSlot(alice.id);
    llama.setSlot(alice.id);
    await llama.loadState(state);
    expect(await runTurn(llama, alice, 1)).toBe(reference[1]);
    expect(await runTurn(llama, alice, 2)).toBe(reference[2]);
    await llama.freeSlot(alice.id);
  });

  test("meta saved with a state comes back from readStateMeta and changes nothing else", async () => {
    llama.createSlot("meta");
    llama.setSlot("meta");
    llama.setPrompt(alice.turns[0]!);
    await llama.generateCompleteText({ maxTokens: 8 });
    const plain = await llama.saveState();
    const tagged = await llama.saveState({ meta: { userId: "42", tags: ["a", 1] } });
    expect(readStateMeta(plain)).toBeUndefined();
    expect(readStateMeta(tagged)).toEqual({ userId: "42", tags: ["a", 1] });
    expect(decodeState(tagged).kv).toEqual(decodeState(plain).kv);
    expect(() => readStateMeta(new Uint8Array(4))).toThrow(StateFormatError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const meta of [[1, 2], "text", cyclic, { big: 1n }])
      await expect(llama.saveState({ meta: meta as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await llama.freeSlot("meta");
  });

  test("sharedMemory: the same bytes in a SharedArrayBuffer, which load like any state", async () => {
    const plain = await aliceAfterOneTurn(llama);
    const shared = await llama.saveState({ sharedMemory: true });
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(plain.buffer).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(shared).equals(Buffer.from(plain))).toBe(true);
    await llama.freeSlot(alice.id);
    llama.createSlot(alice.id);
    llama.setSlot(alice.id);
    await llama.loadState(shared);
    expect(await runTurn(llama, alice, 1)).toBe(reference[1]);
    await llama.freeSlot(alice.id);
  });

  test("stateDir: the engine's state files go to a private directory it makes inside, and removes, leaving the given one in place", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-statedir-"));
    try {
      const own = await Llama.load(testLoadOptions({ slots: 1, stateDir: dir }));
      const state = await aliceAfterOneTurn(own);
      await own.loadState(state);
      const inside = await readdir(dir);
      expect(inside).toEqual([expect.stringMatching(new RegExp(`^llama-scope-${process.pid}-[A-Za-z0-9]{6}$`))]);
      const { mode } = await stat(path.join(dir, inside[0]!));
      if (process.platform !== "win32") expect(mode & 0o777).toBe(0o700);
      expect(await readdir(path.join(dir, inside[0]!))).toEqual([]); // each file is removed after use
      await own.dispose();
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a private state directory removed underneath (a tmp cleaner) is made again at the next save or load", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-statedir-"));
    try {
      const own = await Llama.load(testLoadOptions({ slots: 1, stateDir: dir }));
      const state = await aliceAfterOneTurn(own);
      const [first] = await readdir(dir);
      await rm(path.join(dir, first!), { recursive: true });
      await own.loadState(state);
      expect(await runTurn(own, alice, 1)).toBe(reference[1]);
      expect(await readdir(dir)).toEqual([expect.not.stringMatching(`^${first}$`)]);
      await own.dispose();
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a state restores into another Llama instance of the same model", async () => {
    const state = await aliceAfterOneTurn(llama);
    await llama.freeSlot(alice.id);
    const other = await Llama.load(testLoadOptions({ slots: 1 }));
    try {
      other.createSlot("restored");
      other.setSlot("restored");
      await other.loadState(state);
      other.setPrompt(alice.turns[1]!);
      expect(await other.generateCompleteText({ maxTokens: 32 })).toBe(reference[1]);
    } finally {
      await other.dispose();
    }
  });

  test("a state replaces the slot's previous memory, and other slots are untouched", async () => {
    const state = await aliceAfterOneTurn(llama);
    await llama.freeSlot(alice.id);
    const bobAlone = await (async () => {
      const solo = await Llama.load(testLoadOptions({ slots: 1 }));
      const replies = await runAlone(solo, bob);
      await solo.dispose();
      return replies;
    })();
    expect(await runTurn(llama, bob, 0)).toBe(bobAlone[0]);
    llama.createSlot("target");
    llama.setSlot("target");
    llama.setPrompt("Some unrelated history that must vanish.");
    await llama.generateCompleteText({ maxTokens: 8 });
    await llama.loadState(state);
    llama.setPrompt(alice.turns[1]!);
    expect(await llama.generateCompleteText({ maxTokens: 32 })).toBe(reference[1]);
    expect(await runTurn(llama, bob, 1)).toBe(bobAlone[1]);
    await llama.freeSlot("target");
    await llama.freeSlot(bob.id);
  });

  test("an empty slot's state empties a slot that held a conversation: its cells go too, and it goes on like a new slot (soak, seed 2013)", async () => {
    llama.createSlot("empty");
    llama.setSlot("empty");
    const empty = await llama.saveState();
    await llama.freeSlot("empty");
    llama.createSlot("full");
    llama.setSlot("full");
    llama.setPrompt(alice.turns[0]!);
    await llama.generateCompleteText({ maxTokens: 24 });
    await llama.loadState(empty);
    expect(llama.historyTokens("full")).toEqual([]);
    // Before, llama.cpp kept the old cells: this save held "24 cells for 0 tokens" and was refused.
    const after = decodeState(await llama.saveState());
    expect(decodeState(empty).kv).toEqual(after.kv);
    expect(await runTurn(llama, { ...alice, id: "full" }, 0)).toBe(reference[0]);
    await llama.freeSlot("full");
  });

  test("a stop string is cut from the reply and from the history; a restore after it continues exactly", async () => {
    const stopAndContinue = async (target: Llama, freeze: boolean): Promise<[string, string]> => {
      target.createSlot("stopped");
      target.setSlot("stopped");
      target.setPrompt("Once upon a time");
      const cut = await target.generateCompleteText({ maxTokens: 64, stop: ["park"] });
      if (freeze) {
        const state = await target.saveState();
        await target.freeSlot("stopped");
        target.createSlot("stopped");
        target.setSlot("stopped");
        await target.loadState(state);
      }
      target.setPrompt("!");
      const next = await target.generateCompleteText({ maxTokens: 24 });
      await target.freeSlot("stopped");
      return [cut, next];
    };
    const [cut, afterRestore] = await stopAndContinue(llama, true);
    const fresh = await Llama.load(testLoadOptions({ slots: 1 }));
    const [cutAgain, withoutFreeze] = await stopAndContinue(fresh, false);
    await fresh.dispose();
    expect(cut.length).toBeGreaterThan(0);
    expect(cut).not.toContain("park");
    expect(cutAgain).toBe(cut);
    expect(afterRestore).toBe(withoutFreeze);

    llama.createSlot("unstopped");
    llama.setSlot("unstopped");
    llama.setPrompt("Once upon a time");
    const full = await llama.generateCompleteText({ maxTokens: 64 });
    await llama.freeSlot("unstopped");
    expect(full.startsWith(cut + "park")).toBe(true);
  });
});

describe("refused states leave every slot as it was", () => {
  let state: Uint8Array;
  beforeAll(async () => {
    state = await aliceAfterOneTurn(llama);
    await llama.freeSlot(alice.id);
  });

  async function expectTargetStillWorks(target: Llama): Promise<void> {
    target.setPrompt(alice.turns[1]!);
    expect(await target.generateCompleteText({ maxTokens: 32 })).toBe(reference[1]);
  }

  /** A slot holding Alice's first turn, to check a refused load leaves it alone. */
  async function aliceSlot(): Promise<void> {
    llama.createSlot(alice.id);
    llama.setSlot(alice.id);
    await llama.loadState(state);
  }

  test("a state from another model is refused with StateMismatchError before llama.cpp sees it", async () => {
    const other = await Llama.load({ ...testLoadOptions({ slots: 1 }), modelPath: otherModelPath() });
    try {
      other.createSlot("x");
      other.setSlot("x");
      other.setPrompt("hello");
      const before = await other.generateCompleteText({ maxTokens: 8 });
      await expect(other.loadState(state)).rejects.toBeInstanceOf(StateMismatchError);
      await expect(other.loadState(state)).rejects.toThrow(/Load it into a Llama on the model file that saved it/);
      // And the other way round.
      const otherState = await other.saveState();
      await aliceSlot();
      await expect(llama.loadState(otherState)).rejects.toBeInstanceOf(StateMismatchError);
      // The fingerprint is only a claim: forged to this model's (checksum recomputed), the other
      // model's KV layout still gives it away before llama.cpp sees it.
      const decoded = decodeState(otherState);
      const forged = encodeState({ ...decoded, header: { ...decoded.header, model: llama.modelInfo, layout: llama.stateIdentity.layout } });
      await expect(llama.loadState(forged)).rejects.toThrow(/malformed \((token id|its KV section|a key layer)/);
      await expect(llama.loadState(forged)).rejects.toBeInstanceOf(StateFormatError);
      await expectTargetStillWorks(llama);
      await llama.freeSlot(alice.id);
      expect(before.length).toBeGreaterThan(0);
    } finally {
      await other.dispose();
    }
  });

  test("every truncation is refused with StateFormatError", async () => {
    await aliceSlot();
    for (const length of [0, 1, 8, 13, 64, state.length >> 1, state.length - 33, state.length - 1]) {
      await expect(llama.loadState(state.slice(0, length))).rejects.toBeInstanceOf(StateFormatError);
    }
    await expectTargetStillWorks(llama);
    await llama.freeSlot(alice.id);
  });

  test("a flipped bit anywhere is refused with StateFormatError", async () => {
    await aliceSlot();
    const positions = new Set<number>([0, 9, 12, 20, 100, state.length >> 1, state.length - 40, state.length - 1]);
    for (let i = 0; i < 24; i++) positions.add(Math.floor(((i + 0.5) * state.length) / 24));
    for (const position of positions) {
      const corrupted = state.slice();
      corrupted[position]! ^= 1 << (position % 8);
      await expect(llama.loadState(corrupted)).rejects.toBeInstanceOf(StateFormatError);
    }
    await expectTargetStillWorks(llama);
    await llama.freeSlot(alice.id);
  });

  test("non-state input is refused with StateFormatError", async () => {
    await aliceSlot();
    await expect(llama.loadState(new TextEncoder().encode("hello world, not a state at all"))).rejects.toBeInstanceOf(StateFormatError);
    await expect(llama.loadState("nope" as unknown as Uint8Array)).rejects.toBeInstanceOf(StateFormatError);
    await expectTargetStillWorks(llama);
    await llama.freeSlot(alice.id);
  });

  test("a state too long for the target's context size is refused with StateMismatchError", async () => {
    const small = await Llama.load(testLoadOptions({ slots: 1, contextSize: 256 }));
    llama.createSlot("long");
    llama.setSlot("long");
    llama.setPrompt("Once upon a time");
    await llama.generateCompleteText({ maxTokens: 300 });
    const longState = await llama.saveState();
    await llama.freeSlot("long");
    try {
      small.createSlot("s");
      small.setSlot("s");
      await expect(small.loadState(longState)).rejects.toThrow(StateMismatchError);
      await expect(small.loadState(longState)).rejects.toThrow(/contextSize ≥ 305/);
      await small.loadState(state); // a short one fits
    } finally {
      await small.dispose();
    }
  });

  test("a state grows with its history, by the KV bytes of each token", async () => {
    await aliceSlot();
    llama.setPrompt(alice.turns[1]!);
    await llama.generateCompleteText({ maxTokens: 32 });
    const bigger = await llama.saveState();
    const perToken = (bigger.length - state.length) / 40; // about 40 more tokens: prompt + 32 generated
    expect(perToken).toBeGreaterThan(300);
    expect(perToken).toBeLessThan(1200);
    await llama.freeSlot(alice.id);
  });
});
