// Writes a GGUF v3 file: header (metadata, tensor infos), then each tensor's data at an aligned
// offset. Tensor data is streamed from generators, so a large model never sits in memory whole.
import { createHash } from "node:crypto";
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import {
  alignUp,
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPES,
  GGUF_VERSION,
  tensorBytes,
  type GgmlTypeName,
  type GgufArray,
  type GgufMetadata,
  type GgufScalar,
  type GgufValueTypeName,
} from "./format.js";

export interface GgufTensor {
  name: string;
  /** Innermost first: a PyTorch [out, in] matrix is [in, out] here. */
  dims: number[];
  type: GgmlTypeName;
  /** The tensor's bytes in file order, in chunks of any size; they must add up to its size. */
  data(): Iterable<Uint8Array>;
}

export interface WrittenGguf {
  bytes: number;
  sha256: string;
}

/**
 * Writes `filePath` under a temporary name and renames it when complete, so a crash or a
 * concurrent reader never sees half a model under the real name.
 */
export function writeGguf(filePath: string, metadata: GgufMetadata, tensors: GgufTensor[]): WrittenGguf {
  const alignment = alignmentOf(metadata);
  const header = encodeHeader(metadata, tensors, alignment);
  const partial = `${filePath}.partial-${process.pid}`;
  const fd = openSync(partial, "w");
  const hash = createHash("sha256");
  let written = 0;
  const write = (chunk: Uint8Array) => {
    for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done);
    hash.update(chunk);
    written += chunk.length;
  };
  const pad = () => write(new Uint8Array(alignUp(written, alignment) - written));
  try {
    write(header);
    pad();
    for (const tensor of tensors) {
      const expected = tensorBytes(tensor.type, tensor.dims);
      const start = written;
      for (const chunk of tensor.data()) write(chunk);
      if (written - start !== expected) throw new Error(`Tensor ${tensor.name} gave ${written - start} bytes of data, not ${expected}.`);
      pad();
    }
    closeSync(fd);
    renameSync(partial, filePath);
  } catch (error) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw error;
  }
  return { bytes: written, sha256: hash.digest("hex") };
}

function alignmentOf(metadata: GgufMetadata): number {
  const entry = metadata.get("general.alignment");
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  // ggml requires a u32 power of two.
  if (entry.type !== "uint32" || typeof entry.value !== "number" || entry.value <= 0 || (entry.value & (entry.value - 1)) !== 0)
    throw new Error("general.alignment must be a uint32 power of two.");
  return entry.value;
}

/** Magic, version, counts, metadata, then tensor infos with offsets laid out at `alignment`. */
export function encodeHeader(metadata: GgufMetadata, tensors: GgufTensor[], alignment = alignmentOf(metadata)): Uint8Array {
  const out = new ByteWriter();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.size);
  for (const [key, entry] of metadata) {
    out.string(key);
    out.u32(GGUF_VALUE_TYPES[entry.type]);
    if (entry.type === "array") out.array(entry.value);
    else out.scalar(entry.type, entry.value);
  }
  let offset = 0;
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(GGML_TYPES[tensor.type]);
    out.u64(offset);
    offset = alignUp(offset + tensorBytes(tensor.type, tensor.dims), alignment);
  }
  return out.bytes();
}

/** A growable little-endian buffer. */
class ByteWriter {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  private length = 0;
  private readonly encoder = new TextEncoder();

  bytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  /** Reserves `size` bytes and returns where they start. */
  private reserve(size: number): number {
    if (this.length + size > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + size));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += size;
    return at;
  }

  u32(value: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, value, true);
  }

  u64(value: number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(value), true);
  }

  string(value: string): void {
    const encoded = this.encoder.encode(value);
    this.u64(encoded.length);
    const at = this.reserve(encoded.length);
    this.buffer.set(encoded, at);
  }

  array(value: GgufArray): void {
    this.u32(GGUF_VALUE_TYPES[value.itemType]);
    this.u64(value.items.length);
    for (const item of value.items)
      if (value.itemType === "array") this.array(item as GgufArray);
      else this.scalar(value.itemType, item as GgufScalar);
  }

  scalar(type: Exclude<GgufValueTypeName, "array">, value: GgufScalar): void {
    const expected =
      type === "string" ? "string" : type === "bool" ? "boolean" : type === "uint64" || type === "int64" ? "bigint" : "number";
    if (typeof value !== expected) throw new Error(`A GGUF ${type} must be a ${expected}, not ${typeof value} (${String(value)}).`);
    if (type === "string") return this.string(value as string);
    // Reserve before taking this.view: reserving may grow the buffer and replace the view.
    const at = this.reserve(SCALAR_BYTES[type]);
    const view = this.view;
    switch (type) {
      case "uint8":
        return view.setUint8(at, value as number);
      case "int8":
        return view.setInt8(at, value as number);
      case "uint16":
        return view.setUint16(at, value as number, true);
      case "int16":
        return view.setInt16(at, value as number, true);
      case "uint32":
        return view.setUint32(at, value as number, true);
      case "int32":
        return view.setInt32(at, value as number, true);
      case "float32":
        return view.setFloat32(at, value as number, true);
      case "bool":
        return view.setUint8(at, value ? 1 : 0);
      case "uint64":
        return view.setBigUint64(at, value as bigint, true);
      case "int64":
        return view.setBigInt64(at, value as bigint, true);
      case "float64":
        return view.setFloat64(at, value as number, true);
    }
  }
}

const SCALAR_BYTES: Record<Exclude<GgufValueTypeName, "array" | "string">, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};
