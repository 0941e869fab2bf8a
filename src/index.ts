export * from "./engine/index.js";
export * from "./errors/index.js";
export { LlamaParent, type LlamaParentEvents, type ParentStats } from "./parent/LlamaParent.js";
export { LlamaLoad, type ParentLoadOptions } from "./parent/LlamaLoad.js";
export type { SwapOptions } from "./parent/SwapOptions.js";
export type { SwapReport } from "./parent/SlotScheduler.js";
export type { FrozenStorage } from "./parent/FrozenStore.js";
export { LlamaScope, type ScopeOptions } from "./scope/LlamaScope.js";
export type { ModelReady, ScopeMode } from "./protocol/index.js";
