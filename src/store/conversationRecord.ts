import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { Token } from "../shared/Token.js";
import { chunkDigest, chunkKeys, verifiedChunkCount } from "../state/chunkKeys.js";
import { kvCellOrder, kvJoin, kvJoinPlan, splitKv, type KvJoinPlan } from "../state/kvChunks.js";
import type { KvLayout } from "../state/kvLayout.js";
import {
  encodeStateWith,
  startState,
  isJsonObject,
  type EncodeOptions,
  type SlotState,
  type StateIdentity,
  type StateMeta,
} from "../state/StateFormat.js";
import type { ChunkStore } from "./ChunkStore.js";

/**
 * What a store keeps of one conversation beside its chunks: the keys of its KV chunks and what
 * the chunks do not hold (its tokens, those not evaluated yet, the tokens shifts erased, meta).
 * Small: about 4 bytes a token and 64 a chunk.
 */
export interface ConversationRecord {
  version: 1;
  /** The model and cache layout the chunks were made with. */
  identity: StateIdentity;
  chunkTokens: number;
  /** Empty for a conversation that context shift never cut; its own id once one did (see `chunkKeys`). */
  lineage: string;
  chunks: string[];
  tokens: Token[];
  pending: Token[];
  erasedTokens: number;
  /**
   * The KV cells' positions in llama.cpp's cache order, when that is not position order (after a
   * context shift): the joined cache keeps it, since attention's sums depend on it (see `kvCellOrder`).
   */
  cellOrder?: number[];
  meta?: StateMeta;
}

export interface StoreOptions {
  /** Positions per chunk. */
  chunkTokens: number;
  /** The engine's `stateKey`: chunks are sealed with an HMAC under it, and only open with it. */
  stateKey?: Uint8Array | undefined;
  /** A shifted conversation's lineage, kept across its turns; made up when it has none yet. */
  lineage?: string | undefined;
  /**
   * Chunks the store is known to hold already (an earlier record's): they are renewed, not sent
   * again. A turn then sends only the chunks it added.
   */
  known?: ReadonlySet<string> | undefined;
}

/**
 * Bytes of a chunk's seal with a state key: an HMAC-SHA256 of its key and bytes, so that only a
 * holder of the key makes chunks that load. Without a key a chunk has no seal: its key, which
 * hashes its bytes (see `chunkKeys`), is what checks them.
 */
const SEAL_BYTES = 32;

/**
 * Puts a conversation's state into `store` as chunks (only those the store lacks are written) and
 * returns its record, to be kept wherever the conversation's name leads (a session's key).
 */
export async function storeConversation(
  state: SlotState,
  layout: KvLayout,
  store: ChunkStore,
  options: StoreOptions,
): Promise<{ record: ConversationRecord; bytesWritten: number }> {
  const { chunkTokens, stateKey } = options;
  const lineage = options.lineage ?? (state.erasedTokens > 0 ? randomUUID() : "");
  const identity = identityOf(state.header);
  const chunks = splitKv(state.kv, layout, chunkTokens);
  const keys = chunkKeys(
    JSON.stringify(identity),
    state.tokens,
    chunkTokens,
    chunks.map((chunk) => chunkDigest(chunk.bytes)),
    lineage,
  );
  const known = options.known ?? new Set<string>();
  const sealed = new Map<string, Uint8Array>();
  keys.forEach((key, i) => {
    if (!known.has(key)) sealed.set(key, seal(key, chunks[i]!.bytes, stateKey));
  });
  const [bytesWritten] = await Promise.all([store.put(sealed), store.renew(keys.filter((key) => known.has(key)))]);
  const record: ConversationRecord = {
    version: 1,
    identity,
    chunkTokens,
    lineage,
    chunks: keys,
    tokens: [...state.tokens],
    pending: [...state.pending],
    erasedTokens: state.erasedTokens,
  };
  const cellOrder = kvCellOrder(state.kv, layout);
  if (cellOrder !== undefined) record.cellOrder = cellOrder;
  if (state.header.meta !== undefined) record.meta = state.header.meta;
  return { record, bytesWritten };
}

