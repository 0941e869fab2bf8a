// The GGUF writer behind the sized benchmark model (bench/gguf/), on a tiny model of the same
// kind: the 133 MB model itself is made by `npm run model:sized`, never by the test suite.
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { readGgufFileInfo } from "node-llama-cpp";
import { Llama } from "../../src/index.js";
import { decodeState } from "../../src/state/StateFormat.js";
import { tensorBytes } from "../../bench/gguf/format.js";
import { llamaTensors, tokenizerMetadata, writeLlamaModel, type LlamaModelSpec } from "../../bench/gguf/llamaModel.js";
import { f16Bits, quantizeQ8_0 } from "../../bench/gguf/q8_0.js";
import { parseGgufHeader, readGgufHeader } from "../../bench/gguf/reader.js";
import { encodeHeader } from "../../bench/gguf/writer.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const source = otherModelPath();
const tiny: LlamaModelSpec = {
  name: "tiny",
  description: "llama-scope test model",
  shape: { embedding: 64, layers: 2, heads: 4, kvHeads: 2, feedForward: 128, contextLength: 512, ropeFreqBase: 10000, rmsEpsilon: 1e-5 },
  tokenizer: tokenizerMetadata(readGgufHeader(source)),
  seed: 7,
};
let dir: string;
let modelPath: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-gguf-"));
  modelPath = path.join(dir, "tiny.gguf");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("Q8_0", () => {
  test("f16Bits rounds to nearest even, through subnormals, overflow and NaN", () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65520, 0x7c00], // half-way to the next power of two rounds up, out of range
      [1 + 2 ** -11, 0x3c00], // a tie goes to the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02],
      [2 ** -14, 0x0400], // the smallest normal
      [2 ** -24, 0x0001], // the smallest subnormal
      [2 ** -25, 0x0000], // half of it: a tie, to even (zero)
      [1.5 * 2 ** -25, 0x0001],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [NaN, 0x7e00],
    ];
    for (const [value, bits] of cases) expect([value, f16Bits(value)]).toEqual([value, bits]);
  });

  test("a block is an f16 scale max|x| / 127 and 32 int8s round(x / scale)", () => {
    const values = Float32Array.from({ length: 32 }, (_, i) => ((i - 16) / 16) * 0.5);
    const out = new Uint8Array(34);
    quantizeQ8_0(values, out);
    const scale = Math.fround(0.5 / 127);
    expect(out[0]! | (out[1]! << 8)).toBe(f16Bits(scale));
    const quants = new Int8Array(out.buffer, 2, 32);
    expect(quants[0]).toBe(-127);
    expect(quants[16]).toBe(0);
    for (let i = 0; i < 32; i++) expect(Math.abs(quants[i]! * scale - values[i]!)).toBeLessThanOrEqual(scale / 2 + 1e-9);
  });
});

describe("the GGUF reader and writer", () => {
  test("re-encoding the Llama 2 tokenizer file's metadata gives its bytes back exactly", async () => {
    const bytes = await readFile(source);
    const header = parseGgufHeader(bytes);
    // Byte 24 on: the metadata key/values, after magic, version and counts (our tensor count is 0).
    const encoded = encodeHeader(header.metadata, []);
    expect(Buffer.from(encoded.subarray(24)).equals(bytes.subarray(24, encoded.length))).toBe(true);
  });

  test("a tiny model: tensor infos at aligned offsets, the file's size, the same bytes from the same seed", async () => {
    const first = writeLlamaModel(modelPath, tiny);
    const again = writeLlamaModel(path.join(dir, "again.gguf"), tiny);
    expect(again).toEqual(first);
    expect((await stat(modelPath)).size).toBe(first.bytes);

    const header = readGgufHeader(modelPath);
    expect(header.version).toBe(3);
    expect(header.dataOffset % 32).toBe(0);
    const expected = llamaTensors(tiny);
    expect(header.tensors.map(({ name, dims }) => ({ name, dims }))).toEqual(expected.map(({ name, dims }) => ({ name, dims })));
    let offset = 0;
    for (const [i, tensor] of header.tensors.entries()) {
      expect(tensor.offset).toBe(offset);
      offset = Math.ceil((offset + tensorBytes(expected[i]!.type, tensor.dims)) / 32) * 32;
    }
    expect(header.dataOffset + offset).toBe(first.bytes);
    expect(header.tensors.find((t) => t.name === "token_embd.weight")).toMatchObject({ dims: [64, 32000], type: 8 });
    expect(header.tensors.find((t) => t.name === "blk.1.ffn_norm.weight")).toMatchObject({ dims: [64], type: 0 });
  });

  test("node-llama-cpp reads the same tokenizer and shape from it", async () => {
    const [ours, theirs] = await Promise.all([
      readGgufFileInfo(modelPath, { logWarnings: false }),
      readGgufFileInfo(source, { logWarnings: false }),
    ]);
    expect(ours.metadata.tokenizer).toEqual(theirs.metadata.tokenizer);
    expect(ours.metadata.general.architecture).toBe("llama");
    expect(ours.metadata.general.file_type).toBe(7);
    expect(ours.metadata.llama).toMatchObject({
      embedding_length: 64,
      block_count: 2,
      feed_forward_length: 128,
      attention: { head_count: 4, head_count_kv: 2 },
      rope: { dimension_count: 16 },
    });
  });

  test("llama.cpp loads it and generates; its KV per token is the shape's", async () => {
    const llama = await Llama.load(testLoadOptions({ modelPath, slots: 1, contextSize: 128 }));
    try {
      llama.createSlot("s");
      llama.setSlot("s");
      llama.setPrompt("Once upon a time");
      await llama.generate({ maxTokens: 1 });
      llama.setPrompt("");
      const before = decodeState(await llama.saveState()).kv.length;
      const beforeTokens = llama.tokenCount("s");
      const greedy = await llama.generate({ maxTokens: 8 });
      expect(greedy.tokenCount).toBe(8);
      llama.setPrompt("");
      const after = decodeState(await llama.saveState()).kv.length;
      // Per cell llama.cpp keeps its token (4 bytes), position and sequence (12) and, per layer,
      // f16 keys and values of kvHeads × head dimension: 2 layers × 2 × 32 × 2 bytes.
      expect((after - before) / (llama.tokenCount("s") - beforeTokens)).toBe(4 + 12 + 2 * 2 * 32 * 2);
    } finally {
      await llama.dispose();
    }
  });
});
