export { Llama } from "./Llama.js";
export type { SlotHandle } from "./SlotHandle.js";
export type { LlamaLoadOptions, LockstepOptions } from "../loading/LlamaLoadOptions.js";
export type { LoadProgress } from "../loading/LoadProgress.js";
export type { GenerateOptions, RepeatPenalty } from "./generate/GenerateOptions.js";
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
} from "./generate/JsonSchema.js";
export type { ModelTokenizer, ModelTokens } from "./tokenize/ModelTokenizer.js";
export type { Token } from "../shared/Token.js";
export type { GenerationResult, FinishReason, FunctionCall } from "./generate/GenerationResult.js";
export type { TokenLogprob, TopLogprob } from "./generate/TokenLogprob.js";
export { defaultThreads } from "../loading/defaultThreads.js";
export type { StateIdentity, StateMeta } from "../state/StateFormat.js";
export type { KvLayout, StateLimits } from "../state/kvLayout.js";
export { readStateMeta } from "../state/StateFormat.js";
export type { LoadControl, SaveStateOptions, SlotOptions, PromptTokensOptions } from "./LlamaOptions.js";
export type { ContextShiftOptions, ContextShiftStrategy, SlotContextShift, TokenRange } from "../shared/ContextShift.js";
export type { SlotCopy } from "./LlamaOptions.js";
export type { EmbedOptions, Embeddings, EmbeddingInfo } from "../shared/Embeddings.js";
export type { EmbeddingOptions } from "../loading/EmbeddingOptions.js";
