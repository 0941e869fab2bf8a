// llama-scope reads a few node-llama-cpp internals (src/engine/internals/). Each read is checked
// here against a real context: an upgrade of node-llama-cpp that changes one fails this test
// by name, instead of silently turning lock-step batching off.
import { readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@jest/globals";
import type { BatchItem, LlamaContext, LlamaContextSequence } from "node-llama-cpp";
import { getBackend } from "../src/engine/backend.js";
import { copySequenceKv, queuedSequenceIds, sequenceIdOf } from "../src/engine/internals/nodeLlamaCppInternals.js";
import { toSingleStream } from "../src/engine/state/kvStreams.js";
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
    await source.evaluateWithoutGeneratingNewTokens(model.tokenize("Once upon a time there was a little girl named Lily. She liked to play.", false));
    const expected = await savedKv(source, "source");
    const cells = source.nextTokenIndex;

    // The internal as copySequenceKv calls it: it copies the tokens and reports success...
    const internal = (raw as unknown as { _copyStateFromOtherSequence(other: LlamaContextSequence, upTo: number): Promise<boolean> })._copyStateFromOtherSequence;
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
