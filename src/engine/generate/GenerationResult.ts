import type { TokenLogprob } from "./TokenLogprob.js";

/** Why a generation ended. */
export type FinishReason = "endOfText" | "maxTokens" | "stop" | "contextFull" | "aborted" | "functionCall";

/**
 * A function the model called (chat scopes' `functions`): the reply ends with it, and the
 * conversation waits for its result (`functionResults`).
 */
export interface FunctionCall {
  name: string;
  /** The arguments, parsed: they match the function's `params` schema (undefined for a function without one). */
  arguments: unknown;
  /** The arguments as the model wrote them (JSON text; `"{}"` for a function without `params`). */
  rawArguments: string;
}

/** What a generate call produced (`Llama.generate`, a scope's prompt). */
export interface GenerationResult {
  /** The reply, without a stop string or anything after it. */
  text: string;
  /** Tokens of the reply as the slot's history holds them (a cut stop string is not counted). */
  tokenCount: number;
  /** Tokens the prompt added to the history (a chat template's text and a start token included). */
  promptTokenCount: number;
  /** `"functionCall"`: the reply ends with a call to one of the prompt's `functions` ({@link functionCalls}). */
  finishReason: FinishReason;
  /** With the `logprobs` option: the reply's tokens with their log-probabilities; their texts joined are `text`. */
  logprobs?: TokenLogprob[];
  /** With `finishReason` `"stop"`: the stop string that ended the reply (a chat template's own, or one of `stop`). */
  stopString?: string;
  /** Chat scopes: the calls the reply ends with, when `finishReason` is `"functionCall"`. */
  functionCalls?: FunctionCall[];
}
