import { InvalidArgumentError } from "../../shared/errors/index.js";
import type { JsonSchema } from "./JsonSchema.js";
import { assertKnownKeys, positiveInteger } from "../../shared/validate.js";
import { describeValue, isPlainObject, jsonProblem, propertyPath } from "../../shared/plainData.js";

/** Options of one generate call. Nothing carries over to the next call or to another slot. */
export interface GenerateOptions {
  /**
   * Stop after this many generated tokens. Default: `contextSize` tokens (with context shift off:
   * the room left in the slot), so a model that never ends its text cannot generate forever.
   */
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
  /**
   * Constrains the reply to JSON of this schema (node-llama-cpp's JSON schema subset), so
   * `JSON.parse(reply)` works unless the reply was cut short (`maxTokens`, `stop`, a full slot,
   * an abort). The reply is the JSON alone and ends as end of text. Not with `grammar`.
   */
  jsonSchema?: JsonSchema;
  /** Constrains the reply to this GBNF grammar (start rule `root`), e.g. `root ::= ("yes" | "no")`. Not with `jsonSchema`. */
  grammar?: string;
  /** Makes tokens the slot has just seen less likely. Default: no penalty. */
  repeatPenalty?: RepeatPenalty;
  /**
   * Added to the logits of each token of each text (tokenized at the start of a text and in the
   * middle of one): below 0 makes them less likely, above 0 more likely, `-Infinity` forbids them.
   * End-of-text tokens cannot be biased. A grammar wins over a forbidden token it requires.
   */
  tokenBias?: Record<string, number>;
  /**
   * Like `tokenBias`, keyed by token id (OpenAI's `logit_bias`): ids of this model's vocabulary
   * (`0` to its size − 1, checked when the call runs), biases from -100 to 100 added to the
   * token's logit; -100 forbids the token. Applied after `tokenBias`; an id in both gets this one.
   */
  logitBias?: Record<number, number>;
  /**
   * Reports the probability of each reply token ({@link GenerationResult.logprobs}, and a
   * stream's `logprobs`): `true` for the chosen tokens alone, a number from 0 to 20 for that many
   * most likely alternatives at each step too. They are the distribution the token was drawn
   * from: the model's, after `tokenBias`/`logitBias`, `repeatPenalty` and a grammar, and with
   * temperature > 0 after `topK`/`topP`/`minP` and the temperature (at 0 the model's own). Costs
   * a copy of the vocabulary's probabilities per token (see docs/api.md, Log probabilities).
   */
  logprobs?: true | number;
}

/** {@link GenerateOptions.repeatPenalty}: llama.cpp's repetition penalties, as node-llama-cpp names them. */
export interface RepeatPenalty {
  /** Divides a recent token's positive logit (multiplies a negative one) by this. Default 1.1; 1 = off. */
  penalty?: number;
  /** Subtracted from a recent token's logit once per time it occurs among them (-2 to 2). Default 0. */
  frequencyPenalty?: number;
  /** Subtracted once from the logit of every recent token (-2 to 2). Default 0. */
  presencePenalty?: number;
  /** How many of the slot's latest tokens (prompts and replies) count as recent. Default 64; 0 = off. */
  lastTokens?: number;
}

/** What to compile a grammar from; `key` is the same for equal requests (the cache's key). */
export type GrammarRequest =
  | { readonly kind: "gbnf"; readonly gbnf: string; readonly key: string }
  | { readonly kind: "jsonSchema"; readonly schema: JsonSchema; readonly key: string };

/** {@link GenerateOptions} checked, with defaults filled in where the engine needs them. */
export interface ResolvedGenerateOptions {
  maxTokens: number;
  sampling: { temperature: number; topK?: number; topP?: number; minP?: number; seed?: number };
  stop: readonly string[];
  signal: AbortSignal | undefined;
  grammar: GrammarRequest | undefined;
  repeatPenalty: Readonly<Required<RepeatPenalty>> | undefined;
  /** Text → logit bias, in the order given. */
  tokenBias: ReadonlyMap<string, number> | undefined;
  /** Token id → logit bias (-Infinity: never). */
  logitBias: ReadonlyMap<number, number> | undefined;
  /** How many alternatives each reply token reports; undefined: no log-probabilities. */
  logprobs: number | undefined;
  /** Internal (`SlotHandle.prefillPrompt`): evaluate the prompt, leave its last token waiting, generate nothing. */
  prefillOnly?: boolean;
}

