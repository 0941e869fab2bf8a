import { StateFormatError } from "../shared/errors/index.js";

/**
 * The shape of a llama.cpp sequence state for one loaded model and context, learned from a state
 * the context saved itself (see `probeKvLayout` in Llama.ts): every state that may be loaded
 * must have exactly this shape, whatever its bytes say about themselves.
 *
 * llama.cpp's sequence state (`llama_state_seq_save_file`, then `llama_kv_cache::state_write`),
 * all little-endian:
 * - `'ggsq'` u32, version u32, token count u32, tokens i32 × count;
 * - stream count u32; per stream a cell count u32 and, when it is not 0:
 *   - per cell: position i32, sequence-id count u32 (1), sequence id i32;
 *   - `v_trans` u32, layer count u32;
 *   - per layer: key type i32, key row bytes u64, `cells × row bytes` of keys;
 *   - per layer with values: value type i32, then either value row bytes u64 and
 *     `cells × row bytes` of values, or (`v_trans`) element bytes u32, rows u32 and
 *     `rows × cells × element bytes` of values.
 */
export interface KvLayout {
  /** llama.cpp's sequence-state version (`LLAMA_STATE_SEQ_VERSION`). */
  seqVersion: number;
  vTrans: number;
  layers: number;
  keys: { type: number; rowBytes: number }[];
  values: ({ type: number; rowBytes: number } | { type: number; elementBytes: number; rows: number })[];
}

/** What a state must satisfy to be loaded by one engine: its KV layout, context and vocabulary. */
export interface StateLimits {
  contextSize: number;
  vocabularySize: number;
  /** Undefined when this model's states have a shape llama-scope cannot check (documented). */
  kv: KvLayout | undefined;
}

/** Bytes of one cell's metadata in a one-sequence state: position, sequence-id count, sequence id. */
export const CELL_META_BYTES = 12;

/**
 * Reads the layout from a state of one cell that this context saved (in single-stream form).
 * Undefined when it does not parse as the layout above (a model whose cells carry more, such as
 * M-RoPE positions): such states are then checked without it.
 */
export function readKvLayout(probe: Uint8Array): KvLayout | undefined {
  try {
    const reader = new Reader(probe);
    reader.u32(); // magic, checked when a state is decoded
    const seqVersion = reader.u32();
    reader.skip(4 * reader.u32());
    if (reader.u32() !== 1 || reader.u32() !== 1) return undefined; // one stream holding the one cell
    reader.skip(CELL_META_BYTES);
    const vTrans = reader.u32();
    const layers = reader.u32();
    if (vTrans > 1 || layers === 0 || layers > 4096) return undefined;
    const keys = Array.from({ length: layers }, () => {
      const key = { type: reader.i32(), rowBytes: reader.u64() };
      reader.skip(key.rowBytes);
      return key;
    });
    const values: KvLayout["values"] = [];
    while (!reader.atEnd()) {
      const type = reader.i32();
      if (vTrans === 0) {
        const rowBytes = reader.u64();
        reader.skip(rowBytes);
        values.push({ type, rowBytes });
      } else {
        const elementBytes = reader.u32();
        const rows = reader.u32();
        reader.skip(rows * elementBytes);
        values.push({ type, elementBytes, rows });
      }
    }
    return values.length <= layers ? { seqVersion, vTrans, layers, keys, values } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a state's KV section (single-stream form) against the layout, before llama.cpp sees it:
 * one stream of exactly `tokenCount` cells, each position in `[0, tokenCount)` once, every layer
 * record of the layout's type and row size, the data lengths exact and nothing after them.
 * @throws {StateFormatError} naming what is wrong.
 */
export function checkKvSection(kv: Uint8Array, layout: KvLayout, tokenCount: number): void {
  const reader = new Reader(kv);
  try {
    reader.u32();
    if (reader.u32() !== layout.seqVersion) throw malformed("its KV section has another llama.cpp state version");
    reader.skip(4 * reader.u32());
    if (reader.u32() !== 1) throw malformed("its KV section is not in single-stream form");
    const cells = reader.u32();
    if (cells !== tokenCount) throw malformed(`its KV section holds ${cells} cells for ${tokenCount} tokens`);
    if (cells === 0) {
      if (!reader.atEnd()) throw malformed("bytes follow its empty KV section");
      return;
    }
    const seen = new Uint8Array(cells);
    for (let i = 0; i < cells; i++) {
      const position = reader.i32();
      if (position < 0 || position >= cells || seen[position] === 1)
        throw malformed(`a KV cell has position ${position}, out of range or repeated`);
      seen[position] = 1;
      if (reader.u32() !== 1) throw malformed("a KV cell belongs to more than one sequence");
      reader.i32(); // the saving sequence's id: llama.cpp reads it and uses the loading one
    }
    if (reader.u32() !== layout.vTrans || reader.u32() !== layout.layers) throw malformed("its KV section has another layer layout");
    for (const key of layout.keys) {
      if (reader.i32() !== key.type || reader.u64() !== key.rowBytes) throw malformed("a key layer has another type or row size");
      reader.skip(cells * key.rowBytes);
    }
    for (const value of layout.values) {
      if (reader.i32() !== value.type) throw malformed("a value layer has another type");
      if ("rowBytes" in value) {
        if (reader.u64() !== value.rowBytes) throw malformed("a value layer has another row size");
        reader.skip(cells * value.rowBytes);
      } else {
        if (reader.u32() !== value.elementBytes || reader.u32() !== value.rows) throw malformed("a value layer has another element size");
        reader.skip(value.rows * cells * value.elementBytes);
      }
    }
    if (!reader.atEnd()) throw malformed("bytes follow its KV section");
  } catch (error) {
    if (error instanceof StateFormatError) throw error;
    throw malformed("its KV section ends early");
  }
}

/** Bounds-checked little-endian reads; reading past the end throws a RangeError. */
class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u32(): number {
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  i32(): number {
    const value = this.view.getInt32(this.offset, true);
    this.offset += 4;
    return value;
  }

  /** A u64 as a number; sizes beyond 2^53 cannot be valid here. */
  u64(): number {
    const value = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value);
  }

  skip(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || this.offset + bytes > this.bytes.byteLength) throw new RangeError("past the end");
    this.offset += bytes;
  }

  atEnd(): boolean {
    return this.offset === this.bytes.byteLength;
  }
}

/** The error for a state whose KV section does not have the shape it must have. */
export function malformed(what: string): StateFormatError {
  return new StateFormatError(`This state is malformed (${what}): load only states saved by llama-scope with this model.`);
}
