// The public shape of log-probabilities: types only, free of node-llama-cpp's, so that a
// consumer's type check does not load node-llama-cpp's declarations (test/package).

/** One alternative for a reply token: a token the model could have chosen at that step. */
export interface TopLogprob {
  /** The token id (of this model's vocabulary). */
  token: number;
  /** The token's text where it would stand in the reply (special tokens as their text, e.g. `</s>`). */
  text: string;
  /** Natural log of its probability (≤ 0; `-Infinity` for a token that could not be chosen). */
  logprob: number;
}

/** {@link GenerateOptions.logprobs}: one token of the reply, with its probability and the most likely alternatives. */
export interface TokenLogprob {
  /** The token id the reply holds. */
  token: number;
  /**
   * The token's text in the reply: the texts of a reply's entries, joined, are the reply. A token
   * that ends in the middle of a character has "" and the next one the whole character; the token
   * a stop string cut has the text the reply kept of it.
   */
  text: string;
  /** Natural log of the token's probability (≤ 0). */
  logprob: number;
  /** The most likely tokens at this step, most likely first (`logprobs` of them; empty for `true`). */
  top: TopLogprob[];
}