/** What {@link loadConversation} rebuilt of a record. */
export interface LoadedConversation {
  /** The state: the KV of the chunks found, the rest of the record's tokens as pending (evaluated at the next prompt). */
  state: SlotState;
  /** The state encoded (`encodeState`, with the same state key); `state.kv` is a view into it. */
  bytes: Uint8Array;
  /** Tokens whose KV came from the store. */
  loadedTokens: number;
  /** Chunks missing from the store, or refused by their seal or their key (the first one ends what is loaded). */
  refusedChunks: number;
}

/**
 * The state a record describes, its chunks read from `store`; undefined when this engine cannot
 * use it at all: the record is another model's or layout's. A chunk that is missing, fails its
 * seal or is not what its key names (its bytes or tokens changed) ends the loaded prefix there:
 * the tokens after it become pending, and the engine evaluates them again at the next prompt.
 *
 * The chunks are checked and joined straight into the encoded state as they arrive, while the
 * store reads the next ones: no copy of the KV is made apart, and little is left to do once the
 * last chunk is in. A record whose chunks do not all load is joined again, up to the last good one.
 */
export async function loadConversation(
  record: ConversationRecord,
  own: StateIdentity,
  layout: KvLayout,
  store: ChunkStore,
  stateKey?: Uint8Array,
  /** How the state is encoded: in shared memory for an engine in a worker thread. */
  encoding?: EncodeOptions,
): Promise<LoadedConversation | undefined> {
  const identity = identityOf(own);
  const identityText = JSON.stringify(identity);
  if (JSON.stringify(identityOf(record.identity)) !== identityText) return undefined;
  const header = record.meta === undefined ? identity : { ...identity, meta: record.meta };
  const state = (loadedTokens: number) => ({
    header,
    tokens: record.tokens.slice(0, loadedTokens),
    pending: [...record.tokens.slice(loadedTokens), ...record.pending],
    erasedTokens: record.erasedTokens,
  });
  const whole = wholeJoin(record, layout, state(record.tokens.length), stateKey, encoding);
  const opened: (Uint8Array | undefined)[] = [];
  const digests: (Uint8Array | undefined)[] = [];
  let joined = 0;
  const take = (i: number, sealed: Uint8Array | undefined) => {
    if (sealed === undefined || digests[i] !== undefined) return; // missing, or taken as it arrived
    const bytes = open(record.chunks[i]!, sealed, stateKey);
    if (bytes === undefined) return;
    opened[i] = bytes;
    digests[i] = chunkDigest(bytes);
    if (whole?.plan.writeChunk(whole.encoded.kv, i, bytes) === true) joined++;
  };
  const sealed = await store.get(record.chunks, take);
  sealed.forEach((bytes, i) => take(i, bytes)); // a store that does not hand chunks over as they come
  const count = verifiedChunkCount(identityText, record.tokens, record.chunkTokens, record.chunks, digests, record.lineage);
  if (whole !== undefined && count === record.chunks.length && joined === count) {
    whole.encoded.seal();
    const { bytes, kv } = whole.encoded;
    return { state: { ...state(record.tokens.length), kv }, bytes, loadedTokens: record.tokens.length, refusedChunks: 0 };
  }
  const prefix = (count: number): LoadedConversation => {
    const loadedTokens = Math.min(record.tokens.length, count * record.chunkTokens);
    const parts = state(loadedTokens);
    const order = record.cellOrder?.filter((position) => position < loadedTokens);
    const joined = kvJoin(parts.tokens, opened.slice(0, count) as Uint8Array[], layout, order);
    const { bytes, kv } = encodeStateWith(parts, joined.byteLength, (target) => joined.writeTo(target), stateKey, encoding);
    return { state: { ...parts, kv }, bytes, loadedTokens, refusedChunks: record.chunks.length - count };
  };
  try {
    return prefix(count);
  } catch {
    return prefix(0); // sealed, yet not this layout's: made by a writer with the same key but another build
  }
}

/**
 * The encoded state of the whole record, its KV section's own fields written and its chunks'
 * places laid out (`kvJoinPlan`), for the chunks to be written into as they arrive; undefined
 * for a record that cannot be joined whole (a cell order that is not one).
 */
