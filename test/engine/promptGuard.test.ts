import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { LlamaModel } from "node-llama-cpp";
import { ContextOverflowError, Llama } from "../../src/index.js";
import { nodeModelOf } from "../../src/engine/model/nodeModel.js";
import { PromptTokenizer } from "../../src/engine/tokenize/PromptTokenizer.js";
import { TOKEN_TEXT_MARGIN } from "../../src/engine/tokenize/vocabulary.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

/** Texts of every kind a tokenizer treats differently: words, runs of spaces, digits, CJK, emoji. */
const VARIED_TEXTS = [
  "Once upon a time, there was a little girl named Lily. She loved to play outside.\n",
  "                                                                ",
  "----------------________________================",
  "1234567890 3.14159 2024-01-01",
  "日本語のテキストと中文字符",
  "🙂🙃😀 emoji 🐈‍⬛ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "\t\r\n\n  \u00a0 mixed whitespace",
  "<s></s>[INST] <<SYS>> template-like text",
];

/** The longest text of a token, read independently of the engine's scan. */
function longestTokenText(model: LlamaModel): number {
  let longest = 0;
  for (const token of model.iterateAllTokens()) longest = Math.max(longest, model.detokenize([token], false).length);
  return longest;
}

describe.each([
  ["stories260K", testLoadOptions({ slots: 2 })],
  ["llama-2-tiny-random", testLoadOptions({ slots: 2, modelPath: otherModelPath(), contextSize: 4096 })],
])("the prompt size bound on %s", (_, options) => {
  let llama: Llama;
  beforeAll(async () => (llama = await Llama.load(options)));
  afterAll(() => llama.dispose());

  test("is the slot's tokens times the longest token text plus the margin", () => {
    const { charsPerToken } = PromptTokenizer.of(nodeModelOf(llama));
    expect(charsPerToken).toBe(longestTokenText(nodeModelOf(llama)) + TOKEN_TEXT_MARGIN);
    expect(llama.maxPromptLength).toBe(llama.contextSize * charsPerToken);
  });

  test("never refuses a text that could fit: its tokens cover at most charsPerToken characters each", () => {
    const { charsPerToken } = PromptTokenizer.of(nodeModelOf(llama));
    for (const text of VARIED_TEXTS)
      for (const repeated of [text, text.repeat(50)])
        for (const continuation of [false, true]) {
          const tokens = llama.model.tokenize(repeated, false, continuation ? "trimLeadingSpace" : undefined);
          expect(tokens.length * charsPerToken).toBeGreaterThanOrEqual(repeated.length);
        }
    // The longest token repeated is the tightest case: each token covers its whole text.
    const longest = [...nodeModelOf(llama).iterateAllTokens()]
      .map((token) => llama.model.detokenize([token], false))
      .sort((a, b) => b.length - a.length)[0]!;
    const tight = longest.repeat(100);
    expect(llama.model.tokenize(tight, false).length * charsPerToken).toBeGreaterThanOrEqual(tight.length);
  });
});

describe("the prompt size guard on the direct engine", () => {
  let llama: Llama;
  beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 2 }))));
  afterAll(() => llama.dispose());

  test("a 20 MB prompt is refused before it is tokenized, and the slot is unchanged", async () => {
    llama.createSlot("guarded");
    llama.setSlot("guarded");
    llama.setPrompt("Once upon a time");
    await llama.generate({ maxTokens: 8 });
    const before = llama.historyTokens("guarded");
    const huge = "Once upon a time, there was a little girl named Lily.\n".repeat(400_000); // 21.6 MB
    // Tokenizing it would take seconds (about 0.4 s per megabyte on this model).
    llama.setPrompt(huge);
    const start = performance.now();
    const error = await llama.generate({ maxTokens: 8 }).catch((caught: unknown) => caught);
    const elapsed = performance.now() - start;
    expect(error).toBeInstanceOf(ContextOverflowError);
    expect((error as Error).message).toContain(`${llama.maxPromptLength.toLocaleString("en-US")} characters at most`);
    expect((error as Error).message).toContain("contextSize");
    expect(elapsed).toBeLessThan(50);
    expect(llama.historyTokens("guarded")).toEqual(before);
    llama.setPrompt("\nThe next day");
    expect((await llama.generate({ maxTokens: 8 })).tokenCount).toBeGreaterThan(0);
    await llama.freeSlot("guarded");
  });

  test("a prompt of the bound's length is tokenized (and refused only if its tokens do not fit)", async () => {
    llama.createSlot("edge");
    llama.setSlot("edge");
    // Words of this model's longest token text: about one token per word and space.
    const text = "friend ".repeat(llama.maxPromptLength).slice(0, llama.maxPromptLength);
    llama.setPrompt(text);
    const error = (await llama.generate({ maxTokens: 8 }).catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(ContextOverflowError);
    expect(error.message).toMatch(/^This prompt is [\d,]+ tokens/); // the check after tokenizing, not the guard's
    expect(llama.tokenCount("edge")).toBe(0);
    await llama.freeSlot("edge");
  });

  test("with contextShift off, the bound is the room the slot has left", async () => {
    llama.createSlot("strict", { contextShift: false });
    llama.setSlot("strict");
    llama.setPrompt("Once upon a time");
    await llama.generate({ maxTokens: 200 });
    const before = llama.historyTokens("strict");
    const { charsPerToken } = PromptTokenizer.of(nodeModelOf(llama));
    const room = llama.contextSize - before.length;
    const text = "x".repeat(room * charsPerToken + 1);
    expect(text.length).toBeLessThan(llama.maxPromptLength); // a whole slot could take it, this one cannot
    llama.setPrompt(text);
    const start = performance.now();
    const error = (await llama.generate({ maxTokens: 8 }).catch((caught: unknown) => caught)) as Error;
    expect(performance.now() - start).toBeLessThan(50);
    expect(error).toBeInstanceOf(ContextOverflowError);
    expect(error.message).toContain('conversation "strict"');
    expect(error.message).toContain(`room for ${room.toLocaleString("en-US")} more tokens`);
    expect(llama.historyTokens("strict")).toEqual(before);
    await llama.freeSlot("strict");
  });
});