/** The most alternatives `logprobs` reports per token (OpenAI's bound). */
export const MAX_TOP_LOGPROBS = 20;

const OPTION_NAMES = [
  "maxTokens",
  "temperature",
  "topK",
  "topP",
  "minP",
  "seed",
  "stop",
  "signal",
  "jsonSchema",
  "grammar",
  "repeatPenalty",
  "tokenBias",
  "logitBias",
  "logprobs",
] as const satisfies readonly (keyof GenerateOptions)[];

const REPEAT_PENALTY_NAMES = [
  "penalty",
  "frequencyPenalty",
  "presencePenalty",
  "lastTokens",
] as const satisfies readonly (keyof RepeatPenalty)[];

/** node-llama-cpp's documented defaults (LlamaChat, LlamaCompletion). */
const DEFAULT_REPEAT_PENALTY: Readonly<Required<RepeatPenalty>> = { penalty: 1.1, frequencyPenalty: 0, presencePenalty: 0, lastTokens: 64 };

/**
 * Checks a call's options and fills in defaults. Runs in the caller's thread for scopes too, so
 * everything refused here is refused before crossing to the worker: unknown option names and
 * values a worker would receive changed (functions, class instances, Symbols, BigInts) included.
 * @throws {InvalidArgumentError} naming the option and what to pass instead.
 */
export function resolveGenerateOptions(options: GenerateOptions | undefined): ResolvedGenerateOptions {
  if (options === undefined)
    return {
      maxTokens: Infinity,
      sampling: { temperature: 0 },
      stop: [],
      signal: undefined,
      grammar: undefined,
      repeatPenalty: undefined,
      tokenBias: undefined,
      logitBias: undefined,
      logprobs: undefined,
    };
  if (!isPlainObject(options))
    throw new InvalidArgumentError(`Generate options must be a plain object, e.g. { maxTokens: 64 }, not ${describeValue(options)}.`);
  assertKnownKeys(options, OPTION_NAMES, "generate option", "Generate options");
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
    grammar: grammarRequest(options.jsonSchema, options.grammar),
    repeatPenalty: repeatPenalty(options.repeatPenalty),
    tokenBias: tokenBias(options.tokenBias),
    logitBias: logitBias(options.logitBias),
    logprobs: logprobCount(options.logprobs),
  };
}

function grammarRequest(jsonSchema: unknown, grammar: unknown): GrammarRequest | undefined {
  if (jsonSchema !== undefined && grammar !== undefined)
    throw new InvalidArgumentError("Pass jsonSchema or grammar, not both: a jsonSchema is turned into a grammar itself.");
  if (grammar !== undefined) {
    if (typeof grammar !== "string" || grammar.trim().length === 0)
      throw new InvalidArgumentError(
        `grammar must be a GBNF grammar as a non-empty string, e.g. 'root ::= ("yes" | "no")', not ${describeValue(grammar)}.`,
      );
    return { kind: "gbnf", gbnf: grammar, key: `gbnf:${grammar}` };
  }
  if (jsonSchema === undefined) return undefined;
  if (!isPlainObject(jsonSchema))
    throw new InvalidArgumentError(
      `jsonSchema must be a JSON schema as a plain object, e.g. { type: "object", properties: { name: { type: "string" } } }, not ${describeValue(jsonSchema)}.`,
    );
  const problem = jsonProblem(jsonSchema, "jsonSchema");
  if (problem !== undefined) throw new InvalidArgumentError(`${problem}. A jsonSchema must be plain JSON data.`);
  // Key order is kept: it is the order of the properties in the generated JSON.
  const key = JSON.stringify(jsonSchema);
  return { kind: "jsonSchema", schema: JSON.parse(key) as JsonSchema, key: `json:${key}` };
}

