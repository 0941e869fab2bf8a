import { StateFormatError } from "../shared/errors/index.js";
import type { Token } from "../shared/Token.js";
import { CELL_META_BYTES, checkKvSection, malformed, type KvLayout } from "./kvLayout.js";
import { LLAMA_SEQ_MAGIC } from "./StateFormat.js";

/**
 * A conversation's KV cache cut into runs of consecutive positions, so a store can keep each run
 * once under a key of its content (issue 22: a turn writes only the chunks it added, and a shared
 * prefix is stored once for every conversation that starts with it).
 *
 * The input is a state's KV section in single-stream form (see `kvLayout.ts` for llama.cpp's
 * layout); `splitKv` checks it against `layout` first (`checkKvSection`). A chunk's bytes, little-endian:
 * - cell count `n` u32;
 * - per cell, in position order: position i32, sequence-id count u32 (1), sequence id i32 (0);
 * - per key layer: `n × row bytes` of keys;
 * - per value layer: `n × row bytes` of values, or (`v_trans`) per value row `n × element bytes`.
 *
 * Layer types and sizes are not repeated in a chunk: they are the layout's, and a chunk only joins
 * others under the same layout. Cells are in position order whatever order llama.cpp wrote them
 * in, so the same tokens at the same positions always give the same bytes.
 */
export interface KvChunk {
  /** First position the chunk holds. */
  start: number;
  /** One past its last position. */
  end: number;
  bytes: Uint8Array;
}

/**
 * The positions of a KV section's cells in the order llama.cpp wrote them (its cache order), or
 * undefined when that is position order (0, 1, 2, …). After a context shift the order differs:
 * new cells fill the cells the shift freed. It matters: attention sums over the cells in cache
 * order, so the same cells in another order round otherwise, and a conversation joined in
 * another order may reply otherwise. Give it to {@link kvJoin} to restore it.
 */
export function kvCellOrder(kv: Uint8Array, layout: KvLayout): number[] | undefined {
  const section = readSection(kv, layout);
  const positions = Array.from({ length: section.cells }, (_, i) => section.view.getInt32(section.metaOffset + i * CELL_META_BYTES, true));
  return positions.every((position, i) => position === i) ? undefined : positions;
}

/** Cuts a single-stream KV section into chunks of `chunkTokens` positions (the last may be shorter). */
export function splitKv(kv: Uint8Array, layout: KvLayout, chunkTokens: number): KvChunk[] {
  if (!Number.isSafeInteger(chunkTokens) || chunkTokens < 1)
    throw new RangeError(`chunkTokens must be a positive integer, not ${chunkTokens}.`);
  const section = readSection(kv, layout);
  const { cells } = section;
  checkKvSection(kv, layout, cells); // every layer's type and size as the layout says, before reading rows by it
  // Cell index by position (each position in range once, as checked): llama.cpp writes cells in
  // cache order, chunks hold them by position.
  const cellAt = new Int32Array(cells);
  for (let i = 0; i < cells; i++) cellAt[section.view.getInt32(section.metaOffset + i * CELL_META_BYTES, true)] = i;
  const chunks: KvChunk[] = [];
  for (let start = 0; start < cells; start += chunkTokens) {
    const end = Math.min(cells, start + chunkTokens);
    const order = Array.from(cellAt.subarray(start, end));
    chunks.push({ start, end, bytes: chunkBytes(kv, section, layout, order) });
  }
  return chunks;
}

/**
 * Rebuilds llama.cpp's sequence state (single-stream form) from chunks of consecutive positions,
 * in order, for a conversation whose KV cache holds `tokens`. The result is checked like any
 * state's KV section before it is loaded (`checkKvSection`).
 * @throws {StateFormatError} when a chunk's length does not fit the layout or the chunks do not
 * hold one cell per token.
 */
export function joinKv(tokens: readonly Token[], chunks: readonly Uint8Array[], layout: KvLayout): Uint8Array {
  const joined = kvJoin(tokens, chunks, layout);
  const out = new Uint8Array(joined.byteLength);
  joined.writeTo(out);
  return out;
}

/**
 * {@link joinKv} in two steps: the chunks are checked first (it throws as `joinKv` does), then the
 * section is written into a target the caller made `byteLength` long (the KV section of an
 * encoded state: see `encodeStateWith`), without a copy of its own.
 */
