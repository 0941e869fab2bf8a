export * from "./engine/index.js";
export * from "./shared/errors/index.js";
export {
  LlamaParent,
  type EngineInfo,
  type LlamaParentEvents,
  type ParentStats,
  type PersistedScope,
  type ShiftReport,
} from "./parent/LlamaParent.js";
export type { Isolation } from "./parent/supervisor/Isolation.js";
export type { RestartOptions } from "./parent/RestartOptions.js";
export type { RestartReport } from "./parent/supervisor/RestartReport.js";
export { LlamaLoad, type ParentLoadOptions } from "./parent/LlamaLoad.js";
export type { InitOptions } from "./parent/InitOptions.js";
export type { SwapOptions } from "./parent/SwapOptions.js";
export type { PrefixCacheOptions } from "./parent/PrefixCacheOptions.js";
export type { SwapReport } from "./parent/slots/SlotScheduler.js";
export type { FrozenStorage } from "./parent/frozen/FrozenStore.js";
export {
  ConversationStore,
  type ConversationStoreStatus,
  type OpenedConversation,
  type SavedConversation,
} from "./parent/conversations/ConversationStore.js";
export type { ConversationLease } from "./parent/conversations/ConversationLease.js";
export type { ConversationStoreOptions } from "./parent/conversations/ConversationStoreOptions.js";
export { LlamaScope } from "./scope/LlamaScope.js";
export type { ScopeOptions } from "./scope/ScopeOptions.js";
export type { PromptStream } from "./scope/PromptStream.js";
export type { ChoiceChunk, ChoiceStream, ChoicesResult } from "./scope/ChoiceStream.js";
export type { ModelReady, PrefixCacheStats, ScopeMode } from "./protocol/index.js";
export type { ChatFunction, ChatFunctionOptions, FunctionCallMode, FunctionResult, PromptOptions } from "./protocol/index.js";
export type {
  ChatHistoryItem,
  ChatModelFunctionCall,
  ChatModelResponse,
  ChatModelSegment,
  ChatSystemMessage,
  ChatUserMessage,
  LlamaTextJSON,
  LlamaTextJSONValue,
} from "./shared/ChatHistoryItem.js";
