export * from "./engine/index.js";
export * from "./errors/index.js";
export { LlamaParent, type LlamaParentEvents } from "./parent/LlamaParent.js";
export { LlamaLoad } from "./parent/LlamaLoad.js";
export { LlamaScope, type ScopeOptions } from "./scope/LlamaScope.js";
export type { ModelReady, ScopeMode } from "./protocol/index.js";
