// parent.embed: unit-length vectors computed in the engine's own embedding context, checked
// against node-llama-cpp's embedding context used directly; errors that say what to do; an
// embed beside a generation changes nothing of it; dispose with an embed in flight.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { ContextOverflowError, DisposedError, InvalidArgumentError, type LlamaParent } from "../../src/index.js";
import { startParent } from "../support/parents.js";
import { runFixture } from "../support/runFixture.js";
import { testModelPath } from "../support/testModel.js";
import { embeddingReference, norm } from "../support/embeddings.js";

const TEXTS = ["Once upon a time, there was a little girl.", "Once upon a time, there was a little girl.", "The dog ran to the park."];
/** Enough texts that a call is still running while the test does something beside it. */
const MANY = Array.from({ length: 300 }, (_, i) => `Story ${i}: the cat sat on the mat and looked at the moon for a long time.`);

let parent: LlamaParent;
beforeAll(async () => {
  parent = await startParent({ slots: 2 });
});
afterAll(() => parent.dispose());

describe("parent.embed", () => {
  test("unit-length vectors, node-llama-cpp's own up to their length; identical texts give identical vectors, others differ", async () => {
    const expected = await embeddingReference(testModelPath(), TEXTS);
    const { vectors, tokenCounts } = await parent.embed(TEXTS);
    expect(parent.modelInfo!.embeddings).toEqual({
      modelPath: testModelPath(),
      dimensions: expected.vectors[0]!.length,
      contextSize: 2048,
    });
    expect(tokenCounts).toEqual(expected.tokenCounts);
    expect(vectors).toHaveLength(3);
    vectors.forEach((vector, i) => {
      expect(vector).toHaveLength(expected.vectors[i]!.length);
      expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-6);
      vector.forEach((value, j) => expect(value).toBeCloseTo(expected.vectors[i]![j]!, 5));
    });
    expect(vectors[1]).toEqual(vectors[0]);
    expect(vectors[2]).not.toEqual(vectors[0]);
  });

  test("a batch gives what the texts give one by one, and one string what an array of it gives", async () => {
    const batch = await parent.embed(TEXTS);
    for (const [i, text] of TEXTS.entries()) {
      const single = await parent.embed(text);
      expect(single.vectors).toEqual([batch.vectors[i]]);
      expect(single.tokenCounts).toEqual([batch.tokenCounts[i]]);
    }
  });

  test("bad input is refused with what to do, nothing is computed, and the next call works", async () => {
    await expect(parent.embed([])).rejects.toThrow(new InvalidArgumentError("embed was given an empty array: pass at least one text."));
    await expect(parent.embed("")).rejects.toThrow(InvalidArgumentError);
    await expect(parent.embed(["fine", ""])).rejects.toThrow(/Text 1 is empty/);
    await expect(parent.embed(["fine", 7 as unknown as string])).rejects.toThrow(/Text 1 is number 7, not a string/);
    await expect(parent.embed(null as unknown as string)).rejects.toThrow(InvalidArgumentError);
    await expect(parent.embed("x", { signal: "no" } as never)).rejects.toThrow(/AbortSignal/);
    await expect(parent.embed("x", { sigal: undefined } as never)).rejects.toThrow(/did you mean "signal"/);
    // Too long by its characters (refused before tokenizing) and by its tokens (tokenized, measured).
    const byLength = parent.embed(["fine", "a".repeat(1_000_000)]);
    await expect(byLength).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(byLength).rejects.toThrow(/Text 1 is 1,000,000 characters long; the embedding context takes 2,047 tokens at most/);
    const wordy = Array.from({ length: 1200 }, (_, i) => `w${i}`).join(" ");
    await expect(parent.embed(wordy)).rejects.toThrow(/Text 0 is [\d,]+ tokens long; the embedding context takes 2,047 tokens at most/);
    expect((await parent.embed("fine")).vectors).toHaveLength(1);
  });

  test("a scope's reply is the same with an embed call running beside it, and its slot is untouched", async () => {
    const prompt = "Once upon a time";
    const options = { maxTokens: 48, temperature: 0 };
    const alone = parent.getScope();
    const expected = await alone.generate(prompt, options);
    const expectedNext = await alone.generate("\nThen", options);
    await alone.dispose();

    const scope = parent.getScope();
    const [reply, embedded] = await Promise.all([scope.generate(prompt, options), parent.embed(MANY)]);
    expect(reply.text).toBe(expected.text);
    expect(embedded.vectors).toHaveLength(MANY.length);
    const [next] = await Promise.all([scope.generate("\nThen", options), parent.embed(MANY.slice(0, 50))]);
    expect(next.text).toBe(expectedNext.text);
    await scope.dispose();
  });

  test("an aborted signal rejects with an AbortError, before the call or while it runs; the next call works", async () => {
    await expect(parent.embed("x", { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
    const controller = new AbortController();
    const running = parent.embed(MANY, { signal: controller.signal });
    controller.abort();
    await expect(running).rejects.toMatchObject({ name: "AbortError" });
    expect((await parent.embed(TEXTS)).vectors).toEqual((await parent.embed(TEXTS)).vectors);
  });

  test("dispose with an embed call in flight rejects it with DisposedError, and the process exits by itself", async () => {
    const run = await runFixture("embedDisposeThenExit");
    expect(run.signal).toBeNull(); // killed = it hung on an open handle
    expect(run.code).toBe(0);
    expect(run.report).toEqual({ inFlight: DisposedError.name });
  });
});