function wholeJoin(
  record: ConversationRecord,
  layout: KvLayout,
  parts: Omit<SlotState, "kv">,
  stateKey: Uint8Array | undefined,
  encoding: EncodeOptions | undefined,
): { plan: KvJoinPlan; encoded: ReturnType<typeof startState> } | undefined {
  const counts = record.chunks.map((_, i) => Math.min(record.chunkTokens, record.tokens.length - i * record.chunkTokens));
  let plan: KvJoinPlan;
  try {
    plan = kvJoinPlan(record.tokens, counts, layout, record.cellOrder);
  } catch {
    return undefined;
  }
  const encoded = startState(parts, plan.byteLength, stateKey, encoding);
  plan.writeHeader(encoded.kv);
  return { plan, encoded };
}

/** Tokens are llama.cpp token ids: what `chunkKeys` writes as u32. */
const isTokenList = (value: unknown): value is Token[] =>
  Array.isArray(value) && value.every((token) => Number.isInteger(token) && token >= 0 && token <= 0xffffffff);
const isText = (value: unknown, max: number): value is string => typeof value === "string" && value.length <= max;

/**
 * A record read back from JSON (a store anyone with access may have written to), or undefined
 * when it is not one: its shape is checked here so that nothing after it trips on a bad field.
 * What its tokens and chunks are worth is checked later, by their keys and seals.
 */
export function parseConversationRecord(json: string): ConversationRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const r = value as Partial<ConversationRecord> | null;
  if (typeof r !== "object" || r === null || r.version !== 1) return undefined;
  const { identity } = r;
  const identityOk =
    typeof identity === "object" &&
    identity !== null &&
    isText(identity.model?.fingerprint, 256) &&
    isText(identity.model?.name, 4096) &&
    isText(identity.layout?.kvCacheKeyType, 64) &&
    isText(identity.layout?.kvCacheValueType, 64) &&
    isText(identity.layout?.flashAttention, 64);
  const chunkTokens = r.chunkTokens;
  if (
    !identityOk ||
    !Number.isSafeInteger(chunkTokens) ||
    chunkTokens! < 1 ||
    !isText(r.lineage, 64) ||
    !isTokenList(r.tokens) ||
    !isTokenList(r.pending) ||
    !Number.isSafeInteger(r.erasedTokens) ||
    r.erasedTokens! < 0 ||
    !Array.isArray(r.chunks) ||
    r.chunks.length !== Math.ceil(r.tokens.length / chunkTokens!) ||
    !r.chunks.every((key) => typeof key === "string" && /^[0-9a-f]{64}$/.test(key)) ||
    (r.meta !== undefined && !isJsonObject(r.meta)) ||
    (r.cellOrder !== undefined && !(isTokenList(r.cellOrder) && r.cellOrder.length === r.tokens.length))
  )
    return undefined;
  return r as ConversationRecord;
}

/** The identity alone, in a fixed key order (a header may carry `meta` beside it). */
function identityOf({ model, layout }: StateIdentity): StateIdentity {
  return {
    model: { fingerprint: model.fingerprint, name: model.name },
    layout: { kvCacheKeyType: layout.kvCacheKeyType, kvCacheValueType: layout.kvCacheValueType, flashAttention: layout.flashAttention },
  };
}

function seal(key: string, bytes: Uint8Array, stateKey: Uint8Array | undefined): Uint8Array {
  if (stateKey === undefined) return bytes;
  const out = new Uint8Array(bytes.byteLength + SEAL_BYTES);
  out.set(bytes);
  out.set(tag(key, bytes, stateKey), bytes.byteLength);
  return out;
}

/** The chunk without its seal; undefined when the seal does not match (changed, or another key's). */
function open(key: string, sealed: Uint8Array, stateKey: Uint8Array | undefined): Uint8Array | undefined {
  if (stateKey === undefined) return sealed;
  if (sealed.byteLength < SEAL_BYTES) return undefined;
  const bytes = sealed.subarray(0, sealed.byteLength - SEAL_BYTES);
  return timingSafeEqual(tag(key, bytes, stateKey), sealed.subarray(bytes.byteLength)) ? bytes : undefined;
}

/** The seal covers the key too: a chunk moved under another key does not open. */
function tag(key: string, bytes: Uint8Array, stateKey: Uint8Array): Buffer {
  return createHmac("sha256", stateKey).update(key).update(bytes).digest();
}
