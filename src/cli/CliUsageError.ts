import { LlamaScopeError } from "../index.js";

/** A command line the CLI cannot run: an unknown flag, a bad value, a missing `--model`. */
export class CliUsageError extends LlamaScopeError {}
