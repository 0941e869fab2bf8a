/** Options of `embed` (`Llama.embed`, `LlamaParent.embed`). */
export interface EmbedOptions {
  /**
   * Aborting it stops the call between two texts (a text being computed finishes first): the call
   * rejects with the signal's reason, an `AbortError` by default, as `fetch` does.
   */
  signal?: AbortSignal;
}

/** What `embed` resolves with: one vector per text, in the order given. */
export interface Embeddings {
  /**
   * One embedding per text, normalized to unit length (Euclidean norm 1, within float32 rounding),
   * so the dot product of two is their cosine similarity. Every value is a float32 (what llama.cpp
   * computes), held in a plain `number[]`: JSON-ready, as OpenAI's clients give them.
   */
  vectors: number[][];
  /** Tokens each text became, as the model evaluated it (its start and end tokens included). */
  tokenCounts: number[];
}

/** Where embeddings come from, once the model is loaded (`Llama.embeddingInfo`, `ModelReady.embeddings`). */
export interface EmbeddingInfo {
  /** The model that computes them, as an absolute path: the loaded model's, or `embeddings.modelPath`'s. */
  modelPath: string;
  /** Numbers in each vector. */
  dimensions: number;
  /** Tokens the embedding context holds: a text may become one token fewer at most. */
  contextSize: number;
}
