import { LlamaScopeError } from "./LlamaScopeError.js";

/** The model file could not be loaded (missing, not a GGUF file, rejected by llama.cpp, or its download failed). */
export class ModelLoadError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_MODEL_LOAD";
}

/**
 * A signal passed to the call stopped it (`parent.init({ signal })`). Named `AbortError`, as
 * `fetch`'s is, so `error.name === "AbortError"` tells an abort from a failure; `cause` is the
 * signal's reason.
 */
export class AbortError extends LlamaScopeError {
  /** Node's code for an aborted operation (not a `LLAMA_SCOPE_ERR_` one: code that checks Node's aborts sees this one too). */
  readonly code = "ABORT_ERR";
}

/** A `LlamaParent` call that needs the model before `init()` was called (or, for some, before it resolved). */
export class NotInitializedError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_NOT_INITIALIZED";
}

/** The instance was disposed; create a new one to keep working. */
export class DisposedError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_DISPOSED";
}

/** No slot has the given id (never created, or already freed). */
export class SlotNotFoundError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_SLOT_NOT_FOUND";
}

/** A slot with the given id exists already. */
export class SlotExistsError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_SLOT_EXISTS";
}

/** Every slot is taken: free one or load with more `slots`. */
export class SlotCapacityError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_SLOT_CAPACITY";
}

/** A call needs an active slot and none is set. */
export class NoActiveSlotError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_NO_ACTIVE_SLOT";
}

/** A slot's history plus the new prompt does not fit in `contextSize` tokens. */
export class ContextOverflowError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_CONTEXT_OVERFLOW";
}

/** An argument or option has a value the library cannot use. */
export class InvalidArgumentError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_INVALID_ARGUMENT";
}

/** Saved state bytes are not a valid llama-scope state (truncated, corrupted, or not a state at all). */
export class StateFormatError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_STATE_FORMAT";
}

/** Saved state bytes are valid but were made for another model or a context that cannot hold them. */
export class StateMismatchError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_STATE_MISMATCH";
}

/** The worker thread died (crashed, ran out of memory, or was terminated); create a new `LlamaParent`. */
export class WorkerCrashedError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_WORKER_CRASHED";
}

/**
 * A frozen conversation's bytes could not be read back (an I/O error on the spill file): the
 * conversation is lost. Start a new scope, or revive one from a state saved earlier.
 */
export class StateLostError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_STATE_LOST";
}

/**
 * Embeddings are off (`embeddings: false` at load): `embed` has nothing to compute them with.
 * Load without `embeddings: false`, or with `embeddings: { modelPath }` naming an embedding model.
 */
export class EmbeddingsUnavailableError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_EMBEDDINGS_UNAVAILABLE";
}

/**
 * A chat prompt's function options name a function the prompt does not give: `functionCall: { name }`
 * not among `functions`, or a function result for another function than the call it answers.
 */
export class UnknownFunctionError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_UNKNOWN_FUNCTION";
}

/** A function's `params` schema is one node-llama-cpp cannot turn into a grammar (its JSON schema subset). */
export class FunctionSchemaError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_FUNCTION_SCHEMA";
}

/**
 * Function results that answer no call (the conversation has no call waiting for its result, or
 * not as many), or a user message while a call still waits for its result.
 */
export class FunctionResultsError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_FUNCTION_RESULTS";
}

/**
 * A package that only some uses of llama-scope need is not installed: `fastify` for
 * `llama-scope serve`, `redis` for a conversation store (`LlamaLoad({ store: { redis } })`).
 * The message names the command that installs it.
 */
export class MissingDependencyError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_MISSING_DEPENDENCY";
}

/**
 * The conversation store (Redis) did not answer in time, or is down: nothing was saved or read.
 * The scope itself is unchanged and goes on; try again once the store is back
 * (`parent.conversations.status` says when it last failed).
 */
export class StoreUnavailableError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_STORE_UNAVAILABLE";
}

/**
 * `conversations.save(name, scope)` found a newer version of the conversation than the one the
 * scope continues (another replica saved a turn meanwhile): nothing was written. Open it again to
 * continue the stored one, or save with `ifVersion: storedVersion` to replace it.
 */
export class StoreConflictError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_STORE_CONFLICT";
  // A private field, so the error's JSON stays { name, code } as every error's does.
  readonly #storedVersion: number;

  constructor(message: string, options?: ErrorOptions & { storedVersion?: number }) {
    super(message, options);
    this.#storedVersion = options?.storedVersion ?? 0;
  }

  /** The version stored now. */
  get storedVersion(): number {
    return this.#storedVersion;
  }
}

/** Another holder has the conversation's lease (a turn runs elsewhere): try again after it, or wait longer (`waitMs`). */
export class ConversationBusyError extends LlamaScopeError {
  /** Stable across releases, the same for every instance: see docs/api.md, Errors. */
  readonly code = "LLAMA_SCOPE_ERR_CONVERSATION_BUSY";
}
