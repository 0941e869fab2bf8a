import type { GenerationResult } from "../engine/index.js";

/** What `streamPrompt` returns: the reply's text as it is decoded, and its result at the end. */
export interface PromptStream extends AsyncIterableIterator<string> {
  /** Settles when the stream ends, with the reply's token counts and why it ended (or its error). */
  readonly result: Promise<GenerationResult>;
}
