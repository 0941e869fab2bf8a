import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { InvalidArgumentError, Llama, type GenerateOptions, type TokenLogprob } from "../../src/index.js";
import { generateOnNewSlot } from "../support/options.js";
import { testLoadOptions } from "../support/testModel.js";
import { nodeModelOf } from "../../src/engine/model/nodeModel.js";
import { withLlama } from "../support/llamas.js";

let llama: Llama;
beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 2 }))));
afterAll(() => llama.dispose());

const PROMPT = "Once upon a time, Lily";

/** The checks every reply's log-probabilities pass, whatever the options. */
function expectWellFormed(logprobs: readonly TokenLogprob[], top: number): void {
  for (const entry of logprobs) {
    expect(entry.logprob).toBeLessThanOrEqual(0);
    expect(entry.top.length).toBe(top);
    const sum = entry.top.reduce((total, alternative) => total + Math.exp(alternative.logprob), 0);
    expect(sum).toBeLessThanOrEqual(1 + 1e-9);
    for (let i = 1; i < entry.top.length; i++) expect(entry.top[i]!.logprob).toBeLessThanOrEqual(entry.top[i - 1]!.logprob);
  }
}

describe("logprobs", () => {
  test("at temperature 0 the chosen token is the most likely one; the reply is the one generated without logprobs", async () => {
    const plain = await generateOnNewSlot(llama, "plain", PROMPT, { maxTokens: 24 });
    const withLogprobs = await generateOnNewSlot(llama, "logprobs", PROMPT, { maxTokens: 24, logprobs: 3 });
    const { result } = withLogprobs;
    expect(result.text).toBe(plain.result.text);
    expect(withLogprobs.history).toEqual(plain.history);
    const logprobs = result.logprobs!;
    expect(logprobs.map((entry) => entry.token)).toEqual(plain.generated);
    expect(logprobs.map((entry) => entry.text).join("")).toBe(result.text);
    expectWellFormed(logprobs, 3);
    for (const entry of logprobs) {
      expect(entry.top[0]!.token).toBe(entry.token);
      expect(entry.top[0]!.logprob).toBe(entry.logprob);
    }
    expect(plain.result.logprobs).toBeUndefined();
  });

  test("true reports the chosen tokens alone; sampled tokens have their probabilities too", async () => {
    const { result } = await generateOnNewSlot(llama, "true", PROMPT, { maxTokens: 12, logprobs: true, temperature: 1, seed: 3 });
    expect(result.logprobs!.length).toBe(result.tokenCount);
    expectWellFormed(result.logprobs!, 0);
    for (const entry of result.logprobs!) expect(entry.logprob).toBeGreaterThan(-Infinity);
  });

  test("a stop string cuts the log-probabilities with the reply: their texts still join into it", async () => {
    const full = await generateOnNewSlot(llama, "full", PROMPT, { maxTokens: 24 });
    // A stop string starting inside a token of the reply, so that token is cut.
    const words = full.result.text.split(" ");
    const stop = words[3]!.slice(1);
    const { result } = await generateOnNewSlot(llama, "cut", PROMPT, { maxTokens: 24, logprobs: 2, stop: [stop] });
    expect(result.finishReason).toBe("stop");
    expect(result.logprobs!.map((entry) => entry.text).join("")).toBe(result.text);
    expectWellFormed(result.logprobs!, 2);
  });

  test("streamed pieces carry the entries of the tokens they complete", async () => {
    llama.createSlot("stream");
    try {
      llama.setSlot("stream");
      llama.setPrompt(PROMPT);
      const pieces: { text: string; logprobs: TokenLogprob[] }[] = [];
      const result = await llama.generate({ maxTokens: 24, logprobs: 1, stop: ["."] }, (text, logprobs) =>
        pieces.push({ text, logprobs: logprobs ?? [] }),
      );
      expect(pieces.flatMap((piece) => piece.logprobs)).toEqual(result.logprobs);
      let text = "";
      let covered = "";
      for (const piece of pieces) {
        text += piece.text;
        covered += piece.logprobs.map((entry) => entry.text).join("");
        expect(text.startsWith(covered)).toBe(true); // never ahead of the text
      }
      expect(covered).toBe(result.text);
    } finally {
      await llama.freeSlot("stream");
    }
  });

  test("bad values are refused by name", async () => {
    for (const logprobs of [21, -1, 1.5, "3"] as unknown as NonNullable<GenerateOptions["logprobs"]>[])
      await expect(generateOnNewSlot(llama, "bad", PROMPT, { logprobs })).rejects.toThrow(InvalidArgumentError);
  });
});

