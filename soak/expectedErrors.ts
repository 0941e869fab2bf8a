import { ContextOverflowError, DisposedError, WorkerCrashedError } from "../src/index.js";

/**
 * The errors an operation may legitimately cause. Anything else an operation meets is a
 * violation: `SlotNotFoundError` on a scope nobody disposed, `StateLostError`, a `TypeError`,
 * a `ContextOverflowError` for a prompt that fits, a `WorkerCrashedError` nobody caused…
 */
export interface Allowed {
  /**
   * `AbortError` (a DOMException, as fetch's): the operation aborted its own prompt, and the
   * signal fired before the prompt was sent (while it waited for a slot or behind another call):
   * documented to reject that way, leaving the conversation unchanged.
   */
  abort?: boolean;
  /** `DisposedError`: the operation disposed the scope while this call was in flight (documented). */
  disposed?: boolean;
  /**
   * `ContextOverflowError`: the prompt cannot fit (longer than a slot, or longer than the parent's
   * `maxPromptLength`), or a strict scope (`contextShift: false`) has no room left for it:
   * documented refusals, which must leave the conversation unchanged.
   */
  overflow?: boolean;
  /**
   * `WorkerCrashedError`: the soak killed the engine while the call was in flight (or before the
   * parent noticed the death): calls in flight are documented to reject with it, and the parent to
   * restart the engine. Computed per call from the kills' times, never chosen by the operation.
   */
  crashed?: boolean;
}

/** The error's class name (DOMException's `name` for AbortError), for the report. */
export function errorName(error: unknown): string {
  if (error instanceof Error || error instanceof DOMException) return error.name === "Error" ? error.constructor.name : error.name;
  return typeof error;
}

export function isExpected(error: unknown, allowed: Allowed): boolean {
  if (errorName(error) === "AbortError") return allowed.abort === true;
  if (error instanceof DisposedError) return allowed.disposed === true;
  if (error instanceof ContextOverflowError) return allowed.overflow === true;
  if (error instanceof WorkerCrashedError) return allowed.crashed === true;
  return false;
}

/** One line about an error: its class and message, its cause's too. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error || error instanceof DOMException)) return String(error);
  const cause = (error as Error).cause;
  return `${errorName(error)}: ${error.message}` + (cause === undefined ? "" : ` (cause: ${describeError(cause)})`);
}
