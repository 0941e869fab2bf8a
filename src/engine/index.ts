export { Llama } from "./Llama.js";
export type { LlamaLoadOptions } from "./LlamaLoadOptions.js";
export type { GenerateOptions, RepeatPenalty } from "./GenerateOptions.js";
export type { GenerationResult, FinishReason } from "./generateReply.js";
export { defaultThreads } from "./defaultThreads.js";
export type { StateIdentity, StateMeta } from "./state/StateFormat.js";
export { readStateMeta } from "./state/StateFormat.js";
export type { LoadControl, SaveStateOptions, SlotOptions, PromptTokensOptions } from "./Llama.js";
export type { ContextShiftOptions, ContextShiftStrategy, SlotContextShift, TokenRange } from "./ContextShift.js";
