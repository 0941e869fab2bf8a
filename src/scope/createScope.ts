import type { ScopeConfig } from "../protocol/index.js";
import { LlamaScope } from "./LlamaScope.js";
import type { ScopeHost } from "./ScopeHost.js";

/**
 * Makes a scope for its parent. `LlamaScope`'s constructor is private (a declaration file shows a
 * private constructor without its parameters), so users get scopes from `parent.getScope()` and
 * the public types never mention `ScopeHost`; this is the one place that calls it.
 */
export const createScope = LlamaScope as unknown as new (host: ScopeHost<LlamaScope>, config: ScopeConfig) => LlamaScope;
