// Runs under its own isolations.
// The embeddings load option: a second model, a missing one, bad values (off is checked in
// engine/embed.test.ts and server/embeddings.test.ts). Each case loads a parent of its own in a
// worker thread (embed.test.ts runs embeddings under both isolations).
import { describe, expect, test } from "@jest/globals";
import { InvalidArgumentError, LlamaLoad, ModelLoadError, type ParentLoadOptions } from "../../src/index.js";
import { embeddingReference, norm } from "../support/embeddings.js";
import { startParent } from "../support/parents.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const TEXTS = ["Once upon a time, there was a little girl.", "The dog ran to the park."];

function start(options: Partial<ParentLoadOptions>) {
  return startParent({ slots: 1, isolation: "thread", ...options });
}

describe("the embeddings load option", () => {
  test("embeddings: { modelPath } embeds with a second model, as node-llama-cpp does on that model", async () => {
    const expected = await embeddingReference(otherModelPath(), TEXTS);
    const second = await start({ embeddings: { modelPath: otherModelPath(), contextSize: 512 } });
    try {
      const info = second.modelInfo!.embeddings!;
      expect(info).toEqual({ modelPath: otherModelPath(), dimensions: expected.vectors[0]!.length, contextSize: 512 });
      const { vectors, tokenCounts } = await second.embed(TEXTS);
      expect(tokenCounts).toEqual(expected.tokenCounts);
      vectors.forEach((vector, i) => {
        expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-6);
        vector.forEach((value, j) => expect(value).toBeCloseTo(expected.vectors[i]![j]!, 5));
      });
      // The slots still run the main model.
      const scope = second.getScope();
      expect((await scope.generate("Once upon a time", { maxTokens: 4, temperature: 0 })).tokenCount).toBe(4);
    } finally {
      await second.dispose();
    }
  });

  test("a missing embedding model fails init with ModelLoadError naming embeddings.modelPath", async () => {
    await expect(start({ embeddings: { modelPath: "/nonexistent/embedder.gguf" } })).rejects.toThrow(
      expect.objectContaining({
        name: ModelLoadError.name,
        message: expect.stringMatching(/embeddings\.modelPath.*\/nonexistent\/embedder\.gguf/),
      }),
    );
  });

  test("unusable values are refused when the load is made", () => {
    const load = (embeddings: unknown) => () => new LlamaLoad(testLoadOptions({ embeddings: embeddings as never }));
    expect(load("yes")).toThrow(/embeddings must be true, false or \{ modelPath\?, contextSize\? \}/);
    expect(load({ modelpath: "x.gguf" })).toThrow(/Unknown embeddings option "modelpath": did you mean "modelPath"\?/);
    expect(load({ modelPath: "" })).toThrow(InvalidArgumentError);
    expect(load({ contextSize: 0 })).toThrow(/embeddings.contextSize must be a whole number of at least 1/);
    expect(load(true)).not.toThrow();
    expect(load({})).not.toThrow();
  });
});
