import type { LlamaModel, Token } from "node-llama-cpp";
import type { TokenLogprob, TopLogprob } from "./TokenLogprob.js";

/** How many earlier tokens decide a token's text (node-llama-cpp's detokenize looks at a few). */
const CONTEXT_TOKENS = 4;

/**
 * Turns node-llama-cpp's probabilities of each reply token into {@link TokenLogprob}s and keeps
 * track of which of them the reply's text has delivered so far.
 *
 * The probabilities are node-llama-cpp's, after its sampler chain (see docs/api.md, Log
 * probabilities); they are normalized again here in double precision, because llama.cpp's float
 * sums can make a near-certain token's probability round above 1.
 */
export class LogprobRecorder {
  readonly entries: TokenLogprob[] = [];
  private delivered = 0;
  /** The tokens before the step being recorded: an alternative's text depends on them (a leading space). */
  private readonly before: Token[];

  constructor(
    private readonly model: LlamaModel,
    /** How many alternatives each entry carries (0–20). */
    private readonly top: number,
    /** The slot's tokens before the reply (the last few are enough). */
    history: readonly Token[],
  ) {
    this.before = history.slice(-CONTEXT_TOKENS);
  }

  /**
   * Records the step that chose `token` (its text is filled in later by `setText`): from the
   * whole distribution when alternatives are asked for, else from the token's own probability.
   */
  record(token: Token, probabilities: ReadonlyMap<Token, number> | undefined, confidence?: number): void {
    let total = probabilities === undefined ? 1 : 0;
    if (probabilities !== undefined) for (const p of probabilities.values()) total += p;
    const logprobOf = (p: number | undefined): number =>
      p === undefined || p <= 0 || total <= 0 ? -Infinity : Math.min(0, Math.log(p / total));
    const top: TopLogprob[] = [];
    if (probabilities !== undefined && this.top > 0)
      for (const [alternative, p] of probabilities) {
        // The map is sorted, most likely first.
        if (top.length >= this.top) break;
        top.push({ token: alternative, text: this.model.detokenize([alternative], true, this.before), logprob: logprobOf(p) });
      }
    this.entries.push({ token, text: "", logprob: logprobOf(probabilities?.get(token) ?? confidence), top });
    this.before.push(token);
    if (this.before.length > CONTEXT_TOKENS) this.before.shift();
  }

  /** The text the reply got from the latest recorded token (and from earlier ones still without text). */
  setText(index: number, text: string): void {
    const entry = this.entries[index];
    if (entry !== undefined) entry.text = text;
  }

  /**
   * The entries whose text is now wholly inside the first `length` characters of the reply and
   * that were not delivered before: what goes out with a streamed piece of text.
   */
  deliverUpTo(textEnds: readonly number[], length: number): TokenLogprob[] {
    const start = this.delivered;
    while (this.delivered < this.entries.length && (textEnds[this.delivered] ?? Infinity) <= length) this.delivered++;
    return this.entries.slice(start, this.delivered);
  }

  /**
   * Cuts the entries to the reply that was kept: `kept` whole tokens and, when the stop string
   * began inside the next token, that token with the text `tail` the reply kept of it. Returns
   * the entries not delivered yet.
   */
  cut(kept: number, tail: string): TokenLogprob[] {
    const partial = this.entries[kept];
    this.entries.length = Math.min(this.entries.length, kept);
    if (tail.length > 0 && partial !== undefined) this.entries.push({ ...partial, text: tail });
    return this.rest();
  }

  /** The entries not delivered yet; afterwards all of them count as delivered. */
  rest(): TokenLogprob[] {
    const start = Math.min(this.delivered, this.entries.length);
    this.delivered = this.entries.length;
    return this.entries.slice(start);
  }
}
