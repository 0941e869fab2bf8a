import type { TokenLogprob } from "../../index.js";

/** What OpenAI reports for a token that could not be chosen (JSON has no -Infinity). */
const UNLIKELY = -9999;

/** Turns one choice's log-probabilities, piece by piece, into an endpoint's `logprobs` object. */
export type LogprobFormatter = (entries: readonly TokenLogprob[]) => object;

/**
 * A formatter for one choice of one reply: chat's `{ content: [{ token, logprob, bytes,
 * top_logprobs }] }`, or text completions' legacy `{ tokens, token_logprobs, top_logprobs,
 * text_offset }`, whose offsets count characters from the start of the reply and go on across
 * a stream's pieces.
 */
export function logprobFormatter(endpoint: "chat" | "completions"): LogprobFormatter {
  if (endpoint === "chat")
    return (entries) => ({
      content: entries.map((entry) => ({
        ...tokenOf(entry.text, entry.logprob),
        top_logprobs: entry.top.map((alternative) => tokenOf(alternative.text, alternative.logprob)),
      })),
      refusal: null,
    });
  let offset = 0;
  return (entries) => {
    const textOffset: number[] = [];
    for (const entry of entries) {
      textOffset.push(offset);
      offset += entry.text.length;
    }
    return {
      tokens: entries.map((entry) => entry.text),
      token_logprobs: entries.map((entry) => finite(entry.logprob)),
      top_logprobs: entries.map((entry) =>
        Object.fromEntries(entry.top.map((alternative) => [alternative.text, finite(alternative.logprob)])),
      ),
      text_offset: textOffset,
    };
  };
}

function tokenOf(text: string, logprob: number) {
  return { token: text, logprob: finite(logprob), bytes: [...Buffer.from(text, "utf8")] };
}

function finite(logprob: number): number {
  return Number.isFinite(logprob) ? logprob : UNLIKELY;
}
