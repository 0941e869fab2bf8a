// llama-scope reads a few node-llama-cpp internals (src/engine/internals/) and copies one of its
// unexported functions (batchOrder.ts). Each is checked here against node-llama-cpp itself: an
// upgrade that changes one fails this test by name, instead of silently turning lock-step
// batching or the in-engine fork copy off.
import { readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect, test } from "@jest/globals";
import type {
  BatchItem,
  CustomBatchingPrioritizationStrategy,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
  Token,
} from "node-llama-cpp";
import { getBackend } from "../../src/engine/model/backend.js";
import { parallelShares, sequenceOrderStrategy } from "../../src/engine/batching/batchOrder.js";
import {
  copySequenceKv,
  evaluateWithProbabilities,
  queuedSequenceIds,
  sequenceIdOf,
} from "../../src/engine/internals/nodeLlamaCppInternals.js";
import { traceNativeCalls } from "../../src/engine/internals/nativeCallTrace.js";
import { addonGreedyLoop } from "../../src/engine/internals/addonGreedyLoop.js";
import { toSingleStream } from "../../src/state/kvStreams.js";
import { projectRoot, testModelPath } from "../support/testModel.js";

test("node-llama-cpp internals: LlamaContextSequence._sequenceId and LlamaContext._queuedDecodes", async () => {
  const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: testModelPath() });
  let context: LlamaContext | undefined;
  const seen: Map<BatchItem, number>[] = [];
  const itemCounts: number[] = [];
  // The strategy below reads `context`, so it is declared before the call that creates it.
  // eslint-disable-next-line prefer-const
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

/** A sequence's state as llama.cpp saves it, in the one-stream form llama-scope stores. */
async function savedKv(sequence: LlamaContextSequence, name: string): Promise<Uint8Array> {
  const file = path.join(os.tmpdir(), `llama-scope-internals-${process.pid}-${name}.bin`);
  try {
    await sequence.saveStateToFile(file);
    return toSingleStream(await readFile(file));
  } finally {
    await rm(file, { force: true });
  }
}

/** Bytes that differ between two states of the same length. */
function differing(a: Uint8Array, b: Uint8Array): number {
  expect(b.length).toBe(a.length);
  return a.reduce((count, byte, i) => count + (byte === b[i] ? 0 : 1), 0);
}

test("node-llama-cpp internals: LlamaContextSequence._copyStateFromOtherSequence, and llama.cpp copying a stream's buffers only at the next decode", async () => {
  const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: testModelPath() });
  const context = await model.createContext({ contextSize: 256, sequences: 3, threads: 1 });
  try {
    const [source, raw, copy] = [context.getSequence(), context.getSequence(), context.getSequence()];
    expect(typeof (raw as unknown as { _copyStateFromOtherSequence?: unknown })._copyStateFromOtherSequence).toBe("function");
    await source.evaluateWithoutGeneratingNewTokens(
      model.tokenize("Once upon a time there was a little girl named Lily. She liked to play.", false),
    );
    const expected = await savedKv(source, "source");
    const cells = source.nextTokenIndex;

    // The internal as copySequenceKv calls it: it copies the tokens and reports success...
    const internal = (raw as unknown as { _copyStateFromOtherSequence: (other: LlamaContextSequence, upTo: number) => Promise<boolean> })
      ._copyStateFromOtherSequence;
    expect(await internal.call(raw, source, cells)).toBe(true);
    expect(raw.contextTokens).toEqual(source.contextTokens);
    // ...but the KV buffers are copied at the next decode only: saved now, the copy holds other
    // bytes. (If this fails, llama.cpp copies at once now, and the throwaway decode in
    // copySequenceKv is no longer needed.)
    expect(differing(expected, await savedKv(raw, "raw"))).toBeGreaterThan(cells);

    // copySequenceKv completes the copy: every byte equal but the cells' sequence ids (one each).
    expect(await copySequenceKv(source, copy)).toBe(true);
    expect(copy.contextTokens).toEqual(source.contextTokens);
    expect(differing(expected, await savedKv(copy, "copy"))).toBeLessThanOrEqual(cells);
    // Its throwaway decode also completed the raw copy above.
    expect(differing(expected, await savedKv(raw, "raw-after"))).toBeLessThanOrEqual(cells);
  } finally {
    await context.dispose();
    await model.dispose();
  }
});

test("the sequence-order strategy shares a batch exactly as node-llama-cpp's maximumParallelism does", async () => {
  // node-llama-cpp does not export it; its file is read here so an upgrade that changes it fails.
  const file = path.join(
    projectRoot(),
    "node_modules/node-llama-cpp/dist/evaluator/LlamaContext/utils/batchItemsPrioritizationStrategies/maximumParallelismStrategy.js",
  );
  const { maximumParallelismStrategy } = (await import(pathToFileURL(file).href)) as {
    maximumParallelismStrategy: CustomBatchingPrioritizationStrategy;
  };
  let seed = 7;
  const random = (below: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % below);
  for (let round = 0; round < 500; round++) {
    const items: BatchItem[] = Array.from({ length: 1 + random(10) }, () => ({
      tokens: Array.from({ length: 1 + random(round % 2 === 0 ? 8 : 700) }, () => 1 as Token),
      logits: [],
      evaluationPriority: (1 + random(5)) as BatchItem["evaluationPriority"],
    }));
    const size = 1 + random(round % 3 === 0 ? 16 : 1024);
    const shares = (prioritized: ReturnType<CustomBatchingPrioritizationStrategy>) =>
      prioritized.map(({ item, processAmount }) => [items.indexOf(item), processAmount]);
    expect(shares(parallelShares(items, size))).toEqual(shares(maximumParallelismStrategy({ items, size })));
  }
});

