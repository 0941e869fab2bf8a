import { describe, expect, test } from "@jest/globals";
import { commonPrefix, startsWith, suffixPrefixOverlap } from "../../src/shared/tokenRuns.js";
import { seededRandom } from "../support/randomText.js";

/** The definition, tried length by length from the longest: what the linear version must match. */
function bruteOverlap(a: readonly number[], b: readonly number[]): number {
  for (let length = Math.min(a.length, b.length); length > 0; length--) {
    if (a.slice(a.length - length).every((item, i) => item === b[i])) return length;
  }
  return 0;
}

/** Short arrays over a tiny alphabet, so that long repeats and partial matches are common. */
function randomArray(random: () => number, maxLength: number, alphabet: number): number[] {
  return Array.from({ length: Math.floor(random() * (maxLength + 1)) }, () => Math.floor(random() * alphabet));
}

describe("commonPrefix", () => {
  test("counts the leading items both share, up to the shorter length", () => {
    expect(commonPrefix([1, 2, 3, 4], [1, 2, 9])).toBe(2);
    expect(commonPrefix([1, 2], [1, 2, 3])).toBe(2);
    expect(commonPrefix([1, 2, 3], [1, 2, 3])).toBe(3);
    expect(commonPrefix([5], [6])).toBe(0);
    expect(commonPrefix([], [1])).toBe(0);
  });

  test("compares items by identity, as tokens are compared", () => {
    expect(commonPrefix(["a", "b"], ["a", "B"])).toBe(1);
    expect(commonPrefix([NaN], [NaN])).toBe(0);
  });
});

describe("startsWith", () => {
  test("true for a prefix, the empty prefix and an equal array; false for a longer or different one", () => {
    expect(startsWith([1, 2, 3], [1, 2])).toBe(true);
    expect(startsWith([1, 2, 3], [])).toBe(true);
    expect(startsWith([], [])).toBe(true);
    expect(startsWith([1, 2, 3], [1, 2, 3])).toBe(true);
    expect(startsWith([1, 2], [1, 2, 3])).toBe(false);
    expect(startsWith([1, 2, 3], [1, 3])).toBe(false);
  });
});

describe("suffixPrefixOverlap", () => {
  test("examples: none, partial, whole of either array, repeats", () => {
    expect(suffixPrefixOverlap([1, 2, 3], [4, 5])).toBe(0);
    expect(suffixPrefixOverlap([1, 2, 3], [2, 3, 4])).toBe(2);
    expect(suffixPrefixOverlap([1, 2, 3], [1, 2, 3, 4])).toBe(3);
    expect(suffixPrefixOverlap([9, 1, 2], [1, 2])).toBe(2);
    // The longest overlap, not the first one found: [1,1,1] ends with [1,1] and with [1,1,1].
    expect(suffixPrefixOverlap([1, 1, 1], [1, 1, 1, 2])).toBe(3);
    // A border that must fall back: "aab" ends with "ab", which "abab…" begins with.
    expect(suffixPrefixOverlap([0, 0, 1], [0, 1, 0, 1])).toBe(2);
    expect(suffixPrefixOverlap([], [1])).toBe(0);
    expect(suffixPrefixOverlap([1], [])).toBe(0);
  });

  test("equals the brute-force definition on 20,000 random pairs", () => {
    const random = seededRandom(19);
    for (let i = 0; i < 20_000; i++) {
      const alphabet = 1 + (i % 4);
      const a = randomArray(random, 12, alphabet);
      const b = randomArray(random, 12, alphabet);
      const expected = bruteOverlap(a, b);
      if (suffixPrefixOverlap(a, b) !== expected)
        throw new Error(`a=${JSON.stringify(a)} b=${JSON.stringify(b)}: expected ${expected}, got ${suffixPrefixOverlap(a, b)}`);
    }
  });

  test("equals the brute-force definition on long arrays that overlap by construction", () => {
    const random = seededRandom(7);
    for (let i = 0; i < 500; i++) {
      const a = randomArray(random, 200, 2);
      const cut = Math.floor(random() * (a.length + 1));
      const b = [...a.slice(cut), ...randomArray(random, 50, 2)];
      const overlap = suffixPrefixOverlap(a, b);
      expect(overlap).toBe(bruteOverlap(a, b));
      expect(overlap).toBeGreaterThanOrEqual(a.length - cut);
    }
  });
});
