import type { Random } from "./random.js";

/**
 * Words of the children's stories stories260K was trained on, each one or two tokens on its
 * 512-token vocabulary (measured), so 55 of them are at most 110 tokens. Never fewer than one:
 * SentencePiece tokens do not span the space before a word, so n words are at least n tokens.
 */
const WORDS = (
  "the a happy little big mom play friend saw said was had very day time they she he it and to of in on with " +
  "but so cat dog ball red sun dad run toy car lily tim ben sam went fun one sad hat door bed sand shell star old new"
).split(" ");

/**
 * System prompts of chat scopes, 31–36 words each (71–82 tokens; ~110–120 with the template's text).
 * Few of them, so scopes share them and the engine's prefix cache is used.
 */
export const SYSTEM_PROMPTS = [
  "You are a kind storyteller who tells short and happy stories about a little cat, a big dog and their friends in the park, with a good moral at the end.",
  "You are a friend of little children. Answer every question with a happy story about a cat and a dog, say it with very simple words, and end it with a good thing to do.",
  "You tell stories at night about the sea, the sun and the stars. Each story is short and happy, the friends in it are kind to each other, and it ends when they go to bed.",
];

/** The short question the brief names: a turn of a few tokens. */
export const WHY = "Why?";

/** `count` random words joined by spaces. */
export function randomWords(random: Random, count: number): string {
  return Array.from({ length: count }, () => random.pick(WORDS)).join(" ");
}

/**
 * A normal prompt: "Why?" or 25–55 random words: at most 110 tokens. Beside a system prompt's
 * ~120 (with the template's text around it and the turn) it always fits a 256-token slot, so a
 * chat scope, or a completion scope with context shift, must never refuse it.
 */
export function normalPrompt(random: Random): string {
  return random.chance(0.3) ? WHY : randomWords(random, random.int(25, 55));
}

/**
 * A prompt that can never fit a 256-token slot: 260–320 words are at least 260 tokens, more than
 * a slot's 255 (one cell is the start token's). About 1,100–1,400 characters, under the parent's bound
 * (`maxPromptLength`, 2,048 characters at contextSize 256), so the engine is the one to refuse it.
 */
export function oversizedPrompt(random: Random): string {
  return randomWords(random, random.int(260, 320));
}

/** A prompt text longer than `maxPromptLength`: refused in the parent's thread, before it is sent. */
export function hugePrompt(random: Random, maxPromptLength: number): string {
  let text = randomWords(random, 50);
  while (text.length <= maxPromptLength) text += " " + randomWords(random, 50);
  return text;
}

/**
 * Texts for `embed`, most from a short fixed list so that the same text comes back often (its
 * vector must be the same every time), the rest a few random words.
 */
const EMBED_TEXTS = ["the cat", "a happy dog", "Why?", "lily saw the sun", "mom and dad went to the sea", "red ball"];

/** 1–3 texts for one `embed` call, a repeat within the call now and then (a batch gives what its texts give alone). */
export function embedTexts(random: Random): string[] {
  const one = () => (random.chance(0.7) ? random.pick(EMBED_TEXTS) : randomWords(random, random.int(1, 6)));
  const texts = Array.from({ length: random.int(1, 3) }, one);
  if (texts.length > 1 && random.chance(0.3)) texts[texts.length - 1] = texts[0]!;
  return texts;
}
