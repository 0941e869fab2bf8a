/** Random but repeatable conversation text for tests that push scopes around. */

const WORDS = (
  "the a cat dog sun tree ran happy little girl boy park ball red blue big small said play jump mom dad " +
  "friend went home saw bird sky tall fast slow loved day night time once upon there was named lily tom"
).split(" ");

/** A seeded pseudo-random source in [0, 1) (mulberry32): the same seed gives the same numbers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` random words, separated by spaces. */
export function randomWords(random: () => number, count: number): string {
  return Array.from({ length: count }, () => WORDS[Math.floor(random() * WORDS.length)]).join(" ");
}

/** A user turn and the reply length asked for it. */
export interface Turn {
  text: string;
  maxTokens: number;
}

/** Turns as the soak found stuck scopes with: "Why?" or 25–55 random words, each with `maxTokens` 4–60. */
export function randomTurns(random: () => number, count: number): Turn[] {
  return Array.from({ length: count }, () => ({
    text: random() < 0.3 ? "Why?" : randomWords(random, 25 + Math.floor(random() * 31)),
    maxTokens: 4 + Math.floor(random() * 57),
  }));
}
