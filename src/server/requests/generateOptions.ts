import type { GenerateOptions } from "../../index.js";
import { badRequest } from "../ApiError.js";
import { checkSchemaTypes } from "./jsonSchemaTypes.js";
import { integerField, numberField, refuseField, type Body } from "./requestFields.js";
import { choiceCountOf, logprobOptionsOf } from "./choiceFields.js";

/** OpenAI's default sampling temperature, used when a request names none. */
export const DEFAULT_TEMPERATURE = 1;
/** OpenAI takes at most this many stop sequences. */
const MAX_STOP_SEQUENCES = 4;

/**
 * The generation options of a chat or text completion request, in the library's terms. What
 * cannot be honoured is refused with a 400 that names the field, never silently ignored.
 */
export function generateOptionsOf(body: Body, endpoint: "chat" | "completions"): GenerateOptions {
  const n = choiceCountOf(body);
  // tools, tool_choice, parallel_tool_calls and the deprecated functions and function_call: toolOptions.ts.
  refuseField(body, "audio", "it answers in text only.");
  refuseField(body, "modalities", "it answers in text only.", (value) => Array.isArray(value) && value.every((m) => m === "text"));
  refuseField(body, "prediction", "predicted outputs are not supported.");
  if (endpoint === "completions") {
    refuseField(body, "tools", "text completions do not call tools: use /v1/chat/completions.");
    refuseField(body, "tool_choice", "text completions do not call tools: use /v1/chat/completions.");
    refuseField(body, "echo", "it does not echo the prompt.", (value) => value === false);
    refuseField(body, "best_of", "it returns every choice it generates. Send best_of equal to n, or leave it out.", (value) => value === n);
    refuseField(body, "suffix", "it does not insert text.");
  }

  const options: GenerateOptions = { temperature: numberField(body, "temperature", 0, 2) ?? DEFAULT_TEMPERATURE };
  const topP = numberField(body, "top_p", 0, 1);
  if (topP !== undefined && topP > 0) options.topP = topP;
  else if (topP === 0) options.temperature = 0; // nothing but the most likely token: greedy
  const topK = integerField(body, "top_k", 0); // llama.cpp's server takes these too
  if (topK !== undefined && topK > 0) options.topK = topK;
  const minP = numberField(body, "min_p", 0, 1);
  if (minP !== undefined) options.minP = minP;
  const seed = integerField(body, "seed", 0);
  if (seed !== undefined) options.seed = seed;
  const maxTokens = integerField(body, "max_completion_tokens", 1) ?? integerField(body, "max_tokens", 1);
  if (maxTokens !== undefined) options.maxTokens = maxTokens;
  const stop = stopSequences(body.stop);
  if (stop !== undefined) options.stop = stop;
  const frequencyPenalty = numberField(body, "frequency_penalty", -2, 2);
  const presencePenalty = numberField(body, "presence_penalty", -2, 2);
  if ((frequencyPenalty ?? 0) !== 0 || (presencePenalty ?? 0) !== 0)
    // Only the penalties asked for: llama.cpp's multiplicative repeat penalty stays off (1).
    options.repeatPenalty = { penalty: 1, frequencyPenalty: frequencyPenalty ?? 0, presencePenalty: presencePenalty ?? 0 };
  const jsonSchema = responseFormat(body.response_format);
  if (jsonSchema !== undefined) options.jsonSchema = jsonSchema;
  return { ...options, ...logprobOptionsOf(body, endpoint) };
}

function stopSequences(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const stops = typeof value === "string" ? [value] : value;
  if (!Array.isArray(stops) || stops.length > MAX_STOP_SEQUENCES || !stops.every((s) => typeof s === "string" && s.length > 0))
    throw badRequest(`stop must be a non-empty string or an array of at most ${MAX_STOP_SEQUENCES} of them.`, "stop");
  return stops.length === 0 ? undefined : (stops as string[]);
}

/** `response_format`: text (nothing to do), `json_schema` (its schema), or `json_object` (any object). */
function responseFormat(value: unknown): GenerateOptions["jsonSchema"] {
  if (value === undefined || value === null) return undefined;
  const format = value as { type?: unknown; json_schema?: { schema?: unknown } };
  if (typeof value !== "object" || typeof format.type !== "string")
    throw badRequest(
      'response_format must be { type: "text" }, { type: "json_object" } or { type: "json_schema", json_schema: { name, schema } }.',
      "response_format",
    );
  switch (format.type) {
    case "text":
      return undefined;
    case "json_object":
      return { type: "object", additionalProperties: true };
    case "json_schema": {
      const schema = format.json_schema?.schema;
      if (typeof schema !== "object" || schema === null || Array.isArray(schema))
        throw badRequest("response_format.json_schema.schema must be a JSON schema object.", "response_format.json_schema.schema");
      checkSchemaTypes(schema, "response_format.json_schema.schema");
      return schema as GenerateOptions["jsonSchema"];
    }
    default:
      throw badRequest(
        `response_format.type must be "text", "json_object" or "json_schema", not ${JSON.stringify(format.type)}.`,
        "response_format.type",
      );
  }
}
