import { badRequest } from "../ApiError.js";
import { booleanField, refuseField, stringField, type Body } from "./requestFields.js";

/** OpenAI's values of `reasoning_effort` and `verbosity`: others are a client's mistake, said so. */
const REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh"];
const VERBOSITIES = ["low", "medium", "high"];

/**
 * Fields of OpenAI's API about its platform rather than the reply: checked, so that a mistake is
 * a 400 naming it, then ignored, because nothing here depends on them (docs/server.md says why
 * for each). A field that asks the reply for what only OpenAI's platform has (a web search) is
 * refused instead: ignored, it would give a reply the client did not ask for.
 */
export function checkPlatformFields(body: Body, endpoint: "chat" | "completions"): void {
  stringField(body, "user"); // an end user's id for abuse tracking: never a session (one user has many conversations)
  streamOptions(body.stream_options);
  if (endpoint !== "chat") return;
  booleanField(body, "store"); // no completion is stored to be listed or read back later
  stringMap(body.metadata, "metadata"); // labels of a stored completion: nothing is stored
  stringField(body, "service_tier"); // one tier: every request is served the same way
  stringField(body, "prompt_cache_key"); // the prefix cache finds shared prefixes by their content
  stringField(body, "safety_identifier"); // like user: an end user's id for OpenAI's abuse detection
  oneOf(body, "reasoning_effort", REASONING_EFFORTS); // the model does not reason apart from its reply
  oneOf(body, "verbosity", VERBOSITIES); // a hint to OpenAI's models; max_tokens bounds a reply here
  refuseField(body, "web_search_options", "it cannot search the web; send what the model should know in the messages.");
}

/** `stream_options`: `include_usage` (the usage chunk is sent anyway) and `include_obfuscation` (nothing to hide: no padding). */
function streamOptions(value: unknown): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "object" || Array.isArray(value))
    throw badRequest("stream_options must be an object such as { include_usage: true }.", "stream_options");
  for (const name of ["include_usage", "include_obfuscation"]) booleanField(value as Body, name, `stream_options.${name}`);
}

function stringMap(value: unknown, name: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== "object" || Array.isArray(value) || !Object.values(value).every((item) => typeof item === "string"))
    throw badRequest(`${name} must be an object of string values.`, name);
}

function oneOf(body: Body, name: string, values: readonly string[]): void {
  const value = stringField(body, name);
  if (value !== undefined && !values.includes(value))
    throw badRequest(`${name} must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}, not ${JSON.stringify(value)}.`, name);
}
