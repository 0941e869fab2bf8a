import { createHash } from "node:crypto";
import { seededRandom } from "./randomText.js";

/**
 * Structured mutations of llama-scope state bytes for the fuzz test: each one targets a field of
 * the format (docs/state-format.md) or of llama.cpp's sequence state inside it (kvLayout.ts), and
 * the SHA-256 trailer is recomputed afterwards, as anyone can. Mutation `i` is the same on every
 * run (its own seeded generator).
 */

interface Layout {
  headerStart: number;
  headerLength: number;
  header: Record<string, unknown>;
  tokensStart: number;
  tokenCount: number;
  pendingStart: number;
  pendingCount: number;
  kvStart: number;
  kvLength: number;
  /** Offsets inside the whole state. */
  kv: {
    tokenCountAt: number;
    tokensAt: number;
    streamsAt: number;
    cellsAt: number;
    cellCount: number;
    cellsStart: number;
    vTransAt: number;
    layersAt: number;
    layerHeaders: number[];
    dataRegions: [number, number][];
  };
}

const PREFIX = 16;

function layoutOf(bytes: Uint8Array): Layout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(Buffer.from(bytes.subarray(PREFIX, PREFIX + headerLength)).toString("utf8")) as Record<string, number>;
  const tokensStart = PREFIX + headerLength;
  const tokenCount = header["tokenCount"]!;
  const pendingStart = tokensStart + 4 * tokenCount;
  const pendingCount = header["pendingCount"]!;
  const kvStart = pendingStart + 4 * pendingCount;
  const kvLength = header["kvBytes"]!;
  let at = kvStart + 8;
  const tokenCountAt = at;
  const seqTokens = view.getUint32(at, true);
  const tokensAt = at + 4;
  at = tokensAt + 4 * seqTokens;
  const streamsAt = at;
  const cellsAt = at + 4;
  const cellCount = view.getUint32(cellsAt, true);
  const cellsStart = cellsAt + 4;
  at = cellsStart + 12 * cellCount;
  const vTransAt = at;
  const layersAt = at + 4;
  const layers = view.getUint32(layersAt, true);
  at = layersAt + 4;
  const layerHeaders: number[] = [];
  const dataRegions: [number, number][] = [];
  // Keys then values, each a type i32 and a row size u64 (v_trans is 0 for the test model).
  for (let record = 0; record < 2 * layers && at < kvStart + kvLength; record++) {
    layerHeaders.push(at);
    const rowBytes = Number(view.getBigUint64(at + 4, true));
    at += 12;
    dataRegions.push([at, at + rowBytes * cellCount]);
    at += rowBytes * cellCount;
  }
  return {
    headerStart: PREFIX,
    headerLength,
    header,
    tokensStart,
    tokenCount,
    pendingStart,
    pendingCount,
    kvStart,
    kvLength,
    kv: { tokenCountAt, tokensAt, streamsAt, cellsAt, cellCount, cellsStart, vTransAt, layersAt, layerHeaders, dataRegions },
  };
}

type Mutation = (bytes: Uint8Array, layout: Layout, random: () => number, vocabularySize: number) => Uint8Array;

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const index = (random: () => number, count: number) => Math.floor(random() * count);
const u32 = (bytes: Uint8Array, at: number, value: number) => new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value >>> 0, true);
const i32 = (bytes: Uint8Array, at: number, value: number) => new DataView(bytes.buffer, bytes.byteOffset).setInt32(at, value, true);
const u64 = (bytes: Uint8Array, at: number, value: bigint) => new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, value, true);

/** Values that break bounds: negative as u32, the edges of the vocabulary, the largest ids. */
const badTokenIds = (vocabularySize: number) => [-1, -2, vocabularySize, vocabularySize + 1, 0x7fffffff, 0xffffffff, 2 ** 24];

