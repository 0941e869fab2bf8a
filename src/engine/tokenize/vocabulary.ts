import { LlamaVocabularyType, type LlamaModel } from "node-llama-cpp";

/** What the prompt guard and the piecewise tokenizer need to know of a model's vocabulary. */
export interface VocabularyFacts {
  /**
   * The most characters (JS string length) one token of a prompt can cover: the longest text of
   * a token `model.tokenize(text, false)` can produce, plus {@link TOKEN_TEXT_MARGIN}. `Infinity`
   * when no such bound holds (see {@link scanVocabulary}).
   */
  charsPerToken: number;
  /**
   * Whether some token's text has a newline followed by more text. When none has, a tokenizer
   * that only joins text into vocabulary tokens cannot join across a line start.
   */
  newlineInsideToken: boolean;
}

/**
 * Added to the longest token text. One character because a lone token is detokenized without
 * the space an SPM tokenizer puts before a word ("▁friend" comes back as "friend": 91 of 512
 * tokens of stories260K, 16,394 of 32,000 of the Llama 2 vocabulary), though in a text it covers
 * that space too. One more for what a lone token's text cannot show: the unknown token standing
 * for a character of two UTF-16 units, a detokenizer that drops a space before punctuation.
 */
export const TOKEN_TEXT_MARGIN = 2;

/**
 * Tokenizers that keep every character of the text, so that the characters a prompt's tokens
 * cover add up to at least its length. WordPiece and Unigram (T5) normalize text first (runs of
 * spaces collapse, accents go): there a long prompt can become few tokens, and no bound holds.
 */
const LENGTH_PRESERVING: ReadonlySet<string> = new Set([LlamaVocabularyType.spm, LlamaVocabularyType.bpe, LlamaVocabularyType.rwkv]);

/**
 * Reads every token's text once (about 1 µs per token: 27 ms for a 32,000-token vocabulary).
 * Control tokens detokenize to "" without `specialTokens`, as `tokenize(text, false)` never
 * produces them; user-defined tokens, which it does produce, keep their text.
 */
export function scanVocabulary(model: LlamaModel): VocabularyFacts {
  let longest = 0;
  let newlineInsideToken = false;
  for (const token of model.iterateAllTokens()) {
    const text = model.detokenize([token], false);
    if (text.length > longest) longest = text.length;
    const newline = text.indexOf("\n");
    if (newline !== -1 && newline < text.length - 1) newlineInsideToken = true;
  }
  const bounded = LENGTH_PRESERVING.has(model.vocabularyType) && longest > 0;
  return { charsPerToken: bounded ? longest + TOKEN_TEXT_MARGIN : Infinity, newlineInsideToken };
}
