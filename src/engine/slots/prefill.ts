import type { Token } from "node-llama-cpp";
import { ContextOverflowError } from "../../shared/errors/index.js";
import type { Slot } from "./Slot.js";

/**
 * Appends `tokens` to the slot's history and evaluates them into its KV cache, without
 * generating: the tokens that were waiting (by the engine's convention, the last token of a reply
 * is not in the cache yet) go first, and nothing waits afterwards, so a state saved now holds the
 * whole history in its cache. Resolves with the number of tokens evaluated. Run it in the slot's
 * queue.
 */
export async function prefillSlot(slot: Slot, tokens: readonly Token[]): Promise<number> {
  const { sequence } = slot;
  const input = [...slot.pendingTokens, ...tokens];
  if (input.length === 0) return 0;
  // As for a prompt: node-llama-cpp decodes only while a sequence holds fewer than contextSize - 1 tokens.
  if (sequence.nextTokenIndex + input.length >= sequence.contextSize - 1)
    throw new ContextOverflowError(
      `Slot "${slot.id}" holds ${sequence.nextTokenIndex} tokens and cannot take ${input.length} more without erasing old ones; ` +
        `prefill never shifts the context. Prefill fewer tokens, or load with a larger contextSize.`,
    );
  const before = sequence.nextTokenIndex;
  slot.pendingTokens = [];
  try {
    await sequence.evaluateWithoutGeneratingNewTokens(input);
  } catch (error) {
    // What was not evaluated waits again: the history stays whole.
    slot.pendingTokens = input.slice(Math.max(0, sequence.nextTokenIndex - before));
    throw error;
  }
  return input.length;
}
