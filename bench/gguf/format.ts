// The parts of the GGUF v3 format (ggml's docs/gguf.md) that the reader and the writer share.
// Everything is little-endian; counts, lengths, dimensions and offsets are u64.

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_VERSION = 3;
/** Tensor data starts, and every tensor's offset is, a multiple of this unless `general.alignment` says otherwise. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, by their code in the file. */
export const GGUF_VALUE_TYPES = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type GgufValueTypeName = keyof typeof GGUF_VALUE_TYPES;
export type GgufScalarTypeName = Exclude<GgufValueTypeName, "array">;

/** 64-bit integers are bigints, so nothing read from a file loses precision on its way back out. */
export type GgufScalar = number | bigint | boolean | string;
export interface GgufArray {
  itemType: GgufValueTypeName;
  /** Scalars, or GgufArrays when `itemType` is "array". */
  items: Array<GgufScalar | GgufArray>;
}
/** A metadata value with its type, which the file keeps: a copied value is written back with the same type. */
export type GgufValue = { type: GgufScalarTypeName; value: GgufScalar } | { type: "array"; value: GgufArray };
export type GgufMetadata = Map<string, GgufValue>;

export const gguf = {
  string: (value: string): GgufValue => ({ type: "string", value }),
  uint32: (value: number): GgufValue => ({ type: "uint32", value }),
  float32: (value: number): GgufValue => ({ type: "float32", value }),
};

export function valueTypeName(code: number): GgufValueTypeName {
  const name = (Object.keys(GGUF_VALUE_TYPES) as GgufValueTypeName[]).find((key) => GGUF_VALUE_TYPES[key] === code);
  if (name === undefined) throw new Error(`Unknown GGUF value type ${code}.`);
  return name;
}

/** The ggml tensor types this project writes, by their code in the file. */
export const GGML_TYPES = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPES;

/** Q8_0 stores a row in blocks of 32 values: an f16 scale and 32 int8s. */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

/** Bytes of a tensor of `dims` (innermost first) in `type`; quantized rows must fill whole blocks. */
export function tensorBytes(type: GgmlTypeName, dims: readonly number[]): number {
  const elements = dims.reduce((a, b) => a * b, 1);
  switch (type) {
    case "F32":
      return elements * 4;
    case "F16":
      return elements * 2;
    case "Q8_0":
      if (dims[0]! % Q8_0_BLOCK !== 0) throw new Error(`A Q8_0 tensor's rows must be a multiple of ${Q8_0_BLOCK} long, not ${dims[0]}.`);
      return (elements / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
  }
}

export const alignUp = (offset: number, alignment: number): number => Math.ceil(offset / alignment) * alignment;
