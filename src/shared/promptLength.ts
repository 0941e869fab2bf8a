import { ContextOverflowError } from "./errors/index.js";

/**
 * Where a prompt must fit, in tokens, and how many characters one token of the model covers at
 * most (see `charsPerToken` in `vocabulary.ts`). Plain numbers only: the parent thread checks
 * prompts with it too, without node-llama-cpp.
 */
export interface PromptRoom {
  /** Tokens the prompt may become: a whole slot, or what a slot without context shift has left. */
  tokens: number;
  /** The most characters (JS string length) one token can cover; `Infinity` when no bound holds. */
  charsPerToken: number;
  /** The conversation whose room is meant, when it is the room left (contextShift off), not a whole slot. */
  conversation?: string | undefined;
}

/**
 * The longest prompt, in JS string length, that can become `room.tokens` tokens or fewer: every
 * token covers at most `charsPerToken` characters of the text, so a longer prompt needs more
 * tokens than there is room for, whatever it says.
 */
export function maxPromptLength(room: PromptRoom): number {
  return Math.max(0, room.tokens) * room.charsPerToken;
}

/**
 * Refuses a prompt of `length` characters that can never fit in `room`, before anything tokenizes
 * it: tokenizing costs about a second per megabyte and blocks the thread that does it.
 * @throws {ContextOverflowError} when `length` is over {@link maxPromptLength}.
 */
export function assertPromptLength(length: number, room: PromptRoom): void {
  const limit = maxPromptLength(room);
  if (length <= limit) return;
  const perToken = `no token of this model covers more than ${count(room.charsPerToken)} characters`;
  if (room.conversation === undefined)
    throw new ContextOverflowError(
      `This prompt is ${count(length)} characters long and can never fit: a slot holds ${count(room.tokens)} tokens and ${perToken}, ` +
        `so a prompt may be ${count(limit)} characters at most. Shorten the prompt or send it in parts, or load with a larger contextSize.`,
    );
  throw new ContextOverflowError(
    `This prompt is ${count(length)} characters long and cannot fit in conversation "${room.conversation}": it has room for ` +
      `${count(Math.max(0, room.tokens))} more tokens and contextShift is off, and ${perToken}, so a prompt may be ${count(limit)} characters at most. ` +
      `Shorten the prompt, start a new conversation, turn contextShift on, or load with a larger contextSize.`,
  );
}

function count(value: number): string {
  return value.toLocaleString("en-US");
}
