import { InvalidArgumentError } from "./errors/index.js";
import { assertKnownKeys } from "./validate.js";

/**
 * The texts of an `embed` call as an array: one string, or a non-empty array of non-empty
 * strings. Checked on the caller's side (the parent, the direct API) before any work, so a bad
 * batch fails whole and nothing of it is computed.
 * @throws {InvalidArgumentError} naming the first text that is not one.
 */
export function embedTexts(texts: unknown): string[] {
  const list = typeof texts === "string" ? [texts] : texts;
  if (!Array.isArray(list))
    throw new InvalidArgumentError(`embed takes a string or an array of strings, not ${describe(texts)}: embed(["first text", "second"]).`);
  if (list.length === 0) throw new InvalidArgumentError("embed was given an empty array: pass at least one text.");
  list.forEach((text: unknown, index) => {
    const where = typeof texts === "string" ? "The text" : `Text ${index}`;
    if (typeof text !== "string") throw new InvalidArgumentError(`${where} is ${describe(text)}, not a string: embed takes strings only.`);
    if (text.length === 0) throw new InvalidArgumentError(`${where} is empty: an empty text has no embedding. Leave it out.`);
  });
  return list as string[];
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value).slice(0, 40)}`;
}

/** Checks `embed`'s options; resolves with its signal. */
export function embedSignal(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== "object" || Array.isArray(options))
    throw new InvalidArgumentError("embed's options must be an object: embed(texts, { signal }).");
  assertKnownKeys(options, ["signal"], "embed option", "embed options");
  const { signal } = options as { signal?: unknown };
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError("embed's signal must be an AbortSignal.");
  return signal;
}
