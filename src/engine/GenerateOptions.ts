import { InvalidArgumentError } from "../errors/index.js";
import { positiveInteger } from "./LlamaLoadOptions.js";

/** Options of one generate call. Nothing carries over to the next call or to another slot. */
export interface GenerateOptions {
  /** Stop after this many generated tokens. Default: until end of text or the slot is full. */
  maxTokens?: number;
  /** 0 picks the most likely token every time (deterministic). Default 0. */
  temperature?: number;
  /** Sample among the K most likely tokens (0 = all). Used when temperature > 0. */
  topK?: number;
  /** Sample among the smallest set of tokens whose probabilities add up to P (0 < P ≤ 1). */
  topP?: number;
  /** Drop tokens less likely than minP × the most likely token's probability (0 ≤ minP ≤ 1). */
  minP?: number;
  /** Random seed for sampling when temperature > 0; the same seed gives the same text. */
  seed?: number;
  /** Stop when the reply would contain one of these strings; the reply ends just before it. */
  stop?: string[];
  /** Ends the generation early; the reply so far is returned and kept in the slot's history. */
  signal?: AbortSignal;
}

/** {@link GenerateOptions} checked, with defaults filled in where the engine needs them. */
export interface ResolvedGenerateOptions {
  maxTokens: number;
  sampling: { temperature: number; topK?: number; topP?: number; minP?: number; seed?: number };
  stop: readonly string[];
  signal: AbortSignal | undefined;
}

export function resolveGenerateOptions(options: GenerateOptions | undefined): ResolvedGenerateOptions {
  if (options === undefined) return { maxTokens: Infinity, sampling: { temperature: 0 }, stop: [], signal: undefined };
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("Generate options must be an object, e.g. { maxTokens: 64 }.");
  const sampling: ResolvedGenerateOptions["sampling"] = {
    temperature: numberInRange("temperature", options.temperature, 0, Infinity) ?? 0,
  };
  const topK = options.topK === undefined || options.topK === 0 ? undefined : positiveInteger("topK", options.topK);
  const topP = numberInRange("topP", options.topP, Number.MIN_VALUE, 1);
  const minP = numberInRange("minP", options.minP, 0, 1);
  const seed = options.seed === undefined ? undefined : wholeNumber("seed", options.seed);
  if (topK !== undefined) sampling.topK = topK;
  if (topP !== undefined) sampling.topP = topP;
  if (minP !== undefined) sampling.minP = minP;
  if (seed !== undefined) sampling.seed = seed;
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new InvalidArgumentError("signal must be an AbortSignal (e.g. new AbortController().signal).");
  return {
    maxTokens: positiveInteger("maxTokens", options.maxTokens) ?? Infinity,
    sampling,
    stop: stopStrings(options.stop),
    signal: options.signal,
  };
}

function numberInRange(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || Number.isNaN(value) || value < min || value > max)
    throw new InvalidArgumentError(`${name} must be a number from ${min === Number.MIN_VALUE ? "just above 0" : min} to ${max}, not ${String(value)}.`);
  return value;
}

function wholeNumber(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(`${name} must be a whole number of at least 0, not ${String(value)}.`);
  return value;
}

function stopStrings(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string" && s.length > 0))
    throw new InvalidArgumentError("stop must be an array of non-empty strings, e.g. [\"\\n\\n\"].");
  return [...value];
}
