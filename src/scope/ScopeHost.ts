import type { Remote } from "comlink";
import type { PromptResult, ScopeConfig, WorkerApi } from "../protocol/index.js";

/**
 * What a scope needs from its parent; keeps `LlamaScope` apart from how the worker and slots are
 * run. `Scope` is the scope class a fork makes (`LlamaScope`: named by its users, so this file
 * imports no scope and no import goes round in a circle).
 */
export interface ScopeHost<Scope = unknown> {
  /** Calls the worker; rejects with revived llama-scope errors, `DisposedError` or `WorkerCrashedError`. */
  call<T>(use: (api: Remote<WorkerApi>) => Promise<T>): Promise<T>;
  /** Like `call`, once the scope holds a slot (restored or handed over if need be), in the scope's call order. */
  withSlot<T>(scopeId: string, use: (api: Remote<WorkerApi>) => Promise<T>): Promise<T>;
  /** The scope's conversation as bytes; a frozen scope's come from the parent's memory or disk. */
  saveState(scopeId: string): Promise<Uint8Array>;
  /** Tokens in the scope's conversation; a frozen scope's count is known to the parent. */
  tokenCount(scopeId: string): Promise<number>;
  nextRequestId(): number;
  /**
   * Refuses, with `ContextOverflowError`, a prompt text longer than any slot can take
   * (`ModelReady.maxPromptLength`). Does nothing until the model is loaded: call it again then.
   */
  assertPromptFits(text: string): void;
  /** Whether prompts report the scope's history back (the parent rebuilds scopes after a crash). */
  trackHistory(): boolean;
  promptDone(scopeId: string, result: PromptResult): void;
  /** A call of the scope failed with `error` (the parent counts the calls an engine's death rejected). */
  callFailed(error: unknown): void;
  /** The scope's conversation was replaced by these (already loaded) state bytes. */
  stateLoaded(scopeId: string, state: Uint8Array): void;
  /**
   * A new scope holding a copy of the scope's conversation as it is after its earlier calls;
   * `config` is how the scope was created (its mode, context shift and starting history).
   */
  fork(scopeId: string, config: ScopeConfig): Promise<Scope>;
  /** Ends the scope's work, frees its slot and its frozen bytes. Never rejects. */
  disposeScope(scopeId: string): Promise<void>;
}
