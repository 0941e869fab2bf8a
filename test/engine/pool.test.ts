// The engine's sequence pool (src/engine/SequencePool.ts): which sequence a new slot gets, and
// what a freed slot leaves in it.
import { expect, test } from "@jest/globals";
import type { Llama } from "../../src/index.js";
import { withLlama } from "../support/llamas.js";

async function reply(llama: Llama, id: string, prompt: string, maxTokens: number) {
  llama.setSlot(id);
  llama.setPrompt(prompt);
  return llama.generate({ maxTokens, temperature: 0 });
}

test("a new slot gets the lowest free sequence, and a freed one comes back empty (tokens, KV cache)", async () => {
  const prompt = "Tom had a big red ball.";
  const [reused, fresh] = await Promise.all([
    withLlama({ slots: 3 }, async (llama) => {
      for (const id of ["a", "b", "c"]) llama.createSlot(id);
      await reply(llama, "b", "Once upon a time there was a dog", 200);
      await llama.freeSlot("b");
      llama.createSlot("d");
      expect(llama.tokenCount("d")).toBe(0);
      return { result: await reply(llama, "d", prompt, 16), state: await llama.saveState() };
    }),
    withLlama({ slots: 3 }, async (llama) => {
      llama.createSlot("a");
      llama.createSlot("d");
      return { result: await reply(llama, "d", prompt, 16), state: await llama.saveState() };
    }),
  ]);
  // A saved state records the sequence id with each KV cell, so equal bytes say both things: "d"
  // got b's sequence (1), not the untouched 2, and it holds nothing of b's conversation (tokens
  // and KV cells are those of a sequence that was never used).
  expect(reused.result).toEqual(fresh.result);
  expect(Buffer.from(reused.state).equals(Buffer.from(fresh.state))).toBe(true);
});

test("every slot freed and taken again, many times: replies stay those of fresh sequences", async () => {
  await withLlama({ slots: 2 }, async (llama) => {
    llama.createSlot("x");
    const first = await reply(llama, "x", "The cat sat on the mat.", 24);
    for (let round = 0; round < 5; round++) {
      llama.createSlot("noise");
      await reply(llama, "noise", `Round ${round}: once upon a time`, 40);
      await llama.freeSlot("x");
      await llama.freeSlot("noise");
      llama.createSlot("x");
      expect(await reply(llama, "x", "The cat sat on the mat.", 24)).toEqual(first);
    }
  });
});
