import { StateMismatchError } from "../../errors/index.js";
import type { SlotState, StateIdentity } from "./StateFormat.js";

/**
 * Throws {@link StateMismatchError} unless `state` can be loaded by an engine with identity `own`
 * whose slots hold `contextSize` tokens. Pure, so a parent thread can check a state before it
 * reaches the worker.
 */
export function assertStateFits(state: SlotState, own: StateIdentity, contextSize: number): void {
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
  if (needed > contextSize)
    throw new StateMismatchError(`This state holds ${needed} tokens; a slot here holds ${contextSize}. Load with contextSize ≥ ${needed}.`);
}
