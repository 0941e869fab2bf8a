import { StateFormatError, StateMismatchError } from "../shared/errors/index.js";
import { checkKvSection, type StateLimits } from "./kvLayout.js";
import type { SlotState, StateIdentity } from "./StateFormat.js";

/**
 * Throws unless `state` can be loaded by an engine with identity `own` and these limits: the
 * same model and KV settings (`StateMismatchError`), no more tokens than a slot holds
 * (`StateMismatchError`), token ids of this vocabulary and a KV section of exactly this context's
 * layout (`StateFormatError`). Pure, so a parent thread can check a state before it reaches the
 * worker, and nothing that fails here ever reaches llama.cpp.
 */
export function assertStateFits(state: SlotState, own: StateIdentity, limits: StateLimits): void {
  const saved = state.header;
  if (saved.model.fingerprint !== own.model.fingerprint)
    throw new StateMismatchError(
      `This state was saved with model "${saved.model.name}" (fingerprint ${saved.model.fingerprint.slice(0, 12)}…), ` +
        `but this Llama runs "${own.model.name}" (${own.model.fingerprint.slice(0, 12)}…). Load it into a Llama on the model file that saved it.`,
    );
  for (const key of ["kvCacheKeyType", "kvCacheValueType", "flashAttention"] as const)
    if (saved.layout[key] !== own.layout[key])
      throw new StateMismatchError(
        `This state was saved with ${key} ${saved.layout[key]}, this Llama uses ${own.layout[key]}. Load it into a Llama created with the same context settings.`,
      );
  const needed = state.tokens.length + state.pending.length;
  if (needed > limits.contextSize)
    throw new StateMismatchError(
      `This state holds ${needed} tokens; a slot here holds ${limits.contextSize}. Load with contextSize ≥ ${needed}.`,
    );
  // An id outside the vocabulary makes llama.cpp read out of bounds (detokenizing aborts the process).
  for (const token of [...state.tokens, ...state.pending])
    if (!(token >= 0 && token < limits.vocabularySize))
      throw new StateFormatError(
        `This state is malformed (token id ${token} is not in this model's vocabulary of ${limits.vocabularySize}): load only states saved by llama-scope with this model.`,
      );
  if (limits.kv !== undefined) checkKvSection(state.kv, limits.kv, state.tokens.length);
}
