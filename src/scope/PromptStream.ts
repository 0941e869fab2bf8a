import type { GenerationResult, TokenLogprob } from "../engine/index.js";

/** What `streamPrompt` returns: the reply's text as it is decoded, and its result at the end. */
export interface PromptStream extends AsyncIterableIterator<string> {
  /** Settles when the stream ends, with the reply's token counts and why it ended (or its error). */
  readonly result: Promise<GenerationResult>;
  /**
   * With the `logprobs` option: the entries of the tokens whose text the stream has yielded so
   * far (it grows with each chunk; compare its length before and after a chunk for the chunk's
   * own). A stop string that cuts the last token yields a last chunk of "" with that token's entry.
   */
  readonly logprobs: readonly TokenLogprob[];
}