function repeatPenalty(value: unknown): ResolvedGenerateOptions["repeatPenalty"] {
  if (value === undefined) return undefined;
  if (!isPlainObject(value))
    throw new InvalidArgumentError(
      `repeatPenalty must be a plain object such as { penalty: 1.1, lastTokens: 64 }, not ${describeValue(value)}.`,
    );
  assertKnownKeys(value, REPEAT_PENALTY_NAMES, "repeatPenalty option", "repeatPenalty options");
  const penalty = value.penalty === undefined ? DEFAULT_REPEAT_PENALTY.penalty : value.penalty;
  if (typeof penalty !== "number" || !Number.isFinite(penalty) || penalty <= 0)
    throw new InvalidArgumentError(
      `repeatPenalty.penalty must be a number above 0 (1 = no penalty, e.g. 1.1), not ${describeValue(penalty)}.`,
    );
  const resolved = {
    penalty,
    frequencyPenalty:
      numberInRange("repeatPenalty.frequencyPenalty", value.frequencyPenalty, -2, 2) ?? DEFAULT_REPEAT_PENALTY.frequencyPenalty,
    presencePenalty: numberInRange("repeatPenalty.presencePenalty", value.presencePenalty, -2, 2) ?? DEFAULT_REPEAT_PENALTY.presencePenalty,
    lastTokens:
      value.lastTokens === undefined ? DEFAULT_REPEAT_PENALTY.lastTokens : wholeNumber("repeatPenalty.lastTokens", value.lastTokens),
  };
  return resolved.lastTokens === 0 ? undefined : resolved;
}

function tokenBias(value: unknown): ResolvedGenerateOptions["tokenBias"] {
  if (value === undefined) return undefined;
  if (!isPlainObject(value))
    throw new InvalidArgumentError(
      `tokenBias must be a plain object from text to bias, e.g. { " dragon": -Infinity }, not ${describeValue(value)}.`,
    );
  const symbol = Object.getOwnPropertySymbols(value)[0];
  if (symbol !== undefined) throw new InvalidArgumentError(`tokenBias keys must be text, not ${String(symbol)}. Remove it.`);
  const biases = new Map<string, number>();
  for (const [text, bias] of Object.entries(value)) {
    if (text.length === 0) throw new InvalidArgumentError('tokenBias keys must be non-empty text: remove the "" key.');
    if (typeof bias !== "number" || Number.isNaN(bias) || bias === Infinity)
      throw new InvalidArgumentError(
        `tokenBias${propertyPath(text)} must be a number added to the token's logit (e.g. -5 less likely, 5 more likely, -Infinity never), not ${describeValue(bias)}.`,
      );
    biases.set(text, bias);
  }
  return biases.size === 0 ? undefined : biases;
}

function logitBias(value: unknown): ResolvedGenerateOptions["logitBias"] {
  if (value === undefined) return undefined;
  if (!isPlainObject(value))
    throw new InvalidArgumentError(
      `logitBias must be a plain object from token id to bias, e.g. { "50256": -100 }, not ${describeValue(value)}.`,
    );
  const biases = new Map<number, number>();
  for (const [key, bias] of Object.entries(value)) {
    const token = Number(key);
    if (!/^(0|[1-9][0-9]*)$/.test(key) || !Number.isSafeInteger(token))
      throw new InvalidArgumentError(`logitBias keys must be token ids (whole numbers from 0), not ${JSON.stringify(key)}.`);
    if (typeof bias !== "number" || Number.isNaN(bias) || bias < -100 || bias > 100)
      throw new InvalidArgumentError(
        `logitBias${propertyPath(key)} must be a number from -100 to 100 added to the token's logit (-100 never), not ${describeValue(bias)}.`,
      );
    biases.set(token, bias === -100 ? -Infinity : bias);
  }
  return biases.size === 0 ? undefined : biases;
}

function logprobCount(value: unknown): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_TOP_LOGPROBS)
    throw new InvalidArgumentError(
      `logprobs must be true or a whole number of alternatives from 0 to ${MAX_TOP_LOGPROBS}, not ${describeValue(value)}.`,
    );
  return value;
}

function numberInRange(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || Number.isNaN(value) || value < min || value > max)
    throw new InvalidArgumentError(
      `${name} must be a number from ${min === Number.MIN_VALUE ? "just above 0" : min} to ${max}, not ${describeValue(value)}.`,
    );
  return value;
}

function wholeNumber(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(`${name} must be a whole number of at least 0, not ${describeValue(value)}.`);
  return value;
}

function stopStrings(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string" && s.length > 0))
    throw new InvalidArgumentError('stop must be an array of non-empty strings, e.g. ["\\n\\n"].');
  return [...(value as string[])];
}
