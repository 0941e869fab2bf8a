import type { GenerateOptions } from "../../index.js";
import { badRequest } from "../ApiError.js";
import { booleanField, integerField, type Body } from "./requestFields.js";

/** OpenAI's bound for `n`, and the library's (`generateChoices`). */
const MAX_CHOICES = 128;
/** OpenAI's bound for `top_logprobs`, and the library's. */
const MAX_TOP_LOGPROBS = 20;

/** `n`: how many choices to generate from the prompt (1 to 128; default 1). */
export function choiceCountOf(body: Body): number {
  const n = integerField(body, "n", 1);
  if (n !== undefined && n > MAX_CHOICES) throw badRequest(`n must be a whole number from 1 to ${MAX_CHOICES}, not ${n}.`, "n");
  return n ?? 1;
}

/**
 * `logprobs`/`top_logprobs` and `logit_bias` in the library's terms. Chat: `logprobs` true or
 * false, `top_logprobs` 0 to 20 beside `logprobs: true`; text completions: `logprobs` the number
 * of alternatives (0 to 20). `logit_bias`: token id → -100 to 100 (ids the model lacks are
 * refused when the request runs).
 */
export function logprobOptionsOf(body: Body, endpoint: "chat" | "completions"): Pick<GenerateOptions, "logprobs" | "logitBias"> {
  const options: Pick<GenerateOptions, "logprobs" | "logitBias"> = {};
  const top = endpoint === "chat" ? chatTopLogprobs(body) : topCount(body, "logprobs");
  if (top !== undefined) options.logprobs = top;
  const logitBias = logitBiasOf(body.logit_bias);
  if (logitBias !== undefined) options.logitBias = logitBias;
  return options;
}

function chatTopLogprobs(body: Body): number | undefined {
  const wanted = booleanField(body, "logprobs") ?? false;
  const top = topCount(body, "top_logprobs");
  if (top !== undefined && !wanted) throw badRequest("top_logprobs needs logprobs: true. Send both, or neither.", "top_logprobs");
  return wanted ? (top ?? 0) : undefined;
}

function topCount(body: Body, name: string): number | undefined {
  const top = integerField(body, name, 0);
  if (top !== undefined && top > MAX_TOP_LOGPROBS)
    throw badRequest(`${name} must be a whole number from 0 to ${MAX_TOP_LOGPROBS}, not ${top}.`, name);
  return top;
}

function logitBiasOf(value: unknown): Record<number, number> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value))
    throw badRequest('logit_bias must be an object from token id to bias (-100 to 100), e.g. { "50256": -100 }.', "logit_bias");
  const biases: Record<number, number> = {};
  for (const [key, bias] of Object.entries(value as Record<string, unknown>)) {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(key))
      throw badRequest(`logit_bias keys must be token ids (whole numbers from 0), not ${JSON.stringify(key)}.`, "logit_bias");
    if (typeof bias !== "number" || !Number.isFinite(bias) || bias < -100 || bias > 100)
      throw badRequest(`logit_bias["${key}"] must be a number from -100 to 100 (-100: never), not ${JSON.stringify(bias)}.`, "logit_bias");
    biases[Number(key)] = bias;
  }
  return Object.keys(biases).length === 0 ? undefined : biases;
}
