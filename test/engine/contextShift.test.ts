import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  ContextOverflowError,
  InvalidArgumentError,
  Llama,
  StateFormatError,
  type GenerateOptions,
  type GenerationResult,
} from "../../src/index.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

/** Short story prompts; 40 turns of them overflow a 256-token slot many times. */
const TURNS = Array.from(
  { length: 40 },
  (_, i) => `\n${["Lily", "Ben", "Mia", "Max"][i % 4]} went to the ${["park", "shop", "sea", "farm", "zoo"][i % 5]}.`,
);
const TURN_OPTIONS: GenerateOptions = { maxTokens: 24 };

let llama: Llama;
beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 2, contextSize: 256 }))));
afterAll(() => llama.dispose());

/** Creates a slot that records its shifts, and makes it active. */
function shiftingSlot(target: Llama, id: string): number[] {
  const shifts: number[] = [];
  target.createSlot(id, { contextShift: { onShift: (erased) => shifts.push(erased) } });
  target.setSlot(id);
  return shifts;
}

async function turn(target: Llama, prompt: string, options = TURN_OPTIONS): Promise<GenerationResult> {
  target.setPrompt(prompt);
  return target.generate(options);
}

describe("context shift (on by default)", () => {
  test("a completion slot of 256 tokens answers 40 turns: the oldest tokens go, the start token stays", async () => {
    const shifts = shiftingSlot(llama, "long");
    const start = llama.model.tokens.bos;
    for (const prompt of TURNS) {
      const result = await turn(llama, prompt);
      expect(result.tokenCount).toBeGreaterThan(0);
      expect(llama.tokenCount("long")).toBeLessThanOrEqual(llama.contextSize); // the last reply token waits outside the cache
      expect(llama.historyTokens("long")[0]).toBe(start);
    }
    expect(shifts.length).toBeGreaterThan(3);
    // Each shift frees a tenth of the context at least (the default size).
    for (const erased of shifts) expect(erased).toBeGreaterThanOrEqual(Math.round(llama.contextSize / 10));
    await llama.freeSlot("long");
  });

  test("a reply that does not end on its own stops after contextSize tokens, shifting on the way", async () => {
    // Random weights: the model has no reason to end its text.
    const random = await Llama.load(testLoadOptions({ modelPath: otherModelPath(), slots: 1, contextSize: 256 }));
    try {
      const shifts = shiftingSlot(random, "endless");
      const result = await turn(random, "Hello", {});
      expect(result.finishReason).toBe("maxTokens");
      expect(result.tokenCount).toBe(random.contextSize);
      expect(shifts.length).toBeGreaterThan(0);
      expect(random.tokenCount("endless")).toBeLessThan(random.contextSize);
    } finally {
      await random.dispose();
    }
  });

  test("a shifted slot saved and loaded elsewhere continues exactly like the slot itself", async () => {
    const shifts = shiftingSlot(llama, "origin");
    for (const prompt of TURNS.slice(0, 14)) await turn(llama, prompt);
    expect(shifts.length).toBeGreaterThan(0);
    const state = await llama.saveState();
    const continued: string[] = [];
    for (const prompt of TURNS.slice(14, 20)) continued.push((await turn(llama, prompt)).text);
    await llama.freeSlot("origin");

    llama.createSlot("copy");
    llama.setSlot("copy");
    await llama.loadState(state);
    const revived: string[] = [];
    for (const prompt of TURNS.slice(14, 20)) revived.push((await turn(llama, prompt)).text);
    expect(revived).toEqual(continued);
    await llama.freeSlot("copy");
  });

  test("a prompt longer than the whole slot is refused without touching the conversation", async () => {
    shiftingSlot(llama, "huge");
    await turn(llama, "Once upon a time");
    const before = llama.historyTokens("huge");
    llama.setPrompt(" there was a prompt far too long for its slot.".repeat(40));
    const refused = llama.generate();
    await expect(refused).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(refused).rejects.toThrow(/Shorten the prompt/);
    expect(llama.historyTokens("huge")).toEqual(before);
    await llama.freeSlot("huge");
  });

  test("contextShift options are checked", async () => {
    expect(() => llama.createSlot("bad", { contextShift: { size: 0 } })).toThrow(InvalidArgumentError);
    expect(() => llama.createSlot("bad", { contextShift: { sise: 10 } as never })).toThrow(/sise/);
    expect(() => llama.createSlot("bad", { contextShift: "yes" as never })).toThrow(InvalidArgumentError);
    await expect(Llama.load(testLoadOptions({ contextShift: { strategy: () => [] } as never }))).rejects.toThrow(/strategy/);
    expect(llama.slots).not.toContain("bad");
  });

  test("a custom strategy chooses what goes", async () => {
    const asked: number[] = [];
    llama.createSlot("custom", {
      contextShift: {
        size: 40,
        strategy: ({ tokens, size }) => {
          asked.push(size);
          return [{ start: tokens.length - 120, end: tokens.length - 120 + size }]; // from the middle
        },
      },
    });
    llama.setSlot("custom");
    await turn(llama, "Once upon a time");
    const head = llama.historyTokens("custom").slice(0, 20);
    for (const prompt of TURNS.slice(0, 12)) await turn(llama, prompt);
    expect(asked.length).toBeGreaterThan(0);
    expect(llama.historyTokens("custom").slice(0, 20)).toEqual(head); // the beginning was never erased
    await llama.freeSlot("custom");
  });

  test("a strategy that cannot free enough room refuses the prompt before it erases anything", async () => {
    const shifts: number[] = [];
    let small = false;
    llama.createSlot("stingy", {
      contextShift: {
        size: 30,
        strategy: ({ size }) => [{ start: 1, end: 1 + (small ? 2 : size) }],
        onShift: (erased) => shifts.push(erased),
      },
    });
    llama.setSlot("stingy");
    try {
      for (const prompt of TURNS) if (llama.tokenCount("stingy") < 230) await turn(llama, prompt);
      const [before, count] = [llama.historyTokens("stingy"), shifts.length];
      small = true; // from now on it frees 2 tokens, and the prompt needs more
      await expect(turn(llama, TURNS[0]!.repeat(3))).rejects.toBeInstanceOf(ContextOverflowError);
      expect(llama.historyTokens("stingy")).toEqual(before);
      expect(shifts.length).toBe(count);
    } finally {
      await llama.freeSlot("stingy");
    }
  });

  test("a conversation rebuilt from its tokens (all waiting to be evaluated) makes room for a prompt like any other", async () => {
    shiftingSlot(llama, "rebuilt");
    try {
      for (const prompt of TURNS) if (llama.tokenCount("rebuilt") < 230) await turn(llama, prompt);
      // Full to the last token (its cells and the reply's last token, waiting): a rebuild takes that too.
      await turn(llama, "", { maxTokens: llama.contextSize - llama.tokenCount("rebuilt") });
      const history = llama.historyTokens("rebuilt");
      expect(history.length).toBe(llama.contextSize);
      await llama.freeSlot("rebuilt");
      // The same tokens as history only, none evaluated: a restarted engine rebuilds scopes so.
      const shifts = shiftingSlot(llama, "rebuilt");
      await llama.setHistory(history);
      const prompt = TURNS[0]!.repeat(3);
      const result = await turn(llama, prompt);
      expect(history.length + result.promptTokenCount).toBeGreaterThan(llama.contextSize - 1); // it did not fit as it was
      expect(shifts.length).toBeGreaterThan(0); // before the prompt, and maybe again during the reply
      const erased = shifts.reduce((sum, n) => sum + n, 0);
      expect(llama.tokenCount("rebuilt")).toBe(history.length - erased + result.promptTokenCount + result.tokenCount);
      expect(llama.historyTokens("rebuilt")[0]).toBe(llama.model.tokens.bos);
    } finally {
      await llama.freeSlot("rebuilt");
    }
  });
});

