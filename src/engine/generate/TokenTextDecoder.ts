import type { LlamaModel, Token } from "node-llama-cpp";

/** A multi-byte character is at most 4 bytes, so at most 4 byte-tokens are held back waiting for it. */
const MAX_HELD_TOKENS = 4;
/** Enough preceding tokens for the detokenizer to place leading spaces right. */
const CONTEXT_TOKENS = 8;

/**
 * Turns generated tokens into text one token at a time, holding back tokens that end in the
 * middle of a UTF-8 character so a chunk never carries half a character.
 */
export class TokenTextDecoder {
  private held: Token[] = [];
  private previous: Token[];

  constructor(
    private readonly model: LlamaModel,
    precedingTokens: readonly Token[],
  ) {
    this.previous = precedingTokens.slice(-CONTEXT_TOKENS);
  }

  /** Adds one token; returns the text completed by it, or "" while a character is still partial. */
  push(token: Token): string {
    this.held.push(token);
    const text = this.model.detokenize(this.held, false, this.previous);
    if (text.endsWith("\uFFFD") && this.held.length < MAX_HELD_TOKENS) return "";
    this.previous = [...this.previous, ...this.held].slice(-CONTEXT_TOKENS);
    this.held = [];
    return text;
  }
}
