import { transferHandlers, type TransferHandler } from "comlink";

/** An error as it crosses to the other side: what `reviveError` needs to rebuild it. */
interface SentError {
  name: string;
  message: string;
  stack: string | undefined;
  /** Node's and llama-scope's `code` (`ENOENT`, `LLAMA_SCOPE_ERR_…`), when the error has one. */
  code?: string | number;
  /** Absent when the error had no `cause`; an error is sent as one, anything else as it is. */
  cause?: { error: SentError } | { value: unknown };
}

/** What Comlink's "throw" handler sends: the thrown error, or a thrown non-error as it is. */
type SentThrow = { isError: true; value: SentError } | { isError: false; value: unknown };

/** A cause chain is short; the bound only stops a cycle (an error that is its own cause). */
const MAX_CAUSE_DEPTH = 16;

let installed = false;

/**
 * Makes errors thrown across a Comlink channel keep their `code` and `cause`. Comlink's own
 * "throw" handler sends name, message and stack only, so a `StateMismatchError` arrived without the
 * llama.cpp error that explains it. This replaces it, on the side that throws and on the side that
 * receives (each loads its own copy of Comlink), with one that sends the cause chain too. The
 * receiving side gets plain `Error`s, as before; `reviveError` gives llama-scope's their class.
 *
 * The handler is Comlink's module-wide one, so it also applies to other Comlink channels of the
 * same process that share this copy of Comlink: for them it only adds `code` and `cause`.
 */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const comlinks = transferHandlers.get("throw")!;
  const handler: TransferHandler<unknown, SentThrow> = {
    // Comlink marks a thrown value with a private symbol: its own test is the only one that sees it.
    canHandle: (value): value is unknown => comlinks.canHandle(value),
    serialize(thrown) {
      const { value } = thrown as { value: unknown };
      const sent: SentThrow = value instanceof Error ? { isError: true, value: sendError(value, 0) } : { isError: false, value };
      return [sent, []];
    },
    deserialize(sent) {
      throw sent.isError ? receiveError(sent.value) : sent.value;
    },
  };
  transferHandlers.set("throw", handler);
}

function sendError(error: Error, depth: number): SentError {
  const sent: SentError = { name: error.name, message: error.message, stack: error.stack };
  const { code } = error as { code?: unknown };
  if (typeof code === "string" || typeof code === "number") sent.code = code;
  if ("cause" in error && depth < MAX_CAUSE_DEPTH) sent.cause = sendCause(error.cause, depth + 1);
  return sent;
}

function sendCause(cause: unknown, depth: number): NonNullable<SentError["cause"]> {
  if (cause instanceof Error) return { error: sendError(cause, depth) };
  try {
    // What cannot be cloned (a function, a socket) would fail the whole message: its text goes instead.
    return { value: structuredClone(cause) };
  } catch {
    return { value: String(cause) };
  }
}

/** A plain `Error` with what was sent, as Comlink's handler builds it (`name` and `stack` included). */
function receiveError(sent: SentError): Error {
  const { cause, ...fields } = sent;
  const error = Object.assign(
    new Error(sent.message, cause === undefined ? undefined : { cause: "error" in cause ? receiveError(cause.error) : cause.value }),
    fields,
  );
  return error;
}