describe("results and usage", () => {
  test("tokenCount and promptTokenCount add up to what the history gained, however the reply ended", async () => {
    const big = await Llama.load(testLoadOptions({ slots: 1 }));
    try {
      big.createSlot("u");
      big.setSlot("u");
      const endings = new Set<string>();
      const cases = [
        { prompt: "Once upon a time", options: { maxTokens: 16 } },
        { prompt: "\nLily said,", options: { maxTokens: 200, stop: ["."] } },
        { prompt: "\nThe end.", options: { stop: [" "] } },
        { prompt: "\nWas it fun?", options: { grammar: 'root ::= ("yes" | "no")' } }, // the grammar ends the reply: end of text
      ];
      for (const { prompt, options } of cases) {
        const before = big.tokenCount("u");
        const result = await turn(big, prompt, options);
        endings.add(result.finishReason);
        expect(result.promptTokenCount).toBeGreaterThan(0);
        expect(big.tokenCount("u") - before).toBe(result.promptTokenCount + result.tokenCount);
      }
      expect(endings).toEqual(new Set(["maxTokens", "stop", "endOfText"]));
    } finally {
      await big.dispose();
    }
  });

  test("a state of another format version is refused, naming both versions", async () => {
    llama.createSlot("v");
    llama.setSlot("v");
    await turn(llama, "Once upon a time");
    const state = await llama.saveState();
    const old = state.slice();
    new DataView(old.buffer).setUint16(8, 1, true);
    await expect(llama.loadState(old)).rejects.toThrow(StateFormatError);
    await expect(llama.loadState(old)).rejects.toThrow(/version 1.*version 2/);
    await llama.freeSlot("v");
  });
});
