import * as errors from "./errors.js";
import { LlamaScopeError } from "./LlamaScopeError.js";

const classesByName = new Map<string, new (message: string) => LlamaScopeError>(
  [LlamaScopeError, ...Object.values(errors)].map((ErrorClass) => [ErrorClass.name, ErrorClass]),
);

/**
 * Errors reach the parent thread as plain `Error`s carrying name, message and stack. This gives
 * llama-scope's own errors their class back, so `instanceof` works on the caller's side.
 */
export function reviveError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof LlamaScopeError || error instanceof DOMException) return error;
  // An AbortSignal fired before the prompt started: the same AbortError fetch would throw.
  if (error.name === "AbortError") return new DOMException(error.message, "AbortError");
  const ErrorClass = classesByName.get(error.name);
  if (ErrorClass === undefined) return error;
  const revived = new ErrorClass(error.message);
  if (error.stack !== undefined) revived.stack = error.stack;
  return revived;
}
