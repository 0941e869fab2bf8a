// llama-scope reads a few node-llama-cpp internals (src/engine/internals/) and copies one of its
// unexported functions (batchOrder.ts). Each is checked here against node-llama-cpp itself: an
// upgrade that changes one fails this test by name, instead of silently turning lock-step
// batching off.
import { expect, test } from "@jest/globals";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { BatchItem, CustomBatchingPrioritizationStrategy, LlamaContext, Token } from "node-llama-cpp";
import { getBackend } from "../src/engine/backend.js";
import { parallelShares, sequenceOrderStrategy } from "../src/engine/batchOrder.js";
import { queuedSequenceIds, sequenceIdOf } from "../src/engine/internals/nodeLlamaCppInternals.js";
import { projectRoot, testModelPath } from "./support/testModel.js";

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

test("the sequence-order strategy shares a batch exactly as node-llama-cpp's maximumParallelism does", async () => {
  // node-llama-cpp does not export it; its file is read here so an upgrade that changes it fails.
  const file = path.join(projectRoot(), "node_modules/node-llama-cpp/dist/evaluator/LlamaContext/utils/batchItemsPrioritizationStrategies/maximumParallelismStrategy.js");
  const { maximumParallelismStrategy } = (await import(pathToFileURL(file).href)) as { maximumParallelismStrategy: CustomBatchingPrioritizationStrategy };
  let seed = 7;
  const random = (below: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % below);
  for (let round = 0; round < 500; round++) {
    const items: BatchItem[] = Array.from({ length: 1 + random(10) }, () => ({
      tokens: Array.from({ length: 1 + random(round % 2 === 0 ? 8 : 700) }, () => 1 as Token),
      logits: [],
      evaluationPriority: (1 + random(5)) as BatchItem["evaluationPriority"],
    }));
    const size = 1 + random(round % 3 === 0 ? 16 : 1024);
    const shares = (prioritized: ReturnType<CustomBatchingPrioritizationStrategy>) => prioritized.map(({ item, processAmount }) => [items.indexOf(item), processAmount]);
    expect(shares(parallelShares(items, size))).toEqual(shares(maximumParallelismStrategy({ items, size })));
  }
});

test("the sequence-order strategy sorts by sequence id, and keeps the queue order when any item cannot be traced", () => {
  const items: BatchItem[] = [3, 1, 2].map((n) => ({ tokens: Array.from({ length: n }, () => 1 as Token), logits: [], evaluationPriority: 5 }));
  const queue = (ids: (number | undefined)[]) => ({ _queuedDecodes: items.map((item, i) => ({ sequenceId: ids[i], tokens: item.tokens })) }) as unknown as LlamaContext;
  const order = (context: LlamaContext | undefined) => sequenceOrderStrategy(() => context)({ items, size: 512 }).map(({ item }) => items.indexOf(item));
  expect(order(queue([7, 2, 5]))).toEqual([1, 2, 0]);
  expect(order(queue([7, undefined, 5]))).toEqual([0, 1, 2]);
  expect(order({} as LlamaContext)).toEqual([0, 1, 2]);
  expect(order(undefined)).toEqual([0, 1, 2]);
});