export function kvJoin(
  tokens: readonly Token[],
  chunks: readonly Uint8Array[],
  layout: KvLayout,
  /** The cells' positions in the cache order to restore (see {@link kvCellOrder}); position order when undefined. */
  order?: readonly number[],
): { byteLength: number; writeTo(out: Uint8Array): void } {
  const counts = chunks.map((chunk) => {
    if (chunk.byteLength < 4) throw malformed("a KV chunk is shorter than its cell count");
    const n = view(chunk).getUint32(0, true);
    if (chunk.byteLength !== chunkLength(n, layout)) throw malformed("a KV chunk's length does not match its cell count and this layout");
    return n;
  });
  const plan = kvJoinPlan(tokens, counts, layout, order);
  const writeTo = (out: Uint8Array) => {
    plan.writeHeader(out);
    chunks.forEach((chunk, i) => plan.writeChunk(out, i, chunk));
  };
  return { byteLength: plan.byteLength, writeTo };
}

/** A KV section joined from chunks one at a time, in any order, as they come (see {@link kvJoinPlan}). */
export interface KvJoinPlan {
  /** Bytes the section takes. */
  byteLength: number;
  /** Writes what is not the chunks' (the tokens, the counts, each layer's type and size) into `out`. */
  writeHeader(out: Uint8Array): void;
  /**
   * Writes chunk `index`'s cells into their places in `out`. Returns false, writing nothing, when
   * the chunk is not `counts[index]` cells long under this layout.
   */
  writeChunk(out: Uint8Array, index: number, chunk: Uint8Array): boolean;
}

/**
 * Where every chunk's cells go in the KV section of a conversation whose KV cache holds `tokens`,
 * chunk `i` holding the `counts[i]` positions after those of the chunks before it: a reader then
 * writes each chunk as it arrives, while the next ones are still on their way.
 * @throws {StateFormatError} when the counts do not add up to one cell per token, or `order` is
 * not an order of those positions.
 */
export function kvJoinPlan(
  tokens: readonly Token[],
  counts: readonly number[],
  layout: KvLayout,
  /** The cells' positions in the cache order to restore (see {@link kvCellOrder}); position order when undefined. */
  order?: readonly number[],
): KvJoinPlan {
  const cells = counts.reduce((sum, n) => sum + n, 0);
  if (cells !== tokens.length) throw malformed(`the KV chunks hold ${cells} cells for ${tokens.length} tokens`);
  if (order !== undefined && (order.length !== cells || new Set(order).size !== cells || order.some((p) => !(p >= 0 && p < cells))))
    throw malformed("the cell order is not one of the chunks' positions");
  /** Each position's place in the cache order. */
  let placeOf: Int32Array | undefined;
  if (order !== undefined) {
    placeOf = new Int32Array(cells);
    order.forEach((position, place) => (placeOf![position] = place));
  }
  const firstPosition: number[] = [];
  counts.reduce((position, n, i) => ((firstPosition[i] = position), position + n), 0);
  // Every part of the section that holds one piece per cell, in the order a chunk holds them too:
  // where its pieces start and how long each is.
  const parts: { start: number; bytesPerCell: number }[] = [];
  const header = 12 + 4 * tokens.length + 8;
  const byteLength = sectionLength(tokens.length, cells, layout);
  if (cells > 0) {
    let offset = header;
    const part = (bytesPerCell: number) => {
      parts.push({ start: offset, bytesPerCell });
      offset += cells * bytesPerCell;
    };
    part(CELL_META_BYTES);
    offset += 8; // v_trans, the layer count
    for (const key of layout.keys) {
      offset += 12; // type, row size
      part(key.rowBytes);
    }
    for (const value of layout.values) {
      offset += 12; // type, then the row size or the element size and the row count
      if ("rowBytes" in value) part(value.rowBytes);
      else for (let row = 0; row < value.rows; row++) part(value.elementBytes);
    }
  }
  return {
    byteLength,
    writeHeader(out) {
      if (out.byteLength !== byteLength) throw new RangeError(`The KV section takes ${byteLength} bytes, not ${out.byteLength}.`);
      const writer = new Writer(out);
      writer.u32(LLAMA_SEQ_MAGIC);
      writer.u32(layout.seqVersion);
      writer.u32(tokens.length);
      for (const token of tokens) writer.u32(token);
      writer.u32(1); // one stream
      writer.u32(cells);
      if (cells === 0) return;
      writer.skip(cells * CELL_META_BYTES);
      writer.u32(layout.vTrans);
      writer.u32(layout.layers);
      for (const key of layout.keys) {
        writer.i32(key.type);
        writer.u64(key.rowBytes);
        writer.skip(cells * key.rowBytes);
      }
      for (const value of layout.values) {
        writer.i32(value.type);
        if ("rowBytes" in value) {
          writer.u64(value.rowBytes);
          writer.skip(cells * value.rowBytes);
        } else {
          writer.u32(value.elementBytes);
          writer.u32(value.rows);
          writer.skip(value.rows * cells * value.elementBytes);
        }
      }
    },
    writeChunk(out, index, chunk) {
      const n = counts[index]!;
      if (chunk.byteLength !== chunkLength(n, layout) || view(chunk).getUint32(0, true) !== n) return false;
      const first = firstPosition[index]!;
      let from = 4;
      for (const { start, bytesPerCell } of parts) {
        if (placeOf === undefined) out.set(chunk.subarray(from, from + n * bytesPerCell), start + first * bytesPerCell);
        else
          for (let i = 0; i < n; i++)
            out.set(chunk.subarray(from + i * bytesPerCell, from + (i + 1) * bytesPerCell), start + placeOf[first + i]! * bytesPerCell);
        from += n * bytesPerCell;
      }
      return true;
    },
  };
}