test("the sequence-order strategy sorts by sequence id, and keeps the queue order when any item cannot be traced", () => {
  const items: BatchItem[] = [3, 1, 2].map((n) => ({
    tokens: Array.from({ length: n }, () => 1 as Token),
    logits: [],
    evaluationPriority: 5,
  }));
  const queue = (ids: (number | undefined)[]) =>
    ({ _queuedDecodes: items.map((item, i) => ({ sequenceId: ids[i], tokens: item.tokens })) }) as unknown as LlamaContext;
  const order = (context: LlamaContext | undefined) =>
    sequenceOrderStrategy(() => context)({ items, size: 512 }).map(({ item }) => items.indexOf(item));
  expect(order(queue([7, 2, 5]))).toEqual([1, 2, 0]);
  expect(order(queue([7, undefined, 5]))).toEqual([0, 1, 2]);
  expect(order({} as LlamaContext)).toEqual([0, 1, 2]);
  expect(order(undefined)).toEqual([0, 1, 2]);
});

test("evaluateWithProbabilities: node-llama-cpp's evaluateWithMetadata gives the tokens evaluate gives, with their distribution (in Jest's realm too)", async () => {
  const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: testModelPath() });
  const context = await model.createContext({ contextSize: 256, sequences: 2, threads: 1 });
  try {
    const input = [model.tokens.bos!, ...model.tokenize("Once upon a time")];
    const [plain, probed] = [context.getSequence(), context.getSequence()];
    const expected: Token[] = [];
    for await (const token of plain.evaluate(input, { temperature: 0 })) if (expected.push(token) >= 8) break;
    const steps = [];
    for await (const step of evaluateWithProbabilities(probed, input, { temperature: 0 }, true)) if (steps.push(step) >= 8) break;
    expect(steps.map((step) => step.token)).toEqual(expected);
    for (const { token, probabilities } of steps) {
      expect(typeof token).toBe("number");
      const ordered = [...probabilities!.entries()];
      expect(ordered[0]![0]).toBe(token); // greedy: the most likely token, first in the map
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]![1]).toBeLessThanOrEqual(ordered[i - 1]![1]);
      expect(ordered.reduce((sum, [, p]) => sum + p, 0)).toBeCloseTo(1, 4);
    }
    // Leaving the loop took the last token back, as evaluate does: both sequences hold the same tokens.
    expect(probed.contextTokens).toEqual(plain.contextTokens);
    // Without `all`, only the chosen token's probability: the same number as in the distribution.
    await probed.clearHistory();
    const confident = [];
    for await (const step of evaluateWithProbabilities(probed, input, { temperature: 0 }, false)) if (confident.push(step) >= 8) break;
    expect(confident.map((step) => step.token)).toEqual(expected);
    for (const [i, step] of confident.entries()) {
      expect(step.probabilities).toBeUndefined();
      expect(step.confidence).toBeCloseTo(steps[i]!.probabilities!.get(step.token)!, 5);
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
});

/** The test model with `count` one-sequence contexts of 256 tokens, disposed after `run`. */
async function withContexts(count: number, run: (model: LlamaModel, contexts: LlamaContext[]) => Promise<void>): Promise<void> {
  const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: testModelPath() });
  const contexts: LlamaContext[] = [];
  try {
    for (let i = 0; i < count; i++) contexts.push(await model.createContext({ contextSize: 256, sequences: 1, threads: 1 }));
    await run(model, contexts);
  } finally {
    for (const context of contexts) await context.dispose();
    await model.dispose();
  }
}

test("traceNativeCalls: LlamaContext._ctx's decodeBatch and sampleToken, one sample per generated token, put back by stop()", async () => {
  await withContexts(1, async (model, [context]) => {
    const addon = (context as unknown as { _ctx: Record<string, unknown> })._ctx;
    const methods = [addon.decodeBatch, addon.sampleToken];
    const trace = traceNativeCalls(context!);
    expect(trace).toBeDefined();
    const sequence = context!.getSequence();
    const generated: Token[] = [];
    for await (const token of sequence.evaluate(model.tokenize("Once upon a time", true), { temperature: 0 })) {
      generated.push(token);
      if (generated.length === 5) break;
    }
    trace!.stop();
    // The prompt's decode, then one per token taken from the iterator but the last (not evaluated yet).
    expect(trace!.samples).toHaveLength(5);
    expect(trace!.decodes).toHaveLength(5);
    for (const [called, settled] of [...trace!.decodes, ...trace!.samples]) expect(settled).toBeGreaterThanOrEqual(called);
    expect([addon.decodeBatch, addon.sampleToken]).toEqual(methods);
    await sequence.dispose();
  });
});

test("addonGreedyLoop: LlamaContext._ctx, Llama._bindings.AddonSampler and LlamaModel._model give the tokens evaluate gives at temperature 0", async () => {
  await withContexts(2, async (model, [bare, context]) => {
    const loop = addonGreedyLoop(bare!);
    expect(loop).toBeDefined();
    const prompt = [model.tokens.bos!, ...model.tokenize("Once upon a time")];
    const sequence = context!.getSequence();
    const expected: Token[] = [];
    for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
      expected.push(token);
      if (expected.length === 24) break;
    }
    expect(await loop!(prompt, 24)).toEqual(expected);
    // Each call starts over on an empty sequence.
    expect(await loop!(prompt, 24)).toEqual(expected);
  });
});
