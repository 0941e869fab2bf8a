import type { LlamaLoadOptions } from "../engine/index.js";
import { resolveLoadOptions } from "../engine/LlamaLoadOptions.js";

/**
 * What a `LlamaParent` loads in its worker: the engine's load options, checked here so a bad
 * value fails in the caller's thread before any worker starts.
 */
export class LlamaLoad {
  readonly options: Readonly<LlamaLoadOptions>;

  constructor(options: LlamaLoadOptions) {
    resolveLoadOptions(options);
    this.options = { ...options };
  }
}
