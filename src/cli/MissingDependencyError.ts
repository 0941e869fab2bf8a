import { LlamaScopeError } from "../index.js";

/** `llama-scope serve` needs a package that library users do not install: fastify, an optional peer dependency. */
export class MissingDependencyError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_MISSING_DEPENDENCY";
}
