import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { StateFormatError } from "../shared/errors/index.js";
import type { Token } from "../shared/Token.js";

/**
 * The bytes of a frozen slot (format version 2, little-endian):
 *
 * | bytes        | content                                                        |
 * |--------------|----------------------------------------------------------------|
 * | 8            | magic `LLSCSTAT`                                               |
 * | 2            | format version                                                 |
 * | 2            | flags: bit 0 = authenticated (the last 32 bytes are an HMAC)   |
 * | 4            | header length H                                                |
 * | H            | header, UTF-8 JSON: {@link StateHeader}                        |
 * | 4 × tokens   | tokens in the KV cache                                         |
 * | 4 × pending  | tokens of the conversation not yet evaluated                   |
 * | kvBytes      | llama.cpp's sequence state file (`ggsq`), as written by it     |
 * | 32           | SHA-256 of everything before, or HMAC-SHA256 with the state key |
 */
export const STATE_MAGIC = "LLSCSTAT";
/** 2: flags (authenticated states) and `erasedTokens` (context shifts); version 1 states are refused. */
export const STATE_FORMAT_VERSION = 2;

/** What a state was made with; a loader compares it with its own before touching llama.cpp. */
export interface StateIdentity {
  model: { fingerprint: string; name: string };
  /** KV cache shape settings: a state only loads into a context with the same ones. */
  layout: { kvCacheKeyType: string; kvCacheValueType: string; flashAttention: string };
}

/** Data saved with a state by its caller (a JSON object); llama.cpp never sees it. */
export type StateMeta = Record<string, unknown>;

export interface StateHeader extends StateIdentity {
  tokenCount: number;
  pendingCount: number;
  /**
   * Tokens context shifts erased over the conversation's life. The KV section holds the cache as
   * it is after them: node-llama-cpp moves the kept tokens down, so positions still run from 0 and
   * the keys carry llama.cpp's position shift (applied by the decode that followed each shift).
   */
  erasedTokens: number;
  kvBytes: number;
  meta?: StateMeta;
}

export interface SlotState {
  header: StateIdentity & { meta?: StateMeta };
  tokens: readonly Token[];
  pending: readonly Token[];
  erasedTokens: number;
  kv: Uint8Array;
}

const PREFIX_BYTES = 8 + 2 + 2 + 4;
const FLAGS_OFFSET = 10;
const HEADER_LENGTH_OFFSET = 12;
const AUTHENTICATED = 1;
const CHECKSUM_BYTES = 32;
/** llama.cpp's sequence state file starts with the magic 'ggsq', a version, and its token list. */
export const LLAMA_SEQ_MAGIC = 0x67677371;

/**
 * The state as bytes. With `key` (the engine's `stateKey`), the trailer is an HMAC-SHA256 of
 * everything before it, so only a holder of the key can make a state that loads.
 */
export function encodeState(state: SlotState, key?: Uint8Array): Uint8Array {
  return encodeStateWith(state, state.kv.byteLength, (target) => target.set(state.kv), key).bytes;
}

/** How {@link encodeStateWith} makes the bytes. */
export interface EncodeOptions {
  /**
   * In a `SharedArrayBuffer`: posted to a worker thread, the bytes are then shared, not copied.
   * A long conversation's state is tens of MB, and a structured clone of it costs more than a
   * hundred ms. Only for bytes nobody changes afterwards, as states are.
   */
  shared?: boolean | undefined;
}

