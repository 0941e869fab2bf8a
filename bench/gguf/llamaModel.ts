// A llama-architecture model with random weights: the tensors and metadata llama.cpp's llama
// loader expects, for any shape, with a tokenizer copied from a real model.
import { gguf, tensorBytes, type GgmlTypeName, type GgufMetadata } from "./format.js";
import { quantizeQ8_0 } from "./q8_0.js";
import { NormalRandom, seedFor } from "./random.js";
import type { GgufHeader } from "./reader.js";
import { writeGguf, type GgufTensor, type WrittenGguf } from "./writer.js";

export interface LlamaShape {
  embedding: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  contextLength: number;
  ropeFreqBase: number;
  rmsEpsilon: number;
}

export interface LlamaModelSpec {
  name: string;
  /** Written as general.description: says what made the file, so a stale cached file can be told apart. */
  description: string;
  shape: LlamaShape;
  /** The `tokenizer.*` keys of a real model (see tokenizerMetadata). */
  tokenizer: GgufMetadata;
  seed: number;
  /** Standard deviation of the weights (GPT-2's initialisation, 0.02, by default). */
  std?: number;
}

/** general.file_type 7: LLAMA_FTYPE_MOSTLY_Q8_0 (norms stay F32, as in llama.cpp's own Q8_0 files). */
const FILE_TYPE_MOSTLY_Q8_0 = 7;
/** Values quantized per chunk of tensor data: large enough to be fast, small enough to stay in cache. */
const CHUNK_VALUES = 64 * 1024;

/** Every `tokenizer.*` key of a file, in its order, with its value and type unchanged. */
export function tokenizerMetadata(header: GgufHeader): GgufMetadata {
  const tokenizer: GgufMetadata = new Map([...header.metadata].filter(([key]) => key.startsWith("tokenizer.")));
  vocabularySize(tokenizer);
  return tokenizer;
}

export function vocabularySize(tokenizer: GgufMetadata): number {
  const tokens = tokenizer.get("tokenizer.ggml.tokens");
  if (tokens?.type !== "array") throw new Error("The tokenizer has no tokenizer.ggml.tokens array.");
  return tokens.value.items.length;
}

export function headDimension(shape: LlamaShape): number {
  if (shape.embedding % shape.heads !== 0 || shape.heads % shape.kvHeads !== 0)
    throw new Error(`${shape.heads} heads over ${shape.kvHeads} KV heads do not divide an embedding of ${shape.embedding}.`);
  return shape.embedding / shape.heads;
}

export function llamaMetadata(spec: LlamaModelSpec): GgufMetadata {
  const { shape } = spec;
  return new Map([
    ["general.architecture", gguf.string("llama")],
    ["general.name", gguf.string(spec.name)],
    ["general.description", gguf.string(spec.description)],
    ["general.file_type", gguf.uint32(FILE_TYPE_MOSTLY_Q8_0)],
    ["general.alignment", gguf.uint32(32)],
    ["llama.context_length", gguf.uint32(shape.contextLength)],
    ["llama.embedding_length", gguf.uint32(shape.embedding)],
    ["llama.block_count", gguf.uint32(shape.layers)],
    ["llama.feed_forward_length", gguf.uint32(shape.feedForward)],
    ["llama.attention.head_count", gguf.uint32(shape.heads)],
    ["llama.attention.head_count_kv", gguf.uint32(shape.kvHeads)],
    ["llama.rope.dimension_count", gguf.uint32(headDimension(shape))],
    ["llama.rope.freq_base", gguf.float32(shape.ropeFreqBase)],
    ["llama.attention.layer_norm_rms_epsilon", gguf.float32(shape.rmsEpsilon)],
    ["llama.vocab_size", gguf.uint32(vocabularySize(spec.tokenizer))],
    ...spec.tokenizer,
  ]);
}

/** llama.cpp's tensor names; dims innermost first, so a [out, in] matrix is [in, out]. */
export function llamaTensors(spec: LlamaModelSpec): GgufTensor[] {
  const { shape } = spec;
  const vocabulary = vocabularySize(spec.tokenizer);
  const kvWidth = shape.kvHeads * headDimension(shape);
  const random = (name: string, dims: number[]) => randomQ8_0(name, dims, spec.seed, spec.std ?? 0.02);
  const tensors = [random("token_embd.weight", [shape.embedding, vocabulary])];
  for (let layer = 0; layer < shape.layers; layer++) {
    const block = (name: string) => `blk.${layer}.${name}.weight`;
    tensors.push(
      ones(block("attn_norm"), shape.embedding),
      random(block("attn_q"), [shape.embedding, shape.embedding]),
      random(block("attn_k"), [shape.embedding, kvWidth]),
      random(block("attn_v"), [shape.embedding, kvWidth]),
      random(block("attn_output"), [shape.embedding, shape.embedding]),
      ones(block("ffn_norm"), shape.embedding),
      random(block("ffn_gate"), [shape.embedding, shape.feedForward]),
      random(block("ffn_up"), [shape.embedding, shape.feedForward]),
      random(block("ffn_down"), [shape.feedForward, shape.embedding]),
    );
  }
  tensors.push(ones("output_norm.weight", shape.embedding), random("output.weight", [shape.embedding, vocabulary]));
  return tensors;
}

export function writeLlamaModel(filePath: string, spec: LlamaModelSpec): WrittenGguf {
  return writeGguf(filePath, llamaMetadata(spec), llamaTensors(spec));
}

/** Q8_0 weights ~ N(0, std²), each tensor from its own stream, so one tensor's data never depends on another's. */
function randomQ8_0(name: string, dims: number[], seed: number, std: number): GgufTensor {
  const type: GgmlTypeName = "Q8_0";
  tensorBytes(type, dims); // refuses rows that are not whole blocks before anything is written
  return {
    name,
    dims,
    type,
    *data() {
      const random = new NormalRandom(seedFor(seed, name));
      const total = dims.reduce((a, b) => a * b, 1);
      for (let done = 0; done < total; done += CHUNK_VALUES) {
        const values = new Float32Array(Math.min(CHUNK_VALUES, total - done));
        random.fillNormal(values, std);
        const bytes = new Uint8Array(tensorBytes(type, [values.length]));
        quantizeQ8_0(values, bytes);
        yield bytes;
      }
    },
  };
}

/** An F32 norm weight of all ones: RMS norm that leaves the normalised activations as they are. */
function ones(name: string, length: number): GgufTensor {
  return {
    name,
    dims: [length],
    type: "F32",
    *data() {
      yield new Uint8Array(new Float32Array(length).fill(1).buffer);
    },
  };
}
