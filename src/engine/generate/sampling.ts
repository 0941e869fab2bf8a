import {
  LlamaGrammarEvaluationState,
  TokenBias,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import type { ResolvedGenerateOptions } from "./GenerateOptions.js";
import { InvalidArgumentError } from "../../shared/errors/index.js";

/** The reply being generated, as the sampler needs to see it. */
export interface ReplyInProgress {
  sequence: LlamaContextSequence;
  /** The tokens `sequence.evaluate` is called with. */
  input: readonly Token[];
  /** The reply's tokens so far; the caller appends each token as `evaluate` yields it. */
  generated: readonly Token[];
  /** The call's compiled grammar (see `GrammarCache`), if it has one. */
  grammar: LlamaGrammar | undefined;
}

/**
 * The options of `sequence.evaluate(input, …)` for one reply: the call's sampling settings, a
 * fresh grammar state, the repeat penalty over the slot's latest tokens and the token biases.
 * Make it once per reply and pass it to every `evaluate` of that reply: the grammar state
 * follows the reply's tokens.
 */
export function evaluateOptions(
  options: Pick<ResolvedGenerateOptions, "sampling" | "repeatPenalty" | "tokenBias" | "logitBias">,
  reply: ReplyInProgress,
): SequenceEvaluateOptions {
  const { sequence, grammar } = reply;
  const { repeatPenalty, tokenBias, logitBias } = options;
  const evaluate: SequenceEvaluateOptions = {
    ...options.sampling,
    // Without it node-llama-cpp ends the iteration silently at end of text; the caller needs to
    // see the token to tell "endOfText" from the other endings.
    yieldEogToken: true,
  };
  if (grammar !== undefined) evaluate.grammarEvaluationState = new LlamaGrammarEvaluationState({ model: sequence.model, grammar });
  if (repeatPenalty !== undefined) {
    // More than the slot holds means all of it (and keeps llama.cpp's buffer small).
    const count = Math.min(repeatPenalty.lastTokens, sequence.contextSize);
    evaluate.repeatPenalty = {
      punishTokens: () => latestTokens(reply, count),
      maxPunishTokens: count,
      penalty: repeatPenalty.penalty,
      frequencyPenalty: repeatPenalty.frequencyPenalty,
      presencePenalty: repeatPenalty.presencePenalty,
    };
  }
  if (tokenBias !== undefined || logitBias !== undefined) evaluate.tokenBias = biasOf(sequence.model, tokenBias, logitBias);
  return evaluate;
}

/**
 * The slot's last `count` tokens at the moment a token is sampled. node-llama-cpp samples from a
 * batch before it appends the batch's tokens to `contextTokens`, so the tokens being decoded right
 * then are added here: the input for the reply's first token, then the previous reply token.
 */
function latestTokens({ sequence, input, generated }: ReplyInProgress, count: number): Token[] {
  const decoding = generated.length === 0 ? input : generated.slice(-1);
  return [...sequence.contextTokens, ...decoding].slice(-count);
}

function biasOf(
  model: LlamaModel,
  texts: ReadonlyMap<string, number> | undefined,
  ids: ReadonlyMap<number, number> | undefined,
): TokenBias {
  const bias = new TokenBias(model.tokenizer);
  // A number would be read as a probability; ours are logits, given as such.
  for (const [text, logit] of texts ?? []) bias.set(text, logit === -Infinity ? "never" : { logit });
  for (const [id, logit] of ids ?? []) bias.set(id as Token, logit === -Infinity ? "never" : { logit });
  return bias;
}

/**
 * Refuses `logitBias` ids outside the model's vocabulary (llama.cpp would read past its logits),
 * before the call takes the slot's prompt.
 * @throws {InvalidArgumentError}
 */
export function assertTokenIds(ids: ReadonlyMap<number, number> | undefined, vocabularySize: number): void {
  for (const id of ids?.keys() ?? [])
    if (id >= vocabularySize)
      throw new InvalidArgumentError(
        `logitBias names token ${id}, but this model's token ids go from 0 to ${vocabularySize - 1}. Remove it.`,
      );
}