describe("logprobs in lock-step", () => {
  test("slots with and without logprobs decode together; each reply is the one it gives alone", async () => {
    const runs: [string, GenerateOptions][] = [
      ["greedy", { maxTokens: 24, logprobs: 3 }],
      ["plain", { maxTokens: 24 }],
      ["sampled", { maxTokens: 24, logprobs: 1, temperature: 1, seed: 11 }],
    ];
    const alone = [];
    for (const [id, options] of runs) alone.push((await generateOnNewSlot(llama, id, PROMPT, options)).result);
    const together = await withLlama({ slots: 3, lockstep: { minBatch: 2 } }, async (stepped) => {
      for (const [id] of runs) {
        stepped.createSlot(id);
        stepped.slot(id).setPrompt(PROMPT);
      }
      return Promise.all(runs.map(([id, options]) => stepped.slot(id).generate(options)));
    });
    expect(together.map((result) => result.text)).toEqual(alone.map((result) => result.text));
    expect(together.map((result) => result.logprobs?.map((entry) => entry.token))).toEqual(
      alone.map((result) => result.logprobs?.map((entry) => entry.token)),
    );
    expectWellFormed(together[0]!.logprobs!, 3);
  });
});

describe("logitBias", () => {
  test("-100 on the greedy first token makes another the first; the slot holds what was generated", async () => {
    const plain = await generateOnNewSlot(llama, "plain", PROMPT, { maxTokens: 8 });
    const first = plain.generated[0]!;
    const biased = await generateOnNewSlot(llama, "biased", PROMPT, { maxTokens: 8, logitBias: { [first]: -100 }, logprobs: 5 });
    expect(biased.generated[0]).not.toBe(first);
    expect(biased.result.logprobs![0]!.top.map((alternative) => alternative.token)).not.toContain(first);
    // A positive bias large enough makes a token the greedy choice.
    const second = plain.generated[1]!;
    const pushed = await generateOnNewSlot(llama, "pushed", PROMPT, { maxTokens: 2, logitBias: { [second]: 100 } });
    expect(pushed.generated[0]).toBe(second);
  });

  test("ids outside the vocabulary, and biases outside -100..100, are refused; the slot is unchanged", async () => {
    const size = [...nodeModelOf(llama).iterateAllTokens()].length;
    llama.createSlot("refused");
    try {
      llama.setSlot("refused");
      llama.setPrompt(PROMPT);
      await expect(llama.generate({ logitBias: { [size]: 1 } })).rejects.toThrow(InvalidArgumentError);
      expect(llama.tokenCount("refused")).toBe(0);
      // The prompt stays set: the next call with good options replies to it.
      const result = await llama.generate({ maxTokens: 2, logitBias: { [size - 1]: 1 } });
      expect(result.promptTokenCount).toBeGreaterThan(0);
      for (const logitBias of [{ 1: 101 }, { 1: -101 }, { x: 1 }, { "-1": 1 }, { 1: "1" }] as unknown as NonNullable<
        GenerateOptions["logitBias"]
      >[])
        await expect(llama.generate({ logitBias })).rejects.toThrow(InvalidArgumentError);
    } finally {
      await llama.freeSlot("refused");
    }
  });
});
