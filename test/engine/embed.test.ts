// Llama.embed, the direct API: node-llama-cpp's own vectors scaled to length 1, in an embedding
// context of the engine's own; off with embeddings: false; dispose waits for a call in flight.
import { expect, test } from "@jest/globals";
import { DisposedError, EmbeddingsUnavailableError, Llama } from "../../src/index.js";
import { embeddingReference, norm } from "../support/embeddings.js";
import { withLlama } from "../support/llamas.js";
import { testLoadOptions, testModelPath } from "../support/testModel.js";

const TEXTS = ["Once upon a time, there was a little girl.", "The dog ran to the park."];

test("embed gives node-llama-cpp's vectors at length 1 and leaves every slot as it was", async () => {
  const expected = await embeddingReference(testModelPath(), TEXTS);
  await withLlama({ slots: 1 }, async (llama) => {
    expect(llama.embeddingInfo).toEqual({ modelPath: testModelPath(), dimensions: expected.vectors[0]!.length, contextSize: 2048 });
    llama.createSlot("a");
    llama.setSlot("a");
    llama.setPrompt("Once upon a time");
    await llama.generate({ maxTokens: 4 });
    const history = llama.historyTokens("a");
    const { vectors, tokenCounts } = await llama.embed(TEXTS);
    expect(tokenCounts).toEqual(expected.tokenCounts);
    vectors.forEach((vector, i) => {
      expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-6);
      vector.forEach((value, j) => expect(value).toBeCloseTo(expected.vectors[i]![j]!, 5));
      // float32s: what crosses to a LlamaParent in a Float32Array, unchanged.
      expect(Array.from(new Float32Array(vector))).toEqual(vector);
    });
    expect(llama.historyTokens("a")).toEqual(history);
  });
});

test("embeddings: false: embed throws EmbeddingsUnavailableError and embeddingInfo is undefined", async () => {
  await withLlama({ slots: 1, embeddings: false }, async (llama) => {
    expect(llama.embeddingInfo).toBeUndefined();
    await expect(llama.embed("x")).rejects.toBeInstanceOf(EmbeddingsUnavailableError);
  });
});

test("dispose with an embed call in flight: it rejects with DisposedError after its current text; later calls too", async () => {
  const llama = await Llama.load(testLoadOptions({ slots: 1 }));
  const many = Array.from({ length: 1000 }, (_, i) => `Story ${i}: the cat sat on the mat and looked at the moon.`);
  // Its handler is attached now: it rejects while dispose() is awaited.
  const running = llama.embed(many).then(
    () => "resolved",
    (error: unknown) => error,
  );
  await llama.dispose();
  expect(await running).toBeInstanceOf(DisposedError);
  await expect(llama.embed("x")).rejects.toBeInstanceOf(DisposedError);
});
