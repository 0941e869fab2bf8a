import { assertKnownKeys } from "../shared/validate.js";
import { InvalidArgumentError } from "../shared/errors/index.js";

/** Options of `LlamaParent.init`. */
export interface InitOptions {
  /**
   * Aborting it before the model is ready stops the download or the load, ends the engine and
   * disposes the parent; `init()` rejects with `AbortError`. Once `init()` has resolved it does
   * nothing.
   */
  signal?: AbortSignal;
}

/** Checks `init`'s options; resolves with its signal, if any. */
export function resolveInitOptions(options: InitOptions | undefined): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("init takes an options object: parent.init({ signal }).");
  assertKnownKeys(options, ["signal"], "init option", "init options");
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError("init's signal must be an AbortSignal, e.g. AbortSignal.timeout(60_000).");
  return signal;
}
