import type { GenerateOptions } from "../engine/index.js";
import { InvalidArgumentError } from "../shared/errors/index.js";
import { describeValue } from "../shared/plainData.js";

/** The most choices one call asks for (OpenAI's bound for `n`). */
export const MAX_CHOICES = 128;

/**
 * Checks `n` for `generateChoices`.
 * @throws {InvalidArgumentError}
 */
export function choiceCount(n: unknown): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_CHOICES)
    throw new InvalidArgumentError(`n (the number of choices) must be a whole number from 1 to ${MAX_CHOICES}, not ${describeValue(n)}.`);
  return n;
}

/**
 * Choice `index`'s options: with a seed, its own (seed + index), so the choices differ when they
 * sample and each is the same for the same seed; without one, llama.cpp seeds each at random.
 */
export function choiceOptions(options: GenerateOptions | undefined, index: number): GenerateOptions | undefined {
  if (options?.seed === undefined || index === 0) return options;
  return { ...options, seed: options.seed + index };
}
