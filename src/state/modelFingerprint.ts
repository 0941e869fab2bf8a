import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

const WHOLE_FILE_LIMIT = 16 * 1024 * 1024;
const HEAD_BYTES = 4 * 1024 * 1024;
const SAMPLE_BYTES = 64 * 1024;
const SAMPLES = 32;

/**
 * A SHA-256 that tells model files apart, cheap enough for multi-gigabyte files.
 *
 * Small files are hashed whole. Large ones contribute their size, their first 4 MiB (the GGUF
 * header: architecture, shapes, tokenizer) and 32 evenly spread 64 KiB samples of the weights, so
 * two fine-tunes of one base model, which share every shape, still get different fingerprints.
 */
export async function modelFingerprint(modelPath: string): Promise<string> {
  const file = await open(modelPath, "r");
  try {
    const { size } = await file.stat();
    const hash = createHash("sha256");
    hash.update(`llama-scope-model-v1:${size}:`);
    const ranges: Array<[offset: number, length: number]> = size <= WHOLE_FILE_LIMIT ? [[0, size]] : sampledRanges(size);
    for (const [offset, length] of ranges) {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await file.read(buffer, 0, length, offset);
      hash.update(buffer.subarray(0, bytesRead));
    }
    return hash.digest("hex");
  } finally {
    await file.close();
  }
}

function sampledRanges(size: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [[0, HEAD_BYTES]];
  const stride = Math.floor((size - HEAD_BYTES - SAMPLE_BYTES) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) ranges.push([HEAD_BYTES + i * stride, SAMPLE_BYTES]);
  return ranges;
}
