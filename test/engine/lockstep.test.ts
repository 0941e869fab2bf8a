// Lock-step batching on the real model: what the batch strategy and the step barrier see while
// slots generate together (src/engine/batchOrder.ts, src/engine/StepBarrier.ts).
import diagnostics_channel from "node:diagnostics_channel";
import { afterEach, describe, expect, test } from "@jest/globals";
import type { BatchRecord } from "../../src/engine/batching/batchOrder.js";
import { BATCH_CHANNEL, STEP_CHANNEL } from "../../src/engine/batching/diagnostics.js";
import type { StepRecord } from "../../src/engine/batching/StepBarrier.js";
import { minBatchFrom } from "../../src/engine/batching/batchPays.js";
import { InvalidArgumentError, Llama, SlotNotFoundError, type GenerationResult } from "../../src/index.js";
import { withLlama } from "../support/llamas.js";

/** Openings the test model continues past 64 tokens at temperature 0. */
const PROMPTS = ["Once upon a time", "Tom had a big red ball.", "The cat sat on the mat.", "Lily went to the park"];

const stops: Array<() => void> = [];
afterEach(() => stops.splice(0).forEach((stop) => stop()));

function record(): { batches: BatchRecord[]; steps: StepRecord[] } {
  const batches: BatchRecord[] = [];
  const steps: StepRecord[] = [];
  stops.push(
    observe(BATCH_CHANNEL, (batch: BatchRecord) => batches.push(batch)),
    observe(STEP_CHANNEL, (step: StepRecord) => steps.push(step)),
  );
  return { batches, steps };
}

/** Subscribes `listener` to the diagnostics channel `name`; returns the function that unsubscribes it. */
function observe<T>(name: string, listener: (record: T) => void): () => void {
  const subscriber = (record: unknown) => listener(record as T);
  diagnostics_channel.subscribe(name, subscriber);
  return () => diagnostics_channel.unsubscribe(name, subscriber);
}

/** Starts a generation on slot `id` (created if new) with `prompt`. */
function start(llama: Llama, id: string, prompt: string, options: Parameters<Llama["generate"]>[0], onText?: (text: string) => void) {
  if (!llama.slots.includes(id)) llama.createSlot(id);
  llama.setSlot(id);
  llama.setPrompt(prompt);
  return llama.generate({ temperature: 0, ...options }, onText);
}

/** Slots only leave a run of steps: a batch holds no sequence the batch before it lacked. */
const isSubset = (ids: readonly (number | undefined)[], of: readonly (number | undefined)[]) => ids.every((id) => of.includes(id));

/** Increasing, each id one more than the one before it: what llama.cpp decodes as one micro-batch. */
const consecutive = (ids: readonly (number | undefined)[]) => ids.every((id, i) => id !== undefined && (i === 0 || id === ids[i - 1]! + 1));