/** Where the parts of a checked KV section start. */
interface Section {
  view: DataView;
  cells: number;
  metaOffset: number;
  /** Per key layer, then per value layer: the offset of its data (after its type and sizes). */
  keyData: number[];
  valueData: number[];
}

function readSection(kv: Uint8Array, layout: KvLayout): Section {
  const v = view(kv);
  try {
    if (v.getUint32(0, true) !== LLAMA_SEQ_MAGIC) throw malformed("its KV section is not a llama.cpp sequence state");
    let offset = 12 + 4 * v.getUint32(8, true);
    if (v.getUint32(offset, true) !== 1) throw malformed("its KV section is not in single-stream form");
    const cells = v.getUint32(offset + 4, true);
    const metaOffset = offset + 8;
    const keyData: number[] = [];
    const valueData: number[] = [];
    if (cells > 0) {
      offset = metaOffset + cells * CELL_META_BYTES + 8; // after v_trans and the layer count
      for (const key of layout.keys) {
        keyData.push(offset + 12);
        offset += 12 + cells * key.rowBytes;
      }
      for (const value of layout.values) {
        valueData.push(offset + 12);
        offset += 12 + ("rowBytes" in value ? cells * value.rowBytes : value.rows * cells * value.elementBytes);
      }
    } else offset = metaOffset;
    if (offset !== kv.byteLength) throw malformed("its KV section does not match this layout");
    return { view: v, cells, metaOffset, keyData, valueData };
  } catch (error) {
    if (error instanceof StateFormatError) throw error;
    throw malformed("its KV section ends early");
  }
}

/** One chunk's bytes: the cells `order` (cell indexes, in position order) of every part. */
function chunkBytes(kv: Uint8Array, section: Section, layout: KvLayout, order: readonly number[]): Uint8Array {
  const n = order.length;
  const out = new Uint8Array(chunkLength(n, layout));
  const writer = new Writer(out);
  writer.u32(n);
  const rows = (base: number, bytesPerCell: number) => {
    for (const cell of order) writer.bytes(kv.subarray(base + cell * bytesPerCell, base + (cell + 1) * bytesPerCell));
  };
  for (const cell of order) {
    // The saving sequence's id is left out (0): llama.cpp loads a state into its own sequence.
    writer.i32(section.view.getInt32(section.metaOffset + cell * CELL_META_BYTES, true));
    writer.u32(1);
    writer.i32(0);
  }
  layout.keys.forEach((key, layer) => rows(section.keyData[layer]!, key.rowBytes));
  layout.values.forEach((value, layer) => {
    if ("rowBytes" in value) return rows(section.valueData[layer]!, value.rowBytes);
    // Transposed values: each row holds one element per cell, for all the section's cells.
    for (let row = 0; row < value.rows; row++)
      rows(section.valueData[layer]! + row * section.cells * value.elementBytes, value.elementBytes);
  });
  return out;
}

function chunkLength(n: number, layout: KvLayout): number {
  return 4 + n * cellBytes(layout);
}

/** Bytes one cell takes in a chunk: its metadata and its row of every layer. */
function cellBytes(layout: KvLayout): number {
  let bytes = CELL_META_BYTES;
  for (const key of layout.keys) bytes += key.rowBytes;
  for (const value of layout.values) bytes += "rowBytes" in value ? value.rowBytes : value.rows * value.elementBytes;
  return bytes;
}

function sectionLength(tokens: number, cells: number, layout: KvLayout): number {
  const header = 12 + 4 * tokens + 8;
  if (cells === 0) return header;
  return header + 8 + 12 * (layout.keys.length + layout.values.length) + cells * cellBytes(layout);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

class Writer {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly out: Uint8Array) {
    this.view = view(out);
  }

  u32(value: number): void {
    this.view.setUint32(this.offset, value, true);
    this.offset += 4;
  }

  i32(value: number): void {
    this.view.setInt32(this.offset, value, true);
    this.offset += 4;
  }

  u64(value: number): void {
    this.view.setBigUint64(this.offset, BigInt(value), true);
    this.offset += 8;
  }

  bytes(part: Uint8Array): void {
    this.out.set(part, this.offset);
    this.offset += part.byteLength;
  }

  /** Leaves `count` bytes for another writer. */
  skip(count: number): void {
    this.offset += count;
  }
}
