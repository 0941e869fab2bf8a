import { createHash } from "node:crypto";
import type { Token } from "../shared/Token.js";

/**
 * The store keys of a conversation's KV chunks (see `kvChunks.ts`): each one a SHA-256 over what
 * makes the chunk's bytes what they are. That is the model and cache layout (`identity`), every
 * token from the conversation's start to the chunk's end, and the chunk's length. Two
 * conversations share a key only when they share everything before the chunk's end, so a shared
 * prefix (a system prompt) is stored once, and a chunk is never taken for another model's.
 *
 * Keys are chained: chunk k's key hashes chunk k − 1's key and chunk k's own tokens, so the keys of
 * a whole conversation cost one pass over its tokens.
 *
 * A conversation that context shift has cut is not the prefix of anything: its keys' cells were
 * moved and their keys re-rotated after tokens were erased, so the same tokens give other bytes.
 * Such a conversation passes a `lineage` of its own (one that never repeats, such as a random id),
 * and its chunks can then match no other conversation's.
 */
export function chunkKeys(identity: string, tokens: readonly Token[], chunkTokens: number, lineage = ""): string[] {
  if (!Number.isSafeInteger(chunkTokens) || chunkTokens < 1)
    throw new RangeError(`chunkTokens must be a positive integer, not ${chunkTokens}.`);
  let previous = createHash("sha256").update(`llama-scope kv chunk 1\0${identity}\0${lineage}`).digest();
  const keys: string[] = [];
  for (let start = 0; start < tokens.length; start += chunkTokens) {
    const run = tokens.slice(start, start + chunkTokens);
    // Little-endian whatever the machine, so replicas on any platform agree on the keys.
    const words = Buffer.alloc(4 * (1 + run.length));
    words.writeUInt32LE(run.length, 0);
    run.forEach((token, i) => words.writeUInt32LE(token, 4 * (i + 1)));
    previous = createHash("sha256").update(previous).update(words).digest();
    keys.push(previous.toString("hex"));
  }
  return keys;
}
