import { InvalidArgumentError } from "../shared/errors/index.js";

/**
 * What a `LlamaParent` does when a scope needs a slot and every slot is held: freeze the least
 * recently used idle scope and hand its slot over. Frozen conversations are kept in the parent
 * thread, in memory up to `maxRamBytes` and beyond it in one spill file, created in `dir` and
 * unlinked at once (it lives only through its open descriptor).
 */
export interface SwapOptions {
  /** Frozen bytes kept in memory before new freezes go to files. Default 256 MiB. `0` puts every freeze on disk. */
  maxRamBytes?: number;
  /**
   * Where the spill file for frozen conversations beyond `maxRamBytes` is created: in a private
   * directory inside it (mode 0700), both removed right after the file is opened, so nothing stays
   * named on disk. Default: the OS temporary directory.
   */
  dir?: string;
}

/** {@link SwapOptions} with defaults filled in; `false` when swapping is off. */
export type SwapPolicy = false | { maxRamBytes: number; dir: string | undefined };

const DEFAULT_MAX_RAM_BYTES = 256 * 1024 * 1024;

/** `undefined` and `{}` mean the defaults; `false` turns swapping off (a scope beyond the slots fails with `SlotCapacityError`). */
export function resolveSwapPolicy(swap: SwapOptions | false | undefined): SwapPolicy {
  if (swap === false) return false;
  if (swap === undefined) swap = {};
  if (swap === null || typeof swap !== "object")
    throw new InvalidArgumentError('swap must be false or an object such as { maxRamBytes: 64 * 1024 * 1024, dir: "/var/tmp" }.');
  const { maxRamBytes = DEFAULT_MAX_RAM_BYTES, dir } = swap;
  if (typeof maxRamBytes !== "number" || !(maxRamBytes >= 0) || !Number.isSafeInteger(maxRamBytes))
    throw new InvalidArgumentError(`swap.maxRamBytes must be a whole number of bytes (0 or more), not ${String(maxRamBytes)}.`);
  if (dir !== undefined && (typeof dir !== "string" || dir.length === 0))
    throw new InvalidArgumentError("swap.dir must be the path of a directory.");
  return { maxRamBytes, dir };
}
