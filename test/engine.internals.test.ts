// llama-scope reads a few node-llama-cpp internals (src/engine/internals/). Each read is checked
// here against a real context: an upgrade of node-llama-cpp that changes one fails this test
// by name, instead of silently turning lock-step batching off.
import { expect, test } from "@jest/globals";
import type { BatchItem, LlamaContext } from "node-llama-cpp";
import { getBackend } from "../src/engine/backend.js";
import { queuedSequenceIds, sequenceIdOf } from "../src/engine/internals/nodeLlamaCppInternals.js";
import { testModelPath } from "./support/testModel.js";

test("node-llama-cpp internals: LlamaContextSequence._sequenceId and LlamaContext._queuedDecodes", async () => {
  const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: testModelPath() });
  let context: LlamaContext | undefined;
  const seen: Map<BatchItem, number>[] = [];
  const itemCounts: number[] = [];
  context = await model.createContext({
    contextSize: 256,
    sequences: 3,
    threads: 1,
    batching: {
      itemPrioritizationStrategy: ({ items }) => {
        seen.push(queuedSequenceIds(context!, items));
        itemCounts.push(items.length);
        return items.map((item) => ({ item, processAmount: item.tokens.length }));
      },
    },
  });
  try {
    const sequences = [context.getSequence(), context.getSequence(), context.getSequence()];
    expect(sequences.map((sequence) => sequenceIdOf(sequence))).toEqual([0, 1, 2]);
    const prompt = model.tokenize("Once upon a time");
    await Promise.all(sequences.map((sequence) => sequence.evaluateWithoutGeneratingNewTokens(prompt)));
    // Every item of every batch was traced back to its sequence, each id once per batch.
    expect(seen.length).toBeGreaterThan(0);
    seen.forEach((ids, i) => {
      expect(ids.size).toBe(itemCounts[i]);
      expect(new Set(ids.values()).size).toBe(ids.size);
    });
    expect(new Set(seen.flatMap((ids) => [...ids.values()]))).toEqual(new Set([0, 1, 2]));
  } finally {
    await context.dispose();
    await model.dispose();
  }
});
