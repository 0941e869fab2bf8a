import { InvalidArgumentError } from "../shared/errors/index.js";
import { assertKnownKeys, positiveInteger } from "../shared/validate.js";

/** The `embeddings` load option as an object: where embeddings come from (see `LlamaLoadOptions.embeddings`). */
export interface EmbeddingOptions {
  /**
   * A second model, an embedding model, to compute embeddings with instead of the loaded one: a
   * GGUF file's path or a model URI, as `modelPath`. It is loaded with the main model (so a bad
   * path fails the load, not the first `embed`). Default: the loaded model.
   */
  modelPath?: string;
  /**
   * Tokens the embedding context holds: the longest text it embeds is one token shorter. Default:
   * the load's `contextSize`, capped by the embedding model's training context.
   */
  contextSize?: number;
}

/** `embeddings` checked: off, or where from and how long (undefined: the defaults). */
export type ResolvedEmbeddings = false | { modelPath: string | undefined; contextSize: number | undefined };

/** Checks the `embeddings` load option; absent or `true`: the loaded model's, made at first use. */
export function resolveEmbeddings(embeddings: unknown): ResolvedEmbeddings {
  if (embeddings === undefined || embeddings === true) return { modelPath: undefined, contextSize: undefined };
  if (embeddings === false) return false;
  if (typeof embeddings !== "object" || embeddings === null || Array.isArray(embeddings))
    throw new InvalidArgumentError(`embeddings must be true, false or { modelPath?, contextSize? }, not ${String(embeddings)}.`);
  assertKnownKeys(embeddings, ["modelPath", "contextSize"], "embeddings option", "embeddings options");
  const { modelPath, contextSize } = embeddings as EmbeddingOptions;
  if (modelPath !== undefined && (typeof modelPath !== "string" || modelPath.length === 0))
    throw new InvalidArgumentError(
      "embeddings.modelPath must be the path of a GGUF embedding model or a model URI; leave it out to embed with the loaded model.",
    );
  return { modelPath, contextSize: positiveInteger("embeddings.contextSize", contextSize) };
}
