export { Llama } from "./Llama.js";
export type { SlotHandle } from "./SlotHandle.js";
export type { LlamaLoadOptions, LockstepOptions } from "./LlamaLoadOptions.js";
export type { LoadProgress } from "./LoadProgress.js";
export type { GenerateOptions, RepeatPenalty } from "./GenerateOptions.js";
export type {
  JsonSchema,
  JsonSchemaArray,
  JsonSchemaBasic,
  JsonSchemaConst,
  JsonSchemaEnum,
  JsonSchemaObject,
  JsonSchemaOneOf,
  JsonSchemaRef,
  JsonSchemaString,
  JsonSchemaType,
} from "./JsonSchema.js";
export type { ModelTokenizer, ModelTokens } from "./ModelTokenizer.js";
export type { Token } from "./Token.js";
export type { GenerationResult, FinishReason } from "./GenerationResult.js";
export { defaultThreads } from "./defaultThreads.js";
export type { StateIdentity, StateMeta } from "./state/StateFormat.js";
export type { KvLayout, StateLimits } from "./state/kvLayout.js";
export { readStateMeta } from "./state/StateFormat.js";
export type { LoadControl, SaveStateOptions, SlotOptions, PromptTokensOptions } from "./LlamaOptions.js";
export type { ContextShiftOptions, ContextShiftStrategy, SlotContextShift, TokenRange } from "./ContextShift.js";
export type { SlotCopy } from "./SlotCopy.js";
