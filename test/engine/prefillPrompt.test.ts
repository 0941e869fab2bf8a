// SlotHandle.prefillPrompt: a prompt evaluated once, then forked into slots that each reply to it
// (what a scope's generateChoices does in the worker). The batches llama.cpp decodes tell how
// often each token was evaluated.
import diagnostics_channel from "node:diagnostics_channel";
import { expect, test } from "@jest/globals";
import type { BatchRecord } from "../../src/engine/batching/batchOrder.js";
import { BATCH_CHANNEL } from "../../src/engine/batching/diagnostics.js";
import { withLlama } from "../support/llamas.js";

const PROMPT = "Once upon a time, Lily";
const MAX_TOKENS = 8;

test("the prompt is decoded once, each branch decodes the prompt's last token and its reply; each reply is the plain one", async () => {
  const plain = await withLlama({ slots: 1 }, async (llama) => {
    llama.createSlot("plain");
    llama.slot("plain").setPrompt(PROMPT);
    return llama.slot("plain").generate({ maxTokens: MAX_TOKENS });
  });
  const batches: BatchRecord[] = [];
  const listener = (record: unknown) => batches.push(record as BatchRecord);
  diagnostics_channel.subscribe(BATCH_CHANNEL, listener);
  try {
    await withLlama({ slots: 3, lockstep: { minBatch: 2 } }, async (llama) => {
      const atLoad = sum(batches); // whatever the load decoded (a warm-up), not ours
      llama.createSlot("a");
      llama.slot("a").setPrompt(PROMPT);
      const promptTokens = await llama.slot("a").prefillPrompt();
      expect(promptTokens).toBe(plain.promptTokenCount);
      expect(llama.tokenCount("a")).toBe(promptTokens); // all of it held, its last token waiting
      const prefilled = sum(batches) - atLoad;
      expect(prefilled).toBe(promptTokens - 1);
      const copies = await Promise.all([llama.forkSlot("a", "b"), llama.forkSlot("a", "c")]);
      const copied = sum(batches) - atLoad - prefilled; // a kv copy decodes one throwaway token; a state copy none
      expect(copied).toBe(copies.filter((how) => how === "kv").length);
      const replies = await Promise.all(["a", "b", "c"].map((id) => llama.slot(id).generate({ maxTokens: MAX_TOKENS })));
      for (const reply of replies) expect({ ...reply, promptTokenCount: plain.promptTokenCount }).toEqual(plain);
      // Each branch: the prompt's last token, then its reply's tokens but the last (it waits).
      expect(sum(batches) - atLoad - prefilled - copied).toBe(3 * (1 + MAX_TOKENS - 1));
    });
  } finally {
    diagnostics_channel.unsubscribe(BATCH_CHANNEL, listener);
  }
});

function sum(batches: readonly BatchRecord[]): number {
  return batches.reduce((total, batch) => total + batch.tokens.reduce((a, b) => a + b, 0), 0);
}
