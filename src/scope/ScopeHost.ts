import type { Remote } from "comlink";
import type { WorkerApi } from "../protocol/index.js";

/** What a scope needs from its parent; keeps `LlamaScope` apart from how the worker is run. */
export interface ScopeHost {
  /** Calls the worker; rejects with revived llama-scope errors, `DisposedError` or `WorkerCrashedError`. */
  call<T>(use: (api: Remote<WorkerApi>) => Promise<T>): Promise<T>;
  nextRequestId(): number;
  slotCreated(scopeId: string): void;
  scopeDisposed(scopeId: string, freedSlot: boolean): void;
}
