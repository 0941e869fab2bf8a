import { createHash } from "node:crypto";
import type { Token } from "../shared/Token.js";

/** The SHA-256 of a chunk's bytes (without any seal): what its key says of its content. */
export function chunkDigest(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/**
 * The store keys of a conversation's KV chunks (see `kvChunks.ts`): each one a SHA-256 over what
 * the chunk is. That is the model and cache layout (`identity`), every token from the
 * conversation's start to the chunk's end, the chunk's length, and the chunk's own bytes (their
 * `chunkDigest`). Two conversations share a key only when they share everything before the
 * chunk's end and the chunk's bytes are the same, so a shared prefix (a system prompt evaluated
 * alike) is stored once, a chunk is never taken for another model's, and a reader that recomputes
 * a key from the bytes it got has checked them.
 *
 * The bytes are in the key because the same tokens do not always give the same bytes: a token
 * evaluated in a batch of another shape rounds otherwise (llama.cpp's sums), so two conversations
 * with the same tokens may hold KV that differs in its last bits. Keyed by tokens alone, the
 * second would be stored as the first's chunk, and would continue as the first does.
 *
 * Keys are chained: chunk k's key hashes chunk k − 1's key, chunk k's tokens and its digest, so
 * the keys of a whole conversation cost one pass over its tokens and bytes.
 *
 * A conversation that context shift has cut passes a `lineage` of its own (one that never
 * repeats, such as a random id): its keys' cells were moved and re-rotated, and its chunks then
 * match no other conversation's.
 */
export function chunkKeys(
  identity: string,
  tokens: readonly Token[],
  chunkTokens: number,
  digests: readonly Uint8Array[],
  lineage = "",
): string[] {
  const count = chunkCount(tokens, chunkTokens);
  if (digests.length !== count)
    throw new RangeError(`${count} chunks of ${chunkTokens} tokens take ${count} digests, not ${digests.length}.`);
  const chain = new KeyChain(identity, lineage);
  return digests.map((digest, k) => chain.next(tokens.slice(k * chunkTokens, (k + 1) * chunkTokens), digest));
}

/**
 * How many chunks, from the first, are what `keys` name: each key recomputed from the tokens and
 * the chunk's bytes (their {@link chunkDigest}s, taken as each chunk came; see {@link chunkKeys}).
 * A missing chunk (undefined), or one whose bytes or tokens are not its key's, ends the count.
 */
export function verifiedChunkCount(
  identity: string,
  tokens: readonly Token[],
  chunkTokens: number,
  keys: readonly string[],
  digests: readonly (Uint8Array | undefined)[],
  lineage = "",
): number {
  const count = Math.min(chunkCount(tokens, chunkTokens), keys.length, digests.length);
  const chain = new KeyChain(identity, lineage);
  for (let k = 0; k < count; k++) {
    const digest = digests[k];
    if (digest === undefined || chain.next(tokens.slice(k * chunkTokens, (k + 1) * chunkTokens), digest) !== keys[k]) return k;
  }
  return count;
}

function chunkCount(tokens: readonly Token[], chunkTokens: number): number {
  if (!Number.isSafeInteger(chunkTokens) || chunkTokens < 1)
    throw new RangeError(`chunkTokens must be a positive integer, not ${chunkTokens}.`);
  return Math.ceil(tokens.length / chunkTokens);
}

/** The chained hash: each key covers the one before it. */
class KeyChain {
  private previous: Buffer;

  constructor(identity: string, lineage: string) {
    this.previous = createHash("sha256").update(`llama-scope kv chunk 2\0${identity}\0${lineage}`).digest();
  }

  next(run: readonly Token[], digest: Uint8Array): string {
    // Little-endian whatever the machine, so replicas on any platform agree on the keys.
    const words = Buffer.alloc(4 * (1 + run.length));
    words.writeUInt32LE(run.length, 0);
    run.forEach((token, i) => words.writeUInt32LE(token, 4 * (i + 1)));
    this.previous = createHash("sha256").update(this.previous).update(words).update(digest).digest();
    return this.previous.toString("hex");
  }
}
