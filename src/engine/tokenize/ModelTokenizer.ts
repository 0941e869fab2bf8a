import type { Token } from "../../shared/Token.js";

/**
 * The model's special tokens ({@link ModelTokenizer.tokens}); null where the model has none.
 */
export interface ModelTokens {
  /** Beginning of sequence: `setPrompt` puts it before a slot's first text when {@link shouldPrependBosToken}. */
  readonly bos: Token | null;
  /** End of sequence. */
  readonly eos: Token | null;
  /** End of turn (chat models). */
  readonly eot: Token | null;
  /** Separator. */
  readonly sep: Token | null;
  /** New line. */
  readonly nl: Token | null;
  /** Whether the model expects {@link bos} before a text. */
  readonly shouldPrependBosToken: boolean;
}

/**
 * The loaded model as `Llama.model` types it: its tokenizer, for building token prompts
 * (`setPromptTokens`, `prefill`) and reading token histories. The object is node-llama-cpp's
 * `LlamaModel`, owned by the `Llama` (never dispose it or create contexts on it); this type
 * names only what llama-scope supports, so that its declarations do not depend on
 * node-llama-cpp's. For the rest, type it as node-llama-cpp's
 * (`llama.model as LlamaModel`, see docs/api.md).
 */
export interface ModelTokenizer {
  /**
   * The tokens of `text`, without a start token. `specialTokens: true` turns the text of special
   * tokens (such as `<s>`) into those tokens instead of plain text; `"trimLeadingSpace"` tokenizes
   * a continuation (drops the leading space some tokenizers add).
   */
  tokenize(text: string, specialTokens?: boolean, options?: "trimLeadingSpace"): Token[];
  /**
   * The text of `tokens`. `specialTokens: true` renders special tokens as their text;
   * `lastTokens`, the tokens before these, lets the tokenizer continue their text correctly.
   */
  detokenize(tokens: readonly Token[], specialTokens?: boolean, lastTokens?: readonly Token[]): string;
  /** Whether `token` is a special token (a start, end or control token, not text). */
  isSpecialToken(token: Token | undefined): boolean;
  /** Whether `token` ends a generation (end of sequence, end of turn…). */
  isEogToken(token: Token | undefined): boolean;
  /** The model's special tokens. */
  readonly tokens: ModelTokens;
}
