import { StateFormatError } from "../shared/errors/index.js";

/**
 * llama.cpp keeps one KV stream per sequence of a context and writes the stream count into a
 * sequence's state, so a state saved from a 4-slot context is refused by a 2-slot one. A state
 * of one sequence has at most one non-empty stream, so it is stored with a single stream and
 * re-expanded to the loading context's stream count.
 *
 * Layout of llama.cpp's sequence state file (all u32 little-endian):
 * `magic 'ggsq'`, `version`, `n_tokens`, `tokens[n_tokens]`, then the KV section:
 * `n_stream`, and per stream `cell_count` followed, when non-zero, by that stream's cells.
 */
const HEADER_WORDS = 3;

/** Rewrites a sequence state to the one-stream form stored in llama-scope states. */
export function toSingleStream(kv: Uint8Array): Uint8Array {
  return concat(...singleStreamParts(kv));
}

/**
 * {@link toSingleStream} as the parts to write one after another (views of `kv`, and the few
 * bytes that differ): a state is encoded from them without a copy of the whole KV section apart.
 */
export function singleStreamParts(kv: Uint8Array): Uint8Array[] {
  const words = new DataView(kv.buffer, kv.byteOffset, kv.byteLength);
  const sectionStart = 4 * (HEADER_WORDS + words.getUint32(8, true));
  const streams = words.getUint32(sectionStart, true);
  let index = 0;
  while (index < streams && words.getUint32(sectionStart + 4 * (1 + index), true) === 0) index++;
  if (index === streams) return [kv.subarray(0, sectionStart), u32(1), u32(0)];
  const trailing = 4 * (streams - 1 - index);
  const tail = kv.subarray(kv.byteLength - trailing);
  if (tail.some((byte) => byte !== 0))
    throw new StateFormatError("llama.cpp wrote a sequence state with several non-empty KV streams; this model's states cannot be saved.");
  const payload = kv.subarray(sectionStart + 4 * (1 + index), kv.byteLength - trailing);
  return [kv.subarray(0, sectionStart), u32(1), payload];
}

/**
 * Expands a one-stream sequence state to a context with `streams` KV streams, as the parts to
 * write one after another (views of `kv`, and the few bytes that differ): a state file is written
 * from them without a copy of the whole KV section.
 */
export function toStreamParts(kv: Uint8Array, streams: number): Uint8Array[] {
  const words = new DataView(kv.buffer, kv.byteOffset, kv.byteLength);
  const sectionStart = 4 * (HEADER_WORDS + words.getUint32(8, true));
  if (words.getUint32(sectionStart, true) !== 1)
    throw new StateFormatError("This state's KV section is not in single-stream form: save it again with saveState().");
  return [kv.subarray(0, sectionStart), u32(streams), kv.subarray(sectionStart + 4), new Uint8Array(4 * (streams - 1))];
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** Bytes of `parts` together. */
export function partsLength(parts: readonly Uint8Array[]): number {
  return parts.reduce((sum, part) => sum + part.byteLength, 0);
}

/** Writes `parts` one after another into `target`, from its start. */
export function writeParts(target: Uint8Array, parts: readonly Uint8Array[]): void {
  let offset = 0;
  for (const part of parts) {
    target.set(part, offset);
    offset += part.byteLength;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(partsLength(parts));
  writeParts(out, parts);
  return out;
}