/** Rewrites the JSON header (its length may change: the sections move with it). */
function withHeader(bytes: Uint8Array, layout: Layout, change: (header: Record<string, unknown>) => void): Uint8Array {
  const header = structuredClone(layout.header);
  change(header);
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = new Uint8Array(PREFIX + json.length + (bytes.length - PREFIX - layout.headerLength));
  out.set(bytes.subarray(0, PREFIX));
  u32(out, 12, json.length);
  out.set(json, PREFIX);
  out.set(bytes.subarray(PREFIX + layout.headerLength), PREFIX + json.length);
  return out;
}

/** Replaces the KV section with `kv` and records its new length in the header. */
function withKv(bytes: Uint8Array, layout: Layout, kv: Uint8Array): Uint8Array {
  const rebuilt = new Uint8Array(layout.kvStart + kv.length + 32);
  rebuilt.set(bytes.subarray(0, layout.kvStart));
  rebuilt.set(kv, layout.kvStart);
  // The header and the token sections are where they were: only the KV length changes.
  return withHeader(rebuilt, layout, (header) => (header["kvBytes"] = kv.length));
}

export const MUTATIONS: Record<string, Mutation> = {
  "token id out of the vocabulary (both token lists)": (bytes, layout, random, vocabularySize) => {
    const j = index(random, layout.tokenCount);
    const value = pick(random, badTokenIds(vocabularySize));
    u32(bytes, layout.tokensStart + 4 * j, value);
    u32(bytes, layout.kv.tokensAt + 4 * j, value);
    return bytes;
  },
  "pending token out of the vocabulary": (bytes, layout, random, vocabularySize) => {
    if (layout.pendingCount === 0) return withHeader(bytes, layout, (header) => (header["pendingCount"] = 1));
    u32(bytes, layout.pendingStart, pick(random, badTokenIds(vocabularySize)));
    return bytes;
  },
  "token lists disagree": (bytes, layout, random) => {
    u32(bytes, layout.kv.tokensAt + 4 * index(random, layout.tokenCount), index(random, 512));
    return bytes;
  },
  "cell position out of range or repeated": (bytes, layout, random) => {
    const n = layout.kv.cellCount;
    const value = pick(random, [-1, -(2 ** 31), 2 ** 31 - 1, n, n + 1, 4096, 0, index(random, n)]);
    i32(bytes, layout.kv.cellsStart + 12 * index(random, n), value);
    return bytes;
  },
  "two cell positions swapped (still a permutation)": (bytes, layout, random) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const a = layout.kv.cellsStart + 12 * index(random, layout.kv.cellCount);
    const b = layout.kv.cellsStart + 12 * index(random, layout.kv.cellCount);
    const pa = view.getInt32(a, true);
    view.setInt32(a, view.getInt32(b, true), true);
    view.setInt32(b, pa, true);
    return bytes;
  },
  "cell sequence-id count": (bytes, layout, random) => {
    u32(bytes, layout.kv.cellsStart + 12 * index(random, layout.kv.cellCount) + 4, pick(random, [0, 2, 3, 0xffffffff, 2 ** 20]));
    return bytes;
  },
  "cell sequence id (read and discarded by llama.cpp)": (bytes, layout, random) => {
    i32(bytes, layout.kv.cellsStart + 12 * index(random, layout.kv.cellCount) + 8, pick(random, [-1, 1, 7, 2 ** 31 - 1]));
    return bytes;
  },
  "cell count": (bytes, layout, random) => {
    const n = layout.kv.cellCount;
    u32(bytes, layout.kv.cellsAt, pick(random, [0, 1, n - 1, n + 1, 2 * n, 0xffffffff, 2 ** 24, 2 ** 31]));
    return bytes;
  },
  "stream count": (bytes, layout, random) => {
    u32(bytes, layout.kv.streamsAt, pick(random, [0, 2, 4, 0xffffffff]));
    return bytes;
  },
  "v_trans flag": (bytes, layout, random) => {
    u32(bytes, layout.kv.vTransAt, pick(random, [1, 2, 0xffffffff]));
    return bytes;
  },
  "layer count": (bytes, layout, random) => {
    const layers = new DataView(bytes.buffer, bytes.byteOffset).getUint32(layout.kv.layersAt, true);
    u32(bytes, layout.kv.layersAt, pick(random, [0, layers - 1, layers + 1, 2 * layers, 0xffffffff, 2 ** 20]));
    return bytes;
  },
  "layer type": (bytes, layout, random) => {
    i32(bytes, pick(random, layout.kv.layerHeaders), pick(random, [0, 2, 8, 30, 39, -1, 2 ** 31 - 1]));
    return bytes;
  },
  "layer row size": (bytes, layout, random) => {
    const at = pick(random, layout.kv.layerHeaders) + 4;
    const row = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true);
    u64(bytes, at, pick(random, [0n, row - 2n, row + 2n, row * 2n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n]));
    return bytes;
  },
  "KV section truncated": (bytes, layout, random) => {
    const kv = bytes.slice(layout.kvStart, layout.kvStart + layout.kvLength);
    return withKv(bytes, layout, kv.subarray(0, index(random, kv.length)));
  },
  "trailing bytes after the KV section": (bytes, layout, random) => {
    const kv = bytes.slice(layout.kvStart, layout.kvStart + layout.kvLength);
    const extra = pick(random, [1, 4, 12, 64, 4096]);
    const out = new Uint8Array(kv.length + extra);
    out.set(kv);
    for (let k = kv.length; k < out.length; k++) out[k] = index(random, 256);
    return withKv(bytes, layout, out);
  },
  "header counts forged": (bytes, layout, random) =>
    withHeader(bytes, layout, (header) => {
      const field = pick(random, ["tokenCount", "pendingCount", "kvBytes", "erasedTokens"]);
      header[field] = pick(random, [-1, 0, 1, 2 ** 31, 2 ** 53, 1.5, (header[field] as number) + 1]);
    }),
  "llama.cpp token count field": (bytes, layout, random) => {
    u32(bytes, layout.kv.tokenCountAt, pick(random, [0, layout.tokenCount + 1, 0xffffffff, 2 ** 28]));
    return bytes;
  },
  "llama.cpp magic or version": (bytes, layout, random) => {
    u32(bytes, layout.kvStart + 4 * index(random, 2), pick(random, [0, 1, 2, 4, 0xffffffff]));
    return bytes;
  },
  "KV values overwritten (garbage keys and values)": (bytes, layout, random) => {
    const [start, end] = pick(random, layout.kv.dataRegions);
    for (let k = 0; k < 32 && end > start; k++)
      bytes[start + index(random, end - start)] = pick(random, [0xff, 0x7f, 0x00, index(random, 256)]);
    return bytes;
  },
  "random bytes in the KV structure": (bytes, layout, random) => {
    const start = layout.kv.streamsAt;
    for (let k = 0; k < 1 + index(random, 4); k++)
      bytes[start + index(random, Math.min(256, layout.kvStart + layout.kvLength - start))] = index(random, 256);
    return bytes;
  },
};

export const MUTATION_KINDS = Object.keys(MUTATIONS);

/** Mutation `i` of a valid state, with the SHA-256 trailer recomputed. */
export function mutateState(valid: Uint8Array, i: number, vocabularySize: number): { kind: string; bytes: Uint8Array } {
  const kind = MUTATION_KINDS[i % MUTATION_KINDS.length]!;
  const random = seededRandom(0x5eed + i);
  const bytes = valid.slice();
  const mutated = MUTATIONS[kind]!(bytes, layoutOf(bytes), random, vocabularySize);
  return { kind, bytes: reseal(mutated) };
}

/** Recomputes the SHA-256 trailer over everything before it, as anyone holding the bytes can. */
export function reseal(bytes: Uint8Array): Uint8Array {
  const body = bytes.subarray(0, bytes.length - 32);
  bytes.set(createHash("sha256").update(body).digest(), bytes.length - 32);
  return bytes;
}
