import { copySequenceKv } from "../internals/nodeLlamaCppInternals.js";
import type { Slot } from "./Slot.js";
import type { SlotCopy } from "../LlamaOptions.js";

/** The two ways to copy a slot's KV cache into an empty one. */
export interface SlotCopier {
  /** llama.cpp copies the cache itself; false when it cannot (the target is left empty). */
  kv(source: Slot, target: Slot): Promise<boolean>;
  /** Saves the source's cache and loads it into the target: always works, costs file I/O. */
  state(source: Slot, target: Slot): Promise<void>;
}

/**
 * Makes the empty slot `target` hold exactly `source`'s conversation: the same KV cache (every
 * cell bit for bit), the same tokens waiting to be evaluated, the same count of erased tokens. So
 * both continue exactly alike until they are given different prompts. Run it inside both slots'
 * queues: nothing may evaluate on either meanwhile.
 */
export async function copySlot(source: Slot, target: Slot, copier: SlotCopier): Promise<SlotCopy> {
  let how: SlotCopy = "kv";
  if (!(await copier.kv(source, target))) {
    how = "state";
    await copier.state(source, target);
  }
  target.pendingTokens = source.pendingTokens;
  target.erasedTokens = source.erasedTokens;
  return how;
}

/** The copier a `Llama` uses: llama.cpp's own copy when it can, else the state path given. */
export function slotCopier(state: SlotCopier["state"]): SlotCopier {
  return { kv: (source, target) => copySequenceKv(source.sequence, target.sequence), state };
}
