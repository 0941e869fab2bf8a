import { statSync } from "node:fs";
import type { LlamaLoadOptions } from "../engine/index.js";
import { LOAD_OPTION_NAMES, resolveLoadOptions } from "../engine/LlamaLoadOptions.js";
import { assertKnownKeys } from "../engine/validate.js";
import { InvalidArgumentError } from "../errors/index.js";
import { resolveSwapPolicy, type SwapOptions, type SwapPolicy } from "./SwapOptions.js";

/** Options of a {@link LlamaLoad}: the engine's, plus what the parent does when slots run out. */
export interface ParentLoadOptions extends LlamaLoadOptions {
  /**
   * More scopes than slots: by default the least recently used idle scope is frozen (in memory,
   * then on disk past `maxRamBytes`) and restored at its next prompt. `false` turns this off: a
   * scope that needs a slot when all are held fails with `SlotCapacityError`.
   */
  swap?: SwapOptions | false;
}

/**
 * What a `LlamaParent` loads in its worker, and how it shares the slots. Checked here, so a bad
 * value fails in the caller's thread before any worker starts.
 */
export class LlamaLoad {
  /** The engine options sent to the worker. */
  readonly options: Readonly<LlamaLoadOptions>;
  readonly swap: SwapPolicy;
  /** Slots the worker will allocate. */
  readonly slots: number;

  constructor(options: ParentLoadOptions) {
    if (options !== null && typeof options === "object") assertKnownKeys(options, [...LOAD_OPTION_NAMES, "swap"], "LlamaLoad option", "LlamaLoad options");
    const { swap, ...engine } = options ?? ({} as ParentLoadOptions);
    this.slots = resolveLoadOptions(engine).slots;
    this.swap = resolveSwapPolicy(swap);
    if (this.swap !== false && this.swap.dir !== undefined && statSync(this.swap.dir, { throwIfNoEntry: false })?.isDirectory() !== true)
      throw new InvalidArgumentError(`swap.dir "${this.swap.dir}" is not a directory. Create it, or leave dir out to use the OS temporary directory.`);
    this.options = engine;
  }
}
