// The sized benchmark model: a 125M-parameter llama (GPT-2 small's width and depth) with random
// Q8_0 weights and the Llama 2 tokenizer. stories260K hides what matters at real sizes (KV bytes
// per token, memory-bound decoding, 32,000-token logits); this model shows it, and is made here
// in seconds instead of being downloaded. It is cached under .cache/models/ (git-ignored).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { otherModelPath, projectRoot } from "../test/support/testModel.js";
import { tokenizerMetadata, writeLlamaModel, type LlamaModelSpec, type LlamaShape } from "./gguf/llamaModel.js";
import { readGgufHeader } from "./gguf/reader.js";

/** Bump when anything that changes the file's bytes changes: a cached file of another version is remade. */
export const SIZED_MODEL_VERSION = 1;

export const SIZED_SHAPE: LlamaShape = {
  embedding: 768,
  layers: 12,
  heads: 12,
  kvHeads: 4,
  feedForward: 2048,
  contextLength: 4096,
  ropeFreqBase: 10000,
  rmsEpsilon: 1e-5,
};
const SEED = 125;
const DESCRIPTION = `llama-scope benchmark model, generator v${SIZED_MODEL_VERSION}, seed ${SEED}: random Q8_0 weights ~ N(0, 0.02), all-ones norms`;

export interface SizedModel {
  path: string;
  bytes: number;
  sha256: string;
  /** False when the cached file was reused. */
  made: boolean;
  seconds: number;
}

/** What the cached file was made from; a file made from anything else is remade. */
interface Sidecar {
  version: number;
  shape: LlamaShape;
  seed: number;
  /** The file the tokenizer was copied from (llama-2-tiny-random.gguf or LLAMA_SCOPE_OTHER_MODEL). */
  tokenizerSourceSha256: string;
  bytes: number;
  sha256: string;
}

export function sizedModelPath(): string {
  return path.join(projectRoot(), ".cache", "models", "sized-125m.gguf");
}

/** The sized model's path, made first if the cache holds no current copy. */
export function ensureSizedModel(): SizedModel {
  const start = performance.now();
  const modelPath = sizedModelPath();
  const sidecarPath = `${modelPath}.json`;
  const source = otherModelPath();
  const key = { version: SIZED_MODEL_VERSION, shape: SIZED_SHAPE, seed: SEED, tokenizerSourceSha256: sha256(readFileSync(source)) };
  const cached = readSidecar(sidecarPath);
  if (cached !== undefined && sameKey(cached, key) && isIntact(modelPath, cached))
    return { path: modelPath, bytes: cached.bytes, sha256: cached.sha256, made: false, seconds: (performance.now() - start) / 1000 };

  mkdirSync(path.dirname(modelPath), { recursive: true });
  const written = writeLlamaModel(modelPath, sizedSpec(tokenizerMetadata(readGgufHeader(source))));
  const sidecar: Sidecar = { ...key, bytes: written.bytes, sha256: written.sha256 };
  writeFileSync(sidecarPath, JSON.stringify(sidecar, null, 2) + "\n");
  return { path: modelPath, ...written, made: true, seconds: (performance.now() - start) / 1000 };
}

function sizedSpec(tokenizer: LlamaModelSpec["tokenizer"]): LlamaModelSpec {
  return { name: "llama-scope sized-125m", description: DESCRIPTION, shape: SIZED_SHAPE, tokenizer, seed: SEED };
}

/**
 * Size and header, not a hash of 133 MB: enough to catch a truncated file or one from another
 * generator version, in a millisecond. The sidecar keeps the SHA-256 for a full comparison.
 */
function isIntact(modelPath: string, sidecar: Sidecar): boolean {
  if (!existsSync(modelPath) || statSync(modelPath).size !== sidecar.bytes) return false;
  try {
    const header = readGgufHeader(modelPath);
    const expectedTensors = 3 + 9 * SIZED_SHAPE.layers; // embedding, output norm, output; 9 per layer
    return header.metadata.get("general.description")?.value === DESCRIPTION && header.tensors.length === expectedTensors;
  } catch {
    return false;
  }
}

function readSidecar(sidecarPath: string): Sidecar | undefined {
  try {
    return JSON.parse(readFileSync(sidecarPath, "utf8")) as Sidecar;
  } catch {
    return undefined;
  }
}

function sameKey(sidecar: Sidecar, key: Omit<Sidecar, "bytes" | "sha256">): boolean {
  const { bytes: _bytes, sha256: _sha256, ...cachedKey } = sidecar;
  return JSON.stringify(cachedKey) === JSON.stringify(key);
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
