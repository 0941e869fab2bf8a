import type { Token } from "node-llama-cpp";
import type { Llama, SlotHandle } from "../../engine/index.js";
import { startsWith } from "../../shared/tokenRuns.js";
import type { PrefixCache } from "./PrefixCache.js";

/** What {@link SharedPrefixes.fill} left in the slot. */
export interface FilledPrefix {
  /** Tokens of the prompt the slot holds now, all in its KV cache (0: it was left alone). */
  held: number;
  /** Of those, the tokens evaluated here (the others were loaded). */
  evaluated: number;
}

/**
 * Evaluates the start of a chat scope's first prompt in the pieces other scopes share with it
 * (its system prompt, its whole history before the turn), each in a call of its own. With a
 * {@link PrefixCache} it takes the longest piece it can instead of evaluating up to it: copied
 * inside llama.cpp from a resident slot it filled the same way (no file, no checks), or else
 * loaded from the state stored; and it stores the pieces it evaluated.
 *
 * The pieces are cut where the history says, never where the cache happens to hold something,
 * and with the cache off too. That is what keeps replies byte-identical with and without it, hit
 * or miss: llama.cpp computes a token's cache the same whatever batch of the same sequence it is
 * in, except for small batches (Q8_0 weights on CPU take another kernel below 64 tokens), so a
 * turn evaluated after its prefix can differ in the last bits from the same turn evaluated in one
 * batch with it. Cut at the same places every time, every scope computes the same bits.
 */
export class SharedPrefixes {
  /** Pieces being evaluated now, by the last one's key: a second scope waits for the first instead of evaluating too. */
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /**
   * Slots this filled, and with what: their cells for each piece are the ones every scope
   * computes (same cuts), so while they hold them unshifted a new scope can copy a piece from
   * them, inside llama.cpp, instead of loading its stored state. By slot id; see {@link forget}.
   */
  private readonly holders = new Map<string, Held>();

  constructor(
    /** Shorter pieces are not cut out (nor stored): evaluated with the turn, as without this. */
    readonly minTokens: number,
    /** Undefined: the cache is off (pieces are evaluated, nothing is stored, loaded or counted). */
    readonly cache: PrefixCache | undefined,
  ) {}

  /**
   * Fills slot `slotId`, which must be empty, with `prompt` up to its last cut in `cuts`
   * (increasing token counts), piece by piece. Pieces that end past `storeUpTo` are evaluated and
   * loaded as the others, but not stored (a scope's own history, which no other scope will start
   * from). Never rejects: when anything fails the slot may hold part of the prompt, and `held` is 0
   * so that the prompt replaces it.
   */
  async fill(llama: Llama, slotId: string, prompt: readonly Token[], cuts: readonly number[], storeUpTo = Infinity): Promise<FilledPrefix> {
    const pieces = cuts.filter((cut, i) => cut >= this.minTokens && cut > (cuts[i - 1] ?? 0) && cut < prompt.length);
    const whole = pieces.at(-1);
    if (whole === undefined) return { held: 0, evaluated: 0 };
    const key = this.cache?.keyOf(prompt.slice(0, whole));
    if (key === undefined) return this.fillPieces(llama, slotId, prompt, pieces, storeUpTo);
    // Registered before anything is awaited: requests that arrive together see each other.
    for (let pending = this.inFlight.get(key); pending !== undefined; pending = this.inFlight.get(key)) await pending;
    const filling = this.fillPieces(llama, slotId, prompt, pieces, storeUpTo);
    this.inFlight.set(key, filling);
    try {
      return await filling;
    } finally {
      if (this.inFlight.get(key) === filling) this.inFlight.delete(key);
    }
  }

  /** Loads the longest piece stored, evaluates (and stores) the pieces after it. */
  private async fillPieces(
    llama: Llama,
    slotId: string,
    prompt: readonly Token[],
    pieces: readonly number[],
    storeUpTo: number,
  ): Promise<FilledPrefix> {
    const { cache } = this;
    const whole = pieces.at(-1)!;
    try {
      const slot = llama.slot(slotId);
      let start = 0;
      for (const cut of [...pieces].reverse()) {
        if (cache === undefined) break;
        if (
          await this.copyFromHolder(
            slot,
            prompt.slice(0, cut),
            pieces.filter((piece) => piece <= cut),
          )
        ) {
          cache.copied();
          start = cut;
          break;
        }
        const stored = cache.get(prompt.slice(0, cut));
        if (stored === undefined) continue;
        await slot.loadState(stored);
        start = cut;
        break;
      }
      let evaluated = 0;
      if (start === whole) cache?.hit();
      else {
        cache?.miss();
        for (const cut of pieces.filter((cut) => cut > start)) {
          evaluated += await slot.prefill(prompt.slice(start, cut));
          if (cut <= storeUpTo && cache?.worthStoring(cut)) cache.put(prompt.slice(0, cut), await slot.saveState());
          start = cut;
        }
      }
      if (cache !== undefined) this.holders.set(slotId, { tokens: prompt.slice(0, whole), cuts: pieces });
      return { held: whole, evaluated };
    } catch {
      return { held: 0, evaluated: 0 };
    }
  }

  /**
   * The slot no longer holds what this filled it with as this computed it (its scope is gone, or
   * its history was evaluated again some other way): no copy is taken from it any more.
   */
  forget(slotId: string): void {
    this.holders.delete(slotId);
  }

  /**
   * Copies `piece` into the slot from another slot filled with it in the same pieces (`cuts`, the
   * last one `piece`'s end), if one holds it unshifted and idle.
   */
  private async copyFromHolder(slot: SlotHandle, piece: readonly Token[], cuts: readonly number[]): Promise<boolean> {
    const sameCuts = (held: Held) => startsWith(held.cuts, cuts);
    for (const [holderId, held] of this.holders) {
      if (holderId === slot.id || !sameCuts(held) || !startsWith(held.tokens, piece)) continue;
      try {
        if (await slot.copyPrefix(holderId, piece)) return true;
      } catch {
        this.holders.delete(holderId); // its slot is gone (the engine says so): the scope was freed
      }
    }
    return false;
  }
}

/** What a slot was filled with: the prompt up to its last piece, and where the pieces end. */
interface Held {
  tokens: readonly Token[];
  cuts: readonly number[];
}
