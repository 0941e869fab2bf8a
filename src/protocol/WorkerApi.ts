import type { ChatHistoryItem } from "../shared/ChatHistoryItem.js";
import type { LoadProgress } from "../engine/index.js";
import type {
  EmbedReply,
  EmbedRequest,
  ForkResult,
  ModelReady,
  PromptRequest,
  PromptResult,
  ScopeConfig,
  StreamBatch,
  WireLoadOptions,
} from "./messages.js";

/**
 * What the worker thread exposes over Comlink. Every method is called by `LlamaParent`; scope
 * ids are the parent's, and a scope gets its slot on first use.
 */
export interface WorkerApi {
  /** Loads the model and allocates the slots. Rejects with `ModelLoadError`. */
  init(options: WireLoadOptions): Promise<ModelReady>;
  /**
   * Long-poll for the load's progress while `init` runs: resolves with the latest progress once
   * its ratio is above `after` (the last one the parent saw; -1 at first), or with null once the
   * load is over without a newer one. The load's last progress has ratio 1.
   */
  loadProgress(after: number): Promise<LoadProgress | null>;
  /** Registers a scope (mode, context shift, chat history) before its first call; no slot yet. */
  openScope(scopeId: string, config: ScopeConfig): void;
  /** Appends a prompt to the scope's slot and generates; prompts of one scope run in arrival order. */
  prompt(request: PromptRequest): Promise<PromptResult>;
  /**
   * Long-poll for a streaming request's text: resolves with everything decoded since the last
   * pull as soon as there is some, so a slow consumer costs one message per pull, not per token.
   */
  pull(requestId: number): Promise<StreamBatch>;
  /**
   * Computes embeddings in the engine's embedding context (made at the first call), beside the
   * slots: rejects with `EmbeddingsUnavailableError` when they are off, `ContextOverflowError`
   * for a text too long (nothing computed). `stopRequest(requestId)` stops it between texts.
   */
  embed(request: EmbedRequest): Promise<EmbedReply>;
  /** Ends one request's generation (its reply so far is kept) and drops its stream; stops an embed call. */
  stopRequest(requestId: number): void;
  /** Ends the generation a scope is running now. */
  stopScope(scopeId: string): void;
  /** The scope's conversation as bytes (the engine's state format, a chat scope's turns in its meta). */
  saveState(scopeId: string): Promise<Uint8Array>;
  /** Replaces the scope's conversation with saved bytes; a chat scope takes the turns saved with them. */
  loadState(scopeId: string, state: Uint8Array): Promise<void>;
  /**
   * Gives the scope a slot holding these tokens, not yet evaluated (they are evaluated with its
   * next prompt): a conversation rebuilt from the parent's copy after the engine crashed.
   */
  rebuild(scopeId: string, tokens: number[]): Promise<void>;
  /**
   * Registers scope `forkId` holding a copy of scope `originId`'s conversation (its slot's cache,
   * its chat history, its settings) in a slot of its own, after the calls queued on the origin's
   * slot. The origin must hold a slot and the parent must have reserved one for the fork. With
   * `trackHistory` the result carries the fork's history, as a prompt's does.
   */
  forkScope(originId: string, forkId: string, trackHistory: boolean): Promise<ForkResult>;
  /** Tokens in the scope's slot; null when it has none (the parent knows a frozen scope's count). */
  tokenCount(scopeId: string): number | null;
  /** A chat scope's history as its slot holds it (kept here while the scope is frozen too). */
  chatHistory(scopeId: string): ChatHistoryItem[];
  /**
   * Saves the scope's conversation and frees its slot, keeping its chat template history; resolves
   * null when the scope has no slot. The parent only freezes a scope with no call in flight.
   */
  freeze(scopeId: string): Promise<Uint8Array | null>;
  /**
   * Gives the scope a slot holding a frozen (or revived) conversation; a chat scope without chat
   * history takes the turns saved with it. On failure the scope is left without a slot.
   */
  restore(scopeId: string, state: Uint8Array): Promise<void>;
  /** Ends the scope's work and frees its slot; resolves true if it had one. */
  freeScope(scopeId: string): Promise<boolean>;
  /**
   * Ends every request, waits for the native calls in progress to return, frees the model and
   * every slot (a load in progress is aborted first), then lets the worker thread end by itself.
   */
  dispose(): Promise<void>;
  /**
   * Answers at once: proof that the worker's event loop is free, so a worker slow to end is
   * waiting for native work (and must not be terminated), not stuck.
   */
  alive(): true;
}
