import type { ChatHistoryItem } from "../shared/ChatHistoryItem.js";
import { stateKeyBytes } from "../loading/LlamaLoadOptions.js";
import { decodeState, type SlotState } from "../state/StateFormat.js";
import { savedChatOf } from "../shared/chatItems.js";
import type { ScopeConfig } from "../protocol/index.js";

/** What the parent keeps of each live scope to rebuild it after the engine died. */
interface ScopeMemory {
  /** How the worker runs the scope, with a chat scope's history as of its last call. */
  config: ScopeConfig;
  /** Every token of its conversation as of its last call. */
  tokens: number[];
}

/**
 * Each live scope's config and history, as a restarted engine needs them: it opens every scope
 * again from its config and rebuilds a scope that held a slot from its tokens. Kept only when
 * restarts are on; otherwise every method does nothing and nothing is remembered.
 */
export class ScopeMemories {
  private readonly memories = new Map<string, ScopeMemory>();

  constructor(
    private readonly enabled: boolean,
    /** The load's `stateKey`, to read the tokens of the states scopes take. */
    private readonly stateKey: string | Uint8Array | undefined,
  ) {}

  /**
   * A scope opened with `config`, or (with `state`) a state loaded into it: its tokens and chat
   * history come from the state (its bytes, or the state decoded already).
   */
  opened(scopeId: string, config: ScopeConfig | undefined, state?: Uint8Array | SlotState): void {
    if (!this.enabled || config === undefined) return;
    const memory: ScopeMemory = { config, tokens: this.memories.get(scopeId)?.tokens ?? [] };
    if (state !== undefined) {
      const decoded = state instanceof Uint8Array ? decodeState(state, stateKeyBytes(this.stateKey)) : state;
      memory.tokens = [...decoded.tokens, ...decoded.pending];
      const chatHistory = savedChatOf(decoded.header.meta);
      if (config.mode === "chat") memory.config = { ...config, chatHistory: chatHistory ?? [] };
    }
    this.memories.set(scopeId, memory);
  }

  /** A state was loaded into a live scope (its config stays). */
  stateLoaded(scopeId: string, state: Uint8Array): void {
    this.opened(scopeId, this.memories.get(scopeId)?.config, state);
  }

  /** A call of the scope reported its conversation as it is now. */
  updated(scopeId: string, update: { history?: number[]; chatHistory?: ChatHistoryItem[] }): void {
    const memory = this.memories.get(scopeId);
    if (memory === undefined) return;
    if (update.history !== undefined) memory.tokens = update.history;
    if (update.chatHistory !== undefined) memory.config = { ...memory.config, chatHistory: update.chatHistory };
  }

  /** A fork the engine copied into a slot: its config and the conversation the copy holds. */
  copied(scopeId: string, config: ScopeConfig, copy: { history?: number[]; chatHistory?: ChatHistoryItem[] }): void {
    if (!this.enabled) return;
    this.memories.set(scopeId, { config: { ...config, chatHistory: copy.chatHistory ?? [] }, tokens: copy.history ?? [] });
  }

  forget(scopeId: string): void {
    this.memories.delete(scopeId);
  }

  /** The scope's tokens as of its last call (none known: empty). */
  tokens(scopeId: string): number[] {
    return this.memories.get(scopeId)?.tokens ?? [];
  }

  /** Every remembered scope's config, to open them all in a new engine. */
  configs(): Array<[scopeId: string, config: ScopeConfig]> {
    return [...this.memories].map(([scopeId, { config }]) => [scopeId, config]);
  }
}
