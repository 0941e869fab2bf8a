import type { GenerationResult, TokenLogprob } from "../engine/index.js";
import type { PromptStream } from "./PromptStream.js";

/** What `generateChoices` resolves with: n replies to one prompt. */
export interface ChoicesResult {
  /**
   * The replies, choice 0 first: the one the scope continues with. Each counts its own tokens;
   * their `promptTokenCount` is 0, the prompt being evaluated once, for all of them (below).
   */
  choices: GenerationResult[];
  /** Tokens the prompt added, once (a chat template's text and a start token included). */
  promptTokenCount: number;
  /** Tokens of all the replies together. */
  tokenCount: number;
}

/** A piece of one choice's reply, as `streamChoices` yields it. */
export interface ChoiceChunk {
  /** The choice (0 to n − 1) the text belongs to. */
  index: number;
  text: string;
  /** With the `logprobs` option: the entries of the tokens this piece completed (see `PromptStream.logprobs`). */
  logprobs?: TokenLogprob[];
}

/** What `streamChoices` returns: every choice's reply as it is decoded, and the result at the end. */
export interface ChoiceStream extends AsyncIterableIterator<ChoiceChunk> {
  /** Settles when every choice has ended, with their results (or the first error). */
  readonly result: Promise<ChoicesResult>;
}

interface Pulled {
  index: number;
  step: IteratorResult<string>;
  /** How many log-probability entries the branch's stream had before this piece. */
  before: number;
}

/**
 * Merges the streams of the choices' replies into one: pieces come as each branch decodes them
 * (in lock-step, about one round of choices per token). Leaving the loop early stops them all.
 */
export class MergedChoiceStream implements ChoiceStream {
  private streams: PromptStream[] | undefined;
  private readonly pending = new Map<number, Promise<Pulled>>();
  private left = false;

  constructor(
    /** The branches' streams, once the prompt was evaluated and forked; rejects when that failed. */
    private readonly branches: Promise<PromptStream[]>,
    readonly result: Promise<ChoicesResult>,
    /** Stops every branch's generation (or keeps them from starting). */
    private readonly cancel: () => void,
  ) {
    result.catch(() => {}); // surfaced by next(); a consumer that left early must not see it unhandled
    branches.catch(() => {});
  }

  async next(): Promise<IteratorResult<ChoiceChunk>> {
    if (this.left) return { value: undefined, done: true };
    if (this.streams === undefined) {
      this.streams = await this.branches.catch(async (error: unknown) => {
        await this.result; // its error says more
        throw error;
      });
      this.streams.forEach((_, index) => this.pull(index));
    }
    while (this.pending.size > 0) {
      let pulled: Pulled;
      try {
        pulled = await Promise.race(this.pending.values());
      } catch (error) {
        this.stopAll();
        await this.result;
        throw error;
      }
      const { index, step, before } = pulled;
      this.pending.delete(index);
      if (step.done === true) continue;
      const stream = this.streams[index]!;
      const logprobs = stream.logprobs.slice(before);
      this.pull(index);
      return { value: { index, text: step.value, ...(logprobs.length === 0 ? {} : { logprobs }) }, done: false };
    }
    await this.result;
    return { value: undefined, done: true };
  }

  /** Leaving the loop early stops every choice; the scope keeps what choice 0 generated. */
  async return(): Promise<IteratorResult<ChoiceChunk>> {
    if (!this.left) {
      this.left = true;
      this.stopAll();
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private pull(index: number): void {
    const stream = this.streams![index]!;
    const before = stream.logprobs.length;
    const pulled = stream.next().then((step) => ({ index, step, before }));
    pulled.catch(() => {}); // raced in next(); once the consumer left, nobody waits for it
    this.pending.set(index, pulled);
  }

  private stopAll(): void {
    this.cancel();
    for (const stream of this.streams ?? []) void stream.return?.();
    this.pending.clear();
  }
}
