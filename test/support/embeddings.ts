import { getLlama, LlamaLogLevel } from "node-llama-cpp";

/**
 * What node-llama-cpp's own embedding context gives for `texts` on a model file (a context of
 * 2048 tokens, one thread), each vector scaled to length 1 here: what `embed` must return.
 */
export async function embeddingReference(modelPath: string, texts: string[]): Promise<{ vectors: number[][]; tokenCounts: number[] }> {
  const backend = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await backend.loadModel({ modelPath });
  try {
    const context = await model.createEmbeddingContext({ contextSize: 2048, threads: 1 });
    const vectors: number[][] = [];
    for (const text of texts) {
      const { vector } = await context.getEmbeddingFor(text);
      vectors.push(vector.map((value) => value / norm(vector)));
    }
    return { vectors, tokenCounts: texts.map((text) => context.calculateInputLength(text)) };
  } finally {
    await model.dispose();
  }
}

/** A vector's Euclidean length. */
export function norm(vector: readonly number[]): number {
  return Math.hypot(...vector);
}
