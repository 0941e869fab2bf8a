import { LlamaScopeError } from "../index.js";

/** A command line the CLI cannot run: an unknown flag, a bad value, a missing `--model`. */
export class CliUsageError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_CLI_USAGE";
}
