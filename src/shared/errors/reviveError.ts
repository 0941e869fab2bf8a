import * as errors from "./errors.js";
import { LlamaScopeError } from "./LlamaScopeError.js";

const classesByName = new Map<string, new (message: string, options?: ErrorOptions) => LlamaScopeError>(
  [LlamaScopeError, ...Object.values(errors)].map((ErrorClass) => [ErrorClass.name, ErrorClass]),
);

/** A cause chain is short; the bound only stops a cycle (an error that is its own cause). */
const MAX_CAUSE_DEPTH = 16;

/**
 * Errors reach the parent thread as plain `Error`s carrying name, message, stack, `code` and
 * `cause` (see transport/errorTransfer.ts). This gives llama-scope's own errors their class back,
 * so `instanceof` works on the caller's side; their `cause` is revived the same way, and any other
 * cause (a plain `Error`, a value) is kept as it came.
 */
export function reviveError(error: unknown): unknown {
  return revive(error, 0);
}

function revive(error: unknown, depth: number): unknown {
  if (!(error instanceof Error) || error instanceof LlamaScopeError || error instanceof DOMException) return error;
  // An AbortSignal fired before the prompt started: the same AbortError fetch would throw.
  if (error.name === "AbortError") return new DOMException(error.message, "AbortError");
  const ErrorClass = classesByName.get(error.name);
  if (ErrorClass === undefined) return error;
  const options = "cause" in error ? { cause: depth < MAX_CAUSE_DEPTH ? revive(error.cause, depth + 1) : error.cause } : undefined;
  // The class brings its own `code`: the one that came is the same string.
  const revived = new ErrorClass(error.message, options);
  if (error.stack !== undefined) revived.stack = error.stack;
  return revived;
}
