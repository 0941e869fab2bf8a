// Reads a GGUF file's header: metadata and tensor infos, not the tensor data. Values keep their
// types (see format.ts), so metadata copied from one file into another is written back unchanged.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  valueTypeName,
  type GgufArray,
  type GgufMetadata,
  type GgufScalar,
  type GgufValue,
  type GgufValueTypeName,
} from "./format.js";

export interface GgufTensorInfo {
  name: string;
  /** Innermost first, as in the file. */
  dims: number[];
  /** The ggml type code. */
  type: number;
  /** From the start of the tensor data. */
  offset: number;
}

export interface GgufHeader {
  version: number;
  metadata: GgufMetadata;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Where the tensor data starts in the file. */
  dataOffset: number;
}

/** Thrown when the bytes end before the header does; `readGgufHeader` then reads more. */
class Truncated extends Error {}

/** Parses the header at the start of `bytes`, which must hold all of it. */
export function parseGgufHeader(bytes: Uint8Array): GgufHeader {
  const cursor = new Cursor(bytes);
  if (cursor.u32() !== GGUF_MAGIC) throw new Error("Not a GGUF file (bad magic).");
  const version = cursor.u32();
  if (version !== 2 && version !== 3) throw new Error(`GGUF version ${version} is not supported (2 and 3 are).`);
  const tensorCount = cursor.count();
  const metadataCount = cursor.count();
  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < metadataCount; i++) {
    const key = cursor.string();
    metadata.set(key, cursor.value(valueTypeName(cursor.u32())));
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = cursor.string();
    const dims = Array.from({ length: cursor.u32() }, () => cursor.count());
    tensors.push({ name, dims, type: cursor.u32(), offset: cursor.count() });
  }
  const declared = metadata.get("general.alignment")?.value;
  const alignment = typeof declared === "number" ? declared : GGUF_DEFAULT_ALIGNMENT;
  return { version, metadata, tensors, alignment, dataOffset: alignUp(cursor.offset, alignment) };
}

/** Reads only as much of the file as the header takes (it grows the read until the header fits). */
export function readGgufHeader(filePath: string): GgufHeader {
  const fd = openSync(filePath, "r");
  try {
    const size = fstatSync(fd).size;
    for (let length = Math.min(size, 1 << 20); ; length = Math.min(size, length * 4)) {
      const bytes = new Uint8Array(length);
      readSync(fd, bytes, 0, length, 0);
      try {
        return parseGgufHeader(bytes);
      } catch (error) {
        if (!(error instanceof Truncated)) throw error;
        if (length === size) throw new Error(`${filePath} ends inside its GGUF header.`);
      }
    }
  } finally {
    closeSync(fd);
  }
}

class Cursor {
  offset = 0;
  private readonly view: DataView;
  // Strings must come back out byte for byte: fatal refuses invalid UTF-8 rather than replacing
  // it, and ignoreBOM keeps a leading U+FEFF (the Llama 2 vocabulary has it as a token).
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private take(length: number): number {
    if (this.offset + length > this.bytes.length) throw new Truncated();
    const at = this.offset;
    this.offset += length;
    return at;
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  /** A u64 count, length or offset, as a number: anything past 2^53 is a corrupt file here. */
  count(): number {
    const value = this.view.getBigUint64(this.take(8), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`A GGUF count of ${value} is out of range.`);
    return Number(value);
  }

  string(): string {
    const length = this.count();
    const at = this.take(length);
    return this.decoder.decode(this.bytes.subarray(at, at + length));
  }

  value(type: GgufValueTypeName): GgufValue {
    return type === "array" ? { type, value: this.array() } : { type, value: this.scalar(type) };
  }

  private array(): GgufArray {
    const itemType = valueTypeName(this.u32());
    const length = this.count();
    const items: GgufArray["items"] = new Array<GgufArray["items"][number]>(length);
    for (let i = 0; i < length; i++) items[i] = itemType === "array" ? this.array() : this.scalar(itemType);
    return { itemType, items };
  }

  private scalar(type: Exclude<GgufValueTypeName, "array">): GgufScalar {
    const view = this.view;
    switch (type) {
      case "uint8":
        return view.getUint8(this.take(1));
      case "int8":
        return view.getInt8(this.take(1));
      case "uint16":
        return view.getUint16(this.take(2), true);
      case "int16":
        return view.getInt16(this.take(2), true);
      case "uint32":
        return view.getUint32(this.take(4), true);
      case "int32":
        return view.getInt32(this.take(4), true);
      case "float32":
        return view.getFloat32(this.take(4), true);
      case "bool":
        return view.getUint8(this.take(1)) !== 0;
      case "string":
        return this.string();
      case "uint64":
        return view.getBigUint64(this.take(8), true);
      case "int64":
        return view.getBigInt64(this.take(8), true);
      case "float64":
        return view.getFloat64(this.take(8), true);
    }
  }
}
