import type { Embeddings } from "./Embeddings.js";

/** Embeddings as one `Float32Array` (vectors end to end) and their length: cheap to transfer between threads and processes. */
export interface PackedEmbeddings {
  packed: Float32Array;
  dimensions: number;
  tokenCounts: number[];
}

/** Vectors end to end in one buffer; lossless for vectors of float32s (as `unitNorm` makes them). */
export function packEmbeddings({ vectors, tokenCounts }: Embeddings): PackedEmbeddings {
  const dimensions = vectors[0]?.length ?? 0;
  const packed = new Float32Array(vectors.length * dimensions);
  vectors.forEach((vector, index) => packed.set(vector, index * dimensions));
  return { packed, dimensions, tokenCounts };
}

/** The vectors back as `number[]`s, one per token count. */
export function unpackEmbeddings({ packed, dimensions, tokenCounts }: PackedEmbeddings): Embeddings {
  const vectors = tokenCounts.map((_, index) => Array.from(packed.subarray(index * dimensions, (index + 1) * dimensions)));
  return { vectors, tokenCounts };
}
