import type { TokenLogprob } from "./TokenLogprobs.js";

/** Why a generation ended. */
export type FinishReason = "endOfText" | "maxTokens" | "stop" | "contextFull" | "aborted";

/** What a generate call produced (`Llama.generate`, a scope's prompt). */
export interface GenerationResult {
  /** The reply, without a stop string or anything after it. */
  text: string;
  /** Tokens of the reply as the slot's history holds them (a cut stop string is not counted). */
  tokenCount: number;
  /** Tokens the prompt added to the history (a chat template's text and a start token included). */
  promptTokenCount: number;
  finishReason: FinishReason;
  /** With the `logprobs` option: the reply's tokens with their log-probabilities; their texts joined are `text`. */
  logprobs?: TokenLogprob[];
}