/** A copy of state bytes, in a `SharedArrayBuffer` when `shared` (see {@link EncodeOptions}). */
export function copyState(bytes: Uint8Array, shared: boolean): Uint8Array {
  if (!shared) return bytes.slice();
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

/**
 * {@link encodeState} for a state whose KV section is written straight into the result by
 * `writeKv` (`kvBytes` long), as `joinKv` does: a long conversation's KV is tens of MB, and
 * assembling it apart first would cost one more copy. Returns the bytes and the KV section in them.
 */
export function encodeStateWith(
  state: Omit<SlotState, "kv">,
  kvBytes: number,
  writeKv: (target: Uint8Array) => void,
  key?: Uint8Array,
  options: EncodeOptions = {},
): { bytes: Uint8Array; kv: Uint8Array } {
  const { bytes, kv, seal } = startState(state, kvBytes, key, options);
  writeKv(kv);
  seal();
  return { bytes, kv };
}

/**
 * {@link encodeStateWith} for a KV section written bit by bit, as a store's chunks come: the bytes
 * with everything but the KV section written; `seal()` adds the trailer once the section is whole.
 */
export function startState(
  state: Omit<SlotState, "kv">,
  kvBytes: number,
  key?: Uint8Array,
  options: EncodeOptions = {},
): { bytes: Uint8Array; kv: Uint8Array; seal: () => void } {
  const header: StateHeader = {
    ...state.header,
    tokenCount: state.tokens.length,
    pendingCount: state.pending.length,
    erasedTokens: state.erasedTokens,
    kvBytes,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const tokensBytes = 4 * (state.tokens.length + state.pending.length);
  const total = PREFIX_BYTES + headerBytes.length + tokensBytes + kvBytes + CHECKSUM_BYTES;
  // Not zeroed first: every byte is written below and by the KV's writer (a SharedArrayBuffer always is).
  const out = options.shared === true ? Buffer.from(new SharedArrayBuffer(total)) : Buffer.allocUnsafeSlow(total);
  let offset = out.write(STATE_MAGIC, 0, "latin1");
  offset = out.writeUInt16LE(STATE_FORMAT_VERSION, offset);
  offset = out.writeUInt16LE(key === undefined ? 0 : AUTHENTICATED, offset);
  offset = out.writeUInt32LE(headerBytes.length, offset);
  offset += headerBytes.copy(out, offset);
  for (const token of [...state.tokens, ...state.pending]) offset = out.writeUInt32LE(token, offset);
  const kv = new Uint8Array(out.buffer, out.byteOffset + offset, kvBytes);
  const end = offset + kvBytes;
  return {
    bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    kv,
    seal: () => void trailer(out.subarray(0, end), key).copy(out, end),
  };
}

/**
 * Parses and checks state bytes; throws {@link StateFormatError} for anything not a whole, intact
 * state. With `key`, a state must be authenticated with it, and its MAC is checked before
 * anything else is read; without one, an authenticated state is refused too (its key is needed).
 */
export function decodeState(bytes: Uint8Array, key?: Uint8Array): SlotState {
  const data = openState(bytes, PREFIX_BYTES + CHECKSUM_BYTES);
  const body = data.subarray(0, data.length - CHECKSUM_BYTES);
  const authenticated = (data.readUInt16LE(FLAGS_OFFSET) & AUTHENTICATED) !== 0;
  if (key !== undefined && !authenticated)
    throw new StateFormatError(
      "This state is not authenticated, and this Llama loads only states made with its stateKey: save it again with the same stateKey.",
    );
  if (key === undefined && authenticated)
    throw new StateFormatError("This state is authenticated with a stateKey: load it with the stateKey that saved it.");
  if (!timingSafeEqual(trailer(body, key), data.subarray(data.length - CHECKSUM_BYTES)))
    throw new StateFormatError(
      key === undefined
        ? "This state is truncated or corrupted (its checksum does not match): save it again from the source."
        : "This state's MAC does not match this stateKey: it was changed, or made with another key. Load only states saved with this stateKey.",
    );

  const header = parseHeader(body);
  let offset = PREFIX_BYTES + data.readUInt32LE(HEADER_LENGTH_OFFSET);
  const expectedEnd = offset + 4 * (header.tokenCount + header.pendingCount) + header.kvBytes;
  if (expectedEnd !== body.length) throw corrupt("its sections do not add up to its length");
  const readTokens = (count: number): Token[] => {
    const tokens: Token[] = [];
    for (let i = 0; i < count; i++, offset += 4) tokens.push(body.readUInt32LE(offset) as Token);
    return tokens;
  };
  const tokens = readTokens(header.tokenCount);
  const pending = readTokens(header.pendingCount);
  // A view, not a copy: a large state is tens of MB, and a fresh copy of it costs ~2.5 ms a MB.
  const kv = new Uint8Array(body.buffer, body.byteOffset + offset, body.length - offset);
  checkLlamaSequenceState(kv, tokens);
  const { model, layout, meta } = header;
  return {
    header: meta === undefined ? { model, layout } : { model, layout, meta },
    tokens,
    pending,
    erasedTokens: header.erasedTokens,
    kv,
  };
}

/**
 * The data saved with a state (`saveState({ meta })`), from its header alone: cheap, and it does
 * not verify the rest of the bytes (loading does).
 * @throws {StateFormatError} for bytes that do not start with an intact header.
 */
export function readStateMeta(bytes: Uint8Array): StateMeta | undefined {
  return parseHeader(openState(bytes, PREFIX_BYTES)).meta;
}

/** Tokens of the conversation a state holds (in its KV cache and pending), from its header alone. */
export function stateTokenCount(bytes: Uint8Array): number {
  const header = parseHeader(openState(bytes, PREFIX_BYTES));
  return header.tokenCount + header.pendingCount;
}

/** The bytes as a Buffer, once they are known to start like a state of this format version. */
function openState(bytes: Uint8Array, minLength: number): Buffer {
  if (!(bytes instanceof Uint8Array)) throw new StateFormatError("A state must be a Uint8Array, as returned by saveState().");
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length < minLength || data.toString("latin1", 0, 8) !== STATE_MAGIC)
    throw new StateFormatError("These bytes are not a llama-scope state: pass bytes returned by saveState().");
  const version = data.readUInt16LE(8);
  if (version !== STATE_FORMAT_VERSION)
    throw new StateFormatError(
      `This state has format version ${version}; this llama-scope reads version ${STATE_FORMAT_VERSION}. Load it with the llama-scope version that saved it.`,
    );
  return data;
}

/** SHA-256 of `body`, or its HMAC-SHA256 under `key`. */
function trailer(body: Uint8Array, key: Uint8Array | undefined): Buffer {
  return (key === undefined ? createHash("sha256") : createHmac("sha256", key)).update(body).digest();
}

function parseHeader(body: Buffer): StateHeader {
  const length = body.readUInt32LE(HEADER_LENGTH_OFFSET);
  if (PREFIX_BYTES + length > body.length) throw corrupt("its header runs past its end");
  let header: unknown;
  try {
    header = JSON.parse(body.toString("utf8", PREFIX_BYTES, PREFIX_BYTES + length));
  } catch {
    throw corrupt("its header is not valid JSON");
  }
  if (!isStateHeader(header)) throw corrupt("its header lacks required fields");
  return header;
}

function isStateHeader(value: unknown): value is StateHeader {
  const h = value as StateHeader | null;
  const count = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  return (
    typeof h === "object" &&
    h !== null &&
    typeof h.model?.fingerprint === "string" &&
    typeof h.model?.name === "string" &&
    typeof h.layout?.kvCacheKeyType === "string" &&
    typeof h.layout?.kvCacheValueType === "string" &&
    typeof h.layout?.flashAttention === "string" &&
    count(h.tokenCount) &&
    count(h.pendingCount) &&
    count(h.erasedTokens) &&
    count(h.kvBytes) &&
    (h.meta === undefined || isJsonObject(h.meta))
  );
}

export function isJsonObject(value: unknown): value is StateMeta {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The KV part must be llama.cpp's own sequence file for exactly the recorded tokens. */
function checkLlamaSequenceState(kv: Uint8Array, tokens: readonly Token[]): void {
  const view = new DataView(kv.buffer, kv.byteOffset, kv.byteLength);
  if (kv.byteLength < 12 || view.getUint32(0, true) !== LLAMA_SEQ_MAGIC) throw corrupt("its KV section is not a llama.cpp sequence state");
  const count = view.getUint32(8, true);
  if (count !== tokens.length || kv.byteLength < 12 + 4 * count) throw corrupt("its KV section holds another token count");
  for (let i = 0; i < count; i++) if (view.getUint32(12 + 4 * i, true) !== tokens[i]) throw corrupt("its KV section holds other tokens");
}

function corrupt(what: string): StateFormatError {
  return new StateFormatError(`This state is malformed (${what}): save it again with saveState().`);
}
