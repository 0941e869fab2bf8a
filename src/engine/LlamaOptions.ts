import { InvalidArgumentError } from "../shared/errors/index.js";
import type { SlotContextShift, TokenRange } from "../shared/ContextShift.js";
import type { LoadProgress } from "../loading/LoadProgress.js";
import type { StateMeta } from "../state/StateFormat.js";
import { assertKnownKeys } from "../shared/validate.js";

/** Options of `Llama.createSlot`. */
export interface SlotOptions {
  /**
   * This slot's context shift, replacing the load option's: `false`, or `{ size?, strategy?,
   * onShift? }` (see {@link SlotContextShift}).
   */
  contextShift?: SlotContextShift | false;
}

/** Options of `Llama.setPromptTokens`. */
export interface PromptTokensOptions {
  /**
   * Keep only the first `keep` tokens of the slot's history and append the prompt after them (the
   * rest leaves the KV cache when the generation starts). For a prompt that re-renders the end of
   * the conversation, such as a chat template's view of the last reply. Default: keep everything.
   */
  keep?: number;
  /**
   * Erase this range of the slot's history first (`keep` then counts the tokens left after it):
   * the tokens after it keep their cache and move down, as in a context shift, and it is reported
   * as one (`erasedTokens`, the slot's `onShift`). For a chat template whose oldest exchanges
   * leave the conversation. Default: erase nothing.
   */
  erase?: TokenRange;
}

/** Checks `setPromptTokens`' options. */
export function checkPromptTokensOptions(options: PromptTokensOptions): { keep: number | undefined; erase: TokenRange | undefined } {
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("setPromptTokens' options must be an object, e.g. { keep: 12 }.");
  assertKnownKeys(options, ["keep", "erase"], "setPromptTokens option", "setPromptTokens options");
  const { keep, erase } = options;
  if (keep !== undefined && (!Number.isSafeInteger(keep) || keep < 0))
    throw new InvalidArgumentError(`keep must be a whole number of tokens of at least 0, not ${String(keep)}.`);
  if (erase !== undefined) {
    const valid = erase !== null && typeof erase === "object" && Number.isSafeInteger(erase.start) && Number.isSafeInteger(erase.end);
    if (!valid || erase.start < 1 || erase.end < erase.start)
      throw new InvalidArgumentError(
        `erase must be a range { start, end } of token indices with 1 ≤ start ≤ end, not ${JSON.stringify(erase)}.`,
      );
  }
  return { keep, erase: erase === undefined ? undefined : { start: erase.start, end: erase.end } };
}

/** Options of `Llama.load` that are not load settings. */
export interface LoadControl {
  /**
   * Aborting it stops the load (a download, or llama.cpp reading the model) and `load` rejects
   * with the signal's reason. A `LlamaParent` disposed while its worker loads uses it.
   */
  signal?: AbortSignal;
  /**
   * Called as the model is downloaded (a URI not in the cache yet) and loaded: rising ratios per
   * phase, then one `ratio: 1` when the phase is done; the load's comes once the slots are allocated.
   */
  onProgress?: (progress: LoadProgress) => void;
}

/** Options of `Llama.saveState`. */
export interface SaveStateOptions {
  /**
   * A JSON object stored in the state's header (a user id, a title…) and returned by
   * `readStateMeta(bytes)`. llama.cpp never sees it.
   */
  meta?: StateMeta | undefined;
  /**
   * The bytes in a `SharedArrayBuffer`: posted to a worker thread they are shared, not copied (a
   * long conversation's state is tens of MB). Default false: a plain buffer, which can be transferred.
   */
  sharedMemory?: boolean | undefined;
}

/** Checks `Llama.load`'s second argument. */
export function checkLoadControl(control: LoadControl): LoadControl {
  if (control === null || typeof control !== "object")
    throw new InvalidArgumentError("Llama.load's second argument must be an object: { signal?, onProgress? }.");
  assertKnownKeys(control, ["signal", "onProgress"], "Llama.load control option", "Llama.load control options");
  const { signal, onProgress } = control;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError("Llama.load's signal must be an AbortSignal.");
  if (onProgress !== undefined && typeof onProgress !== "function")
    throw new InvalidArgumentError("Llama.load's onProgress must be a function: (progress) => { … }.");
  return control;
}

/** How a conversation was copied (`Llama.forkSlot`): inside llama.cpp, or through a saved state. */
export type SlotCopy = "kv" | "state";
