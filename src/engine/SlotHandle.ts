import type { GenerateOptions } from "./generate/GenerateOptions.js";
import type { GenerationResult } from "./generate/GenerationResult.js";
import type { TokenLogprob } from "./generate/TokenLogprob.js";
import type { PromptTokensOptions, SaveStateOptions } from "./LlamaOptions.js";
import type { Token } from "../shared/Token.js";

/**
 * One slot of a `Llama`, named by its id (`llama.slot(id)`): every call works on that slot,
 * whichever slot `setSlot` made active, so code that serves several conversations at once never
 * depends on another caller's `setSlot`. Each call looks the slot up when it is made: after
 * `freeSlot(id)` the handle's calls throw `SlotNotFoundError`, and once a new slot takes the id,
 * they work on it.
 *
 * Calls on one slot run in call order; calls on different slots run together (and are decoded in
 * shared batches). A prompt set with {@link setPrompt} belongs to the slot and is taken by the
 * slot's next generate call. The active-slot methods of `Llama` (`setPrompt`, `generate`,
 * `saveState`, …) are these calls on the active slot's handle.
 */
export interface SlotHandle {
  /** The slot's id. */
  readonly id: string;

  /** How many tokens the slot's history holds (prompts and replies, evaluated or not). */
  tokenCount(): number;

  /** The tokens of the slot's history (prompts and replies, evaluated or not), oldest first. */
  historyTokens(): Token[];

  /**
   * Sets the text the slot's next generate call appends to its history before generating.
   * Calling it again before generating replaces the text.
   */
  setPrompt(text: string): void;

  /**
   * Like {@link setPrompt}, but appends exactly these tokens: no start token is added and nothing
   * is re-tokenized. For prompts already rendered by a chat template.
   */
  setPromptTokens(tokens: readonly Token[], options?: PromptTokensOptions): void;

  /** Appends the slot's prompt to its history and generates a reply; resolves with the whole reply. */
  generateCompleteText(options?: GenerateOptions): Promise<string>;

  /**
   * Like {@link generateCompleteText}, but also says how many tokens were generated and why it
   * ended; `onText` receives the reply in pieces as it is decoded (with the `logprobs` option, the
   * entries of the tokens each piece completed). The call takes the slot's
   * prompt when it is made.
   */
  generate(options?: GenerateOptions, onText?: (text: string, logprobs?: TokenLogprob[]) => void): Promise<GenerationResult>;

  /**
   * Like {@link generateCompleteText}, but yields the reply in pieces as it is decoded. Leaving
   * the loop early ends the generation; what was generated until then stays in the history.
   */
  generateText(options?: GenerateOptions): AsyncIterableIterator<string>;

  /**
   * Ends the generation running now on the slot, as its own AbortSignal would: the call resolves
   * with the reply so far, which stays in the history. Calls queued behind it still run.
   */
  stopGeneration(): void;

  /**
   * Appends `tokens` to the slot's history and evaluates them into its KV cache without
   * generating, after the calls queued on the slot; resolves with the number of tokens evaluated
   * (see `Llama.prefill`).
   */
  prefill(tokens: readonly Token[]): Promise<number>;

  /**
   * Appends the slot's prompt (`setPrompt`, `setPromptTokens`) to its history as a generate call
   * would, context shifts included, and evaluates it without generating, after the calls queued
   * on the slot. Its last token waits, as a reply's last token does, so the next generate call
   * with no prompt replies to it: copies of the slot (`forkSlot`) then each reply to the prompt
   * evaluated once (`LlamaScope.generateChoices`). Resolves with the tokens the prompt added.
   */
  prefillPrompt(): Promise<number>;

  /**
   * Fills the slot, which must be empty, with the start of slot `fromId`'s conversation, copied
   * inside llama.cpp (see `Llama.copyPrefix`).
   */
  copyPrefix(fromId: string, tokens: readonly Token[]): Promise<boolean>;

  /**
   * Freezes the slot's conversation into self-describing bytes (see docs/state-format.md) after
   * the calls already queued on it have finished.
   */
  saveState(options?: SaveStateOptions): Promise<Uint8Array>;

  /**
   * Replaces the slot's memory with a saved state. The bytes are checked (format, checksum, model,
   * context) before llama.cpp sees them; on any failure the slot is left as it was.
   */
  loadState(state: Uint8Array): Promise<void>;

  /**
   * Replaces the slot's memory with these tokens, not evaluated yet: the next generate call
   * evaluates them together with its prompt (see `Llama.setHistory`).
   */
  setHistory(tokens: readonly Token[]): Promise<void>;
}