describe("lock-step batching", () => {
  test("4 slots generating at once: every step decodes all four tokens in one batch, sequences 0-3 in order", async () => {
    const maxTokens = 64;
    const { batches, steps } = record();
    // minBatch set: the probe's own batches would come first, and its verdict depends on the machine.
    const results = await withLlama({ slots: 4, lockstep: { minBatch: 2 } }, (llama) =>
      Promise.all(PROMPTS.map((prompt, i) => start(llama, `s${i}`, prompt, { maxTokens }))),
    );
    expect(results.map((r) => r.finishReason)).toEqual(["maxTokens", "maxTokens", "maxTokens", "maxTokens"]);
    // Every batch is in increasing (the strategy), consecutive (the barrier and the pool) id order.
    for (const batch of batches) expect(consecutive(batch.sequenceIds)).toBe(true);
    // The first step is the prompts' and the first tokens' (nobody waits for a slot it has not
    // generated with yet, so the first slot to have its token goes one token ahead, alone). After
    // it, every step is one batch holding every slot still generating, one token each.
    const steady = (b: BatchRecord) => b.tokens.every((count) => count === 1);
    const firstFull = batches.findIndex((b) => steady(b) && b.sequenceIds.join() === "0,1,2,3");
    expect(firstFull).toBeGreaterThanOrEqual(0);
    expect(firstFull).toBeLessThanOrEqual(4);
    // A step the barrier gave up waiting on (a machine stall over STEP_PATIENCE_MS) may split once.
    const lateSteps = steps.filter((s) => s.late.length > 0).length;
    expect(lateSteps).toBeLessThanOrEqual(2);
    const after = batches.slice(firstFull);
    const broken = after.filter((b, i) => !steady(b) || (i > 0 && !isSubset(b.sequenceIds, after[i - 1]!.sequenceIds)));
    expect(broken.length).toBeLessThanOrEqual(lateSteps);
    expect(after.length).toBeGreaterThanOrEqual(maxTokens - 2);
    expect(batches.length).toBeLessThanOrEqual(maxTokens + 2 + lateSteps);
    // The barrier releases each step in sequence-id order.
    for (const step of steps) expect(step.sequenceIds).toEqual([...step.sequenceIds].sort((a, b) => a - b));
  });

  test("slots that stop (maxTokens, a stop string, an abort, freeSlot) leave the step: no step ever waits for a finished slot", async () => {
    const { steps, batches } = record();
    const ended = new Map<string, number>();
    let freed: Promise<void> | undefined;
    const results = await withLlama({ slots: 5, lockstep: { minBatch: 2 } }, async (llama) => {
      // The stop string: a piece of slot 2's own reply, some tokens in.
      const reference = await start(llama, "s2", PROMPTS[2]!, { maxTokens: 24 });
      await llama.freeSlot("s2");
      const stop = reference.text.slice(30, 36);
      expect(stop.trim().length).toBeGreaterThan(2);
      const abort = new AbortController();
      let pieces = 0;
      const calls: Record<string, Promise<GenerationResult>> = {
        s0: start(llama, "s0", PROMPTS[0]!, { maxTokens: 64 }),
        s1: start(llama, "s1", PROMPTS[1]!, { maxTokens: 5 }),
        s2: start(llama, "s2", PROMPTS[2]!, { maxTokens: 64, stop: [stop] }),
        s3: start(llama, "s3", PROMPTS[3]!, { maxTokens: 64, signal: abort.signal }, () => {
          if (++pieces === 8) abort.abort();
        }),
        s4: start(llama, "s4", PROMPTS[1]!, { maxTokens: 64 }, () => {
          freed ??= llama.freeSlot("s4");
        }),
      };
      const settled = Object.entries(calls).map(([id, call]) =>
        call
          .then(
            (result) => [id, result] as const,
            (error: unknown) => [id, error] as const,
          )
          .finally(() => ended.set(id, performance.now())),
      );
      const outcomes = Object.fromEntries(await Promise.all(settled));
      await freed;
      return outcomes as Record<string, GenerationResult>;
    });
    expect(results.s0!.finishReason).toBe("maxTokens");
    expect(results.s1!.finishReason).toBe("maxTokens");
    expect(results.s2!.finishReason).toBe("stop");
    expect(results.s3!.finishReason).toBe("aborted");
    expect(results.s4).toBeInstanceOf(SlotNotFoundError);
    // Slot sN holds sequence N (the lowest free sequence each time). A step that gave up on a
    // slot must have given up on one still generating: one that had left would have been waited
    // for needlessly, for the whole patience.
    for (const step of steps) for (const id of step.late) expect(ended.get(`s${id}`)!).toBeGreaterThan(step.at);
    // Once alone, slot 0 goes on one token per batch.
    const alone = batches.filter((b) => b.sequenceIds.join() === "0");
    expect(alone.length).toBeGreaterThan(30);
  });

  test("one slot generating is released at once every step, and its reply is the free-running one", async () => {
    const { steps, batches } = record();
    const locked = await withLlama({ slots: 4 }, (llama) => start(llama, "solo", PROMPTS[0]!, { maxTokens: 48 }));
    expect(steps.length).toBe(47);
    expect(steps.every((s) => s.sequenceIds.join() === "0" && s.late.length === 0)).toBe(true);
    expect(batches.every((b) => b.sequenceIds.join() === "0")).toBe(true);
    stops.splice(0).forEach((stop) => stop());
    const free = await withLlama({ slots: 4, lockstep: false }, (llama) => start(llama, "solo", PROMPTS[0]!, { maxTokens: 48 }));
    expect(locked).toEqual(free);
  });

  test("lockstep: false: no barrier, node-llama-cpp's own batch strategy, the same replies", async () => {
    const run = (lockstep: boolean) =>
      withLlama({ slots: 4, lockstep }, (llama) =>
        Promise.all(PROMPTS.map((prompt, i) => start(llama, `s${i}`, prompt, { maxTokens: 32 }))),
      );
    const { steps, batches } = record();
    const free = await run(false);
    expect(steps).toEqual([]);
    expect(batches).toEqual([]);
    expect(await run(true)).toEqual(free);
  });

  test("fewer slots generating than minBatch take turns: one token per batch, lowest sequence first, each reply the one it gives alone", async () => {
    const maxTokens = 40;
    const alone = await withLlama({ slots: 4, lockstep: { minBatch: 2 } }, async (llama) => {
      const replies: GenerationResult[] = [];
      for (const [i, prompt] of PROMPTS.entries()) replies.push(await start(llama, `s${i}`, prompt, { maxTokens }));
      return replies;
    });
    const { batches, steps } = record();
    const together = await withLlama({ slots: 4, lockstep: { minBatch: 5 } }, (llama) =>
      Promise.all(PROMPTS.map((prompt, i) => start(llama, `s${i}`, prompt, { maxTokens }))),
    );
    // Decoded one at a time, every slot gets the bits it gets alone: the replies are exact.
    expect(together).toEqual(alone);
    const generationBatches = batches.filter((b) => b.tokens.every((count) => count === 1));
    expect(generationBatches.length).toBeGreaterThanOrEqual(4 * (maxTokens - 2));
    expect(generationBatches.every((b) => b.sequenceIds.length === 1)).toBe(true);
    // The barrier still gathers the slots: most steps release all four together.
    expect(steps.filter((s) => s.sequenceIds.join() === "0,1,2,3").length).toBeGreaterThan(maxTokens / 2);
    // Within a step, the turns go in sequence order: the batches after a full step's release are 0, 1, 2, 3.
    const fullStep = steps.find((s) => s.sequenceIds.join() === "0,1,2,3" && s.late.length === 0)!;
    const next = generationBatches.filter((b) => b.at >= fullStep.at).slice(0, 4);
    expect(next.map((b) => b.sequenceIds[0])).toEqual([0, 1, 2, 3]);
  });

  test("the probe at load decides minBatch; lockstep.minBatch sets it; lockstep: false has none", async () => {
    const probed = await withLlama({ slots: 4 }, async (llama) => llama.lockstepMinBatch);
    expect(Number.isInteger(probed)).toBe(true);
    expect(probed).toBeGreaterThanOrEqual(2);
    expect(probed).toBeLessThanOrEqual(5);
    expect(await withLlama({ slots: 4, lockstep: { minBatch: 3 } }, async (llama) => llama.lockstepMinBatch)).toBe(3);
    expect(await withLlama({ slots: 4, lockstep: false }, async (llama) => llama.lockstepMinBatch)).toBeUndefined();
    for (const lockstep of [{ minBatch: 0 }, { minBatch: 2.5 }, { min: 2 }, "yes", null])
      await expect(Llama.load({ modelPath: "unused.gguf", lockstep } as never)).rejects.toThrow(InvalidArgumentError);
  });

  test("minBatchFrom: the smallest size from which every larger batch beats its tokens one by one", () => {
    // Milliseconds per batch of 1..8 tokens, measured on the benchmarks' 125M Q8_0 model (2 cores).
    const sized = [0, 4.7, 14.7, 17.9, 20.1, 25.1, 27.2, 26.9, 24.6];
    expect(minBatchFrom(sized, 8)).toBe(7); // 6 tokens: 27.2 ms ≥ 0.95 × 6 × 4.7
    const small = [0, 0.5, 0.6, 0.7, 0.8];
    expect(minBatchFrom(small, 4)).toBe(2);
    const never = [0, 1, 3, 4, 5];
    expect(minBatchFrom(never, 4)).toBe(5);
    // A size that does not pay below one that does: batches start above it.
    expect(minBatchFrom([0, 1, 1.5, 3, 3], 4)).toBe(4);
  });
});
