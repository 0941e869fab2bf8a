// The engine's two building blocks for shared prefixes and forks: prefill (evaluate without
// generating) and forkSlot (a slot holding a copy of another's conversation).
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { Token } from "node-llama-cpp";
import { ContextOverflowError, InvalidArgumentError, Llama, SlotExistsError, SlotNotFoundError } from "../../src/index.js";
import { decodeState } from "../../src/state/StateFormat.js";
import { testLoadOptions } from "../support/testModel.js";

const OPTIONS = { maxTokens: 24 };
const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends.";

let llama: Llama;
beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 3, contextSize: 256 }))));
afterAll(() => llama.dispose());

async function freeAll(): Promise<void> {
  for (const id of llama.slots) await llama.freeSlot(id);
}

/** Makes slot `id` and generates `prompt` on it; the reply's last token stays pending, by convention. */
async function story(id: string, prompt = STORY, options = OPTIONS): Promise<string> {
  llama.createSlot(id);
  llama.setSlot(id);
  llama.setPrompt(prompt);
  return llama.generateCompleteText(options);
}

async function reply(id: string, prompt: string, options = OPTIONS): Promise<string> {
  llama.setSlot(id);
  llama.setPrompt(prompt);
  return llama.generateCompleteText(options);
}

describe("prefill", () => {
  test("a prompt evaluated in two parts, the first prefilled, replies exactly like the prompt in one", async () => {
    const whole = await story("whole");
    const tokens = [llama.model.tokens.bos!, ...llama.model.tokenize(STORY)]; // what setPrompt(STORY) appends
    llama.createSlot("parts");
    llama.setSlot("parts");
    expect(await llama.prefill(tokens.slice(0, 12))).toBe(12);
    expect(llama.tokenCount("parts")).toBe(12);
    llama.setPromptTokens(tokens.slice(12));
    expect(await llama.generateCompleteText(OPTIONS)).toBe(whole);
    await freeAll();
  });

  test("evaluates the pending last token of a reply first, and leaves nothing pending", async () => {
    await story("a");
    await story("b");
    const before = decodeState(await llama.saveState());
    expect(before.pending.length).toBe(1); // the engine's convention: the reply's last token waits
    const more = llama.model.tokenize(" The end.");
    expect(await llama.prefill(more)).toBe(1 + more.length);
    const after = decodeState(await llama.saveState());
    expect(after.pending).toEqual([]);
    expect(after.tokens).toEqual([...before.tokens, ...before.pending, ...more]);
    // The same history, generated on: both slots agree.
    llama.setSlot("a");
    llama.setPromptTokens(more);
    const fromGenerate = await llama.generateCompleteText(OPTIONS);
    llama.setSlot("b");
    llama.setPromptTokens([]);
    expect(await llama.generateCompleteText(OPTIONS)).toBe(fromGenerate);
    await freeAll();
  });

  test("refuses tokens that do not fit or are not the model's, changing nothing", async () => {
    llama.createSlot("a");
    llama.setSlot("a");
    const filler = Array.from({ length: 300 }, () => llama.model.tokenize("the")[0]!);
    await expect(llama.prefill(filler)).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(llama.prefill([-1 as Token])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(llama.prefill("text" as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(llama.tokenCount("a")).toBe(0);
    await freeAll();
  });
});

describe("forkSlot", () => {
  test("a fork replies exactly like its origin, then each goes its own way", async () => {
    await story("origin");
    expect(await llama.forkSlot("origin", "fork")).toBe("kv");
    expect(llama.activeSlot).toBe("origin"); // unchanged
    expect(llama.historyTokens("fork")).toEqual(llama.historyTokens("origin"));
    const next = await reply("origin", "\nThe next day");
    expect(await reply("fork", "\nThe next day")).toBe(next);
    const [a, b] = [await reply("origin", "\nLily said,"), await reply("fork", "\nThen the dog")];
    expect(a).not.toBe(b);
    expect(llama.historyTokens("fork")).not.toEqual(llama.historyTokens("origin"));
    await freeAll();
  });

  test("the copy is the origin's cache bit for bit: saved states agree on tokens, pending tokens and KV cells", async () => {
    await story("origin");
    await llama.forkSlot("origin", "fork");
    llama.setSlot("origin");
    const origin = decodeState(await llama.saveState());
    llama.setSlot("fork");
    const fork = decodeState(await llama.saveState());
    expect(fork.tokens).toEqual(origin.tokens);
    expect(fork.pending).toEqual(origin.pending);
    expect(fork.kv.length).toBe(origin.kv.length);
    // Only the cells' sequence ids may differ (llama.cpp writes them, and ignores them at load).
    const differing = fork.kv.reduce((count, byte, i) => count + (byte === origin.kv[i] ? 0 : 1), 0);
    expect(differing).toBeLessThanOrEqual(origin.tokens.length);
    await freeAll();
  });

  test("a slot too full for llama.cpp's copy is copied through a saved state, with the same result", async () => {
    llama.createSlot("full");
    llama.setSlot("full");
    const tokens = llama.model.tokenize(STORY.repeat(12)).slice(0, llama.contextSize - 2); // the most prefill takes
    await llama.prefill(tokens);
    expect(await llama.forkSlot("full", "fork")).toBe("state");
    expect(llama.historyTokens("fork")).toEqual(llama.historyTokens("full"));
    const next = await reply("full", "", { maxTokens: 1 });
    expect(await reply("fork", "", { maxTokens: 1 })).toBe(next);
    await freeAll();
  });

  test("a fork after context shifts keeps the erased count and continues alike", async () => {
    llama.createSlot("long", { contextShift: { size: 32 } });
    for (let turn = 0; turn < 6; turn++) await reply("long", turn === 0 ? STORY : "\nThe next day", { maxTokens: 48 });
    llama.setSlot("long");
    const erased = decodeState(await llama.saveState()).erasedTokens;
    expect(erased).toBeGreaterThan(0);
    await llama.forkSlot("long", "fork", { contextShift: { size: 32 } });
    llama.setSlot("fork");
    expect(decodeState(await llama.saveState()).erasedTokens).toBe(erased);
    const next = await reply("long", "\nAt last", { maxTokens: 48 });
    expect(await reply("fork", "\nAt last", { maxTokens: 48 })).toBe(next);
    await freeAll();
  });

  test("waits for the origin's queued calls, and refuses what createSlot refuses", async () => {
    llama.createSlot("origin");
    llama.setSlot("origin");
    llama.setPrompt(STORY);
    const pending = llama.generateCompleteText(OPTIONS); // queued before the fork: the fork holds its reply
    const forked = llama.forkSlot("origin", "fork");
    await Promise.all([pending, forked]);
    expect(llama.historyTokens("fork")).toEqual(llama.historyTokens("origin"));
    await expect(llama.forkSlot("nope", "x")).rejects.toBeInstanceOf(SlotNotFoundError);
    await expect(llama.forkSlot("origin", "fork")).rejects.toBeInstanceOf(SlotExistsError);
    expect(llama.slots).toEqual(["origin", "fork"]);
    await freeAll();
  });

  test("an empty slot forks into an empty slot", async () => {
    llama.createSlot("empty");
    expect(await llama.forkSlot("empty", "fork")).toBe("kv");
    expect(llama.tokenCount("fork")).toBe(0);
    await freeAll();
  });
});

describe("copyPrefix", () => {
  const prefixOf = () => [llama.model.tokens.bos!, ...llama.model.tokenize(STORY)];

  /** Slot "holder" evaluates `prefix`; slot "copy" (active afterwards) gets it copied, not made yet by llama.cpp. */
  const pendingCopy = async (prefix: Token[]) => {
    llama.createSlot("holder");
    llama.setSlot("holder");
    await llama.prefill(prefix);
    llama.createSlot("copy");
    llama.setSlot("copy");
    expect(await llama.copyPrefix("holder", prefix)).toBe(true);
  };

  test("copies the start of a resident slot that holds it, bit for bit: the copy replies like a slot that evaluated it", async () => {
    const prefix = prefixOf();
    // The sequence the copy gets next (the second lowest) held another conversation: stale buffers.
    llama.createSlot("first");
    await story("dirty", "Tom had a big red ball. He liked to throw it high into the sky every day.");
    await freeAll();
    llama.createSlot("holder");
    llama.setSlot("holder");
    await llama.prefill(prefix);
    await reply("holder", " Then she went home.", { maxTokens: 8 }); // the holder goes on past the prefix
    llama.createSlot("copy");
    llama.setSlot("copy");
    expect(await llama.copyPrefix("holder", prefix)).toBe(true);
    expect(llama.historyTokens("copy")).toEqual(prefix);
    // Saved before any decode: llama.cpp makes the copy only at the next one, so the save makes it first.
    const copy = decodeState(await llama.saveState());
    llama.createSlot("plain");
    llama.setSlot("plain");
    await llama.prefill(prefix);
    // The cells of the copy are the holder's, which were computed exactly as the plain slot's.
    const plain = decodeState(await llama.saveState());
    expect(copy.tokens).toEqual(plain.tokens);
    expect(copy.kv.reduce((count, byte, i) => count + (byte === plain.kv[i] ? 0 : 1), 0)).toBeLessThanOrEqual(prefix.length);
    const answer = await reply("plain", " One day", { maxTokens: 24 });
    expect(await reply("copy", " One day", { maxTokens: 24 })).toBe(answer);
    await freeAll();
  });

  test("declines, changing nothing, when the holder's start differs, it is busy or shifted, or the slot is not empty", async () => {
    const prefix = prefixOf();
    llama.createSlot("holder", { contextShift: { size: 32 } });
    llama.setSlot("holder");
    await llama.prefill(prefix);
    llama.createSlot("copy");
    llama.setSlot("copy");
    expect(await llama.copyPrefix("holder", [...prefix.slice(0, -1), (prefix.at(-1)! + 1) as Token])).toBe(false);
    expect(await llama.copyPrefix("holder", [...prefix, prefix[1]!])).toBe(false); // longer than it holds
    expect(llama.tokenCount("copy")).toBe(0);
    // Busy: a generation queued on the holder.
    llama.setSlot("holder");
    llama.setPrompt(" She smiled.");
    const running = llama.generateCompleteText({ maxTokens: 8 });
    llama.setSlot("copy");
    expect(await llama.copyPrefix("holder", prefix)).toBe(false);
    await running;
    expect(await llama.copyPrefix("holder", prefix)).toBe(true);
    expect(await llama.copyPrefix("holder", prefix)).toBe(false); // "copy" is not empty any more
    await expect(llama.copyPrefix("nope", prefix)).rejects.toBeInstanceOf(SlotNotFoundError);
    // Shifted: its cells moved, so they are no longer what evaluating the prefix gives.
    for (let turn = 0; turn < 6; turn++) await reply("holder", "\nThe next day", { maxTokens: 48 });
    llama.setSlot("holder");
    expect(decodeState(await llama.saveState()).erasedTokens).toBeGreaterThan(0);
    llama.createSlot("late");
    llama.setSlot("late");
    expect(await llama.copyPrefix("holder", llama.historyTokens("holder").slice(0, 8))).toBe(false);
    expect(llama.tokenCount("late")).toBe(0);
    await freeAll();
  });

  test("a state loaded, before the copy's next decode, into the holder's sequence or into the copy's own (freed) one does not reach the copy", async () => {
    const prefix = prefixOf();
    // A state of another conversation, to load into the sequences involved.
    llama.createSlot("other");
    llama.setSlot("other");
    llama.setPrompt("Tom had a big red ball.");
    await llama.generateCompleteText({ maxTokens: 8 });
    const other = await llama.saveState();
    const otherNext = await reply("other", " He", { maxTokens: 12 });
    await llama.freeSlot("other");

    /** A copy not made yet; then slot `freed` goes and a new slot takes its sequence (the lowest free) and loads `other`. */
    const copyThenReuse = async (freed: "holder" | "copy") => {
      await pendingCopy(prefix);
      await llama.freeSlot(freed);
      llama.createSlot("reuser");
      llama.setSlot("reuser");
      await llama.loadState(other);
      expect(await reply("reuser", " He", { maxTokens: 12 })).toBe(otherNext);
    };

    // Into the holder's sequence.
    await copyThenReuse("holder");
    const copied = await reply("copy", " One day", { maxTokens: 24 });
    await freeAll();
    llama.createSlot("plain");
    llama.setSlot("plain");
    await llama.prefill(prefix);
    expect(copied).toBe(await reply("plain", " One day", { maxTokens: 24 }));
    await freeAll();

    // Into the copy's own sequence: the copy is freed before it decodes.
    await copyThenReuse("copy");
    await freeAll();
  });

  test("a slot emptied by setHistory before its copy was made holds nothing afterwards: the copy does not land later", async () => {
    await pendingCopy(prefixOf());
    await llama.setHistory([]); // as a refused first turn puts its slot back
    await reply("holder", " One day", { maxTokens: 8 }); // the context decodes: a copy still recorded would land now
    llama.setSlot("copy");
    const state = await llama.saveState();
    expect(decodeState(state)).toMatchObject({ tokens: [], pending: [] });
    // The bytes are an intact empty conversation: they load, and the slot replies like a fresh one.
    llama.createSlot("revived");
    llama.setSlot("revived");
    await llama.loadState(state);
    expect(await reply("revived", STORY, { maxTokens: 12 })).toBe(await reply("copy", STORY, { maxTokens: 12 }));
    await freeAll();
  });
});
