import { FunctionResultsError, InvalidArgumentError, UnknownFunctionError } from "../shared/errors/index.js";
import { describeValue, isPlainObject, jsonProblem } from "../shared/plainData.js";
import type { ChatFunction, FunctionCallMode, FunctionResult, PromptOptions, WireFunctionOptions } from "../protocol/index.js";
import type { GenerateOptions } from "../engine/index.js";

const FUNCTION_KEYS = ["functions", "functionCall", "functionResults"] as const;

/**
 * Splits a prompt's options into the engine's and the chat scopes' function options, checked in
 * the caller's thread (before anything is sent): the engine's options are checked by their own
 * resolver. Function options on a completion scope, or without `functions` where they need them,
 * are refused.
 */
export function splitFunctionOptions(
  options: PromptOptions | undefined,
  text: string,
  mode: "chat" | "completion",
): { generate: GenerateOptions | undefined; functions: WireFunctionOptions | undefined } {
  if (!isPlainObject(options) || !FUNCTION_KEYS.some((key) => key in options)) return { generate: options, functions: undefined };
  const { functions, functionCall, functionResults, ...generate } = options;
  if (mode !== "chat")
    throw new InvalidArgumentError('functions, functionCall and functionResults belong to chat scopes: getScope({ mode: "chat" }).');
  const checked = checkFunctions(functions);
  const call = checkMode(functionCall, checked);
  const results = checkResults(functionResults);
  if (results !== undefined && text !== "")
    throw new FunctionResultsError(
      'A prompt with functionResults continues the model\'s reply after its calls: send the text as "" and the next user message in its own prompt.',
    );
  // A jsonSchema or grammar constrains the reply's text; a forced reply has none (its arguments have their own grammar).
  if ((generate.jsonSchema !== undefined || generate.grammar !== undefined) && (call === "required" || typeof call === "object"))
    throw new InvalidArgumentError(
      'A forced call (functionCall "required" or { name }) has no text for a jsonSchema or grammar to constrain: leave them out, or use "auto".',
    );
  return { generate, functions: { functions: checked, functionCall: call, functionResults: results } };
}

function checkFunctions(functions: unknown): Record<string, ChatFunction> {
  if (functions === undefined) return {};
  if (!isPlainObject(functions))
    throw new InvalidArgumentError(
      `functions must be an object of functions by name, e.g. { getWeather: { description: "…", params: { type: "object", properties: { city: { type: "string" } } } } }, not ${describeValue(functions)}.`,
    );
  const checked: Record<string, ChatFunction> = {};
  for (const [name, fn] of Object.entries(functions)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name))
      throw new InvalidArgumentError(
        `The function name ${JSON.stringify(name)} is not one a model can write: use letters, digits, "_", "." and "-" (64 at most), starting with a letter or "_".`,
      );
    if (!isPlainObject(fn)) throw new InvalidArgumentError(`functions.${name} must be an object { description?, params? }.`);
    const { description, params, ...rest } = fn;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined)
      throw new InvalidArgumentError(`functions.${name}.${unknown} is not an option: a function has description and params.`);
    if (description !== undefined && typeof description !== "string")
      throw new InvalidArgumentError(`functions.${name}.description must be a string.`);
    if (params !== undefined) {
      const problem = isPlainObject(params)
        ? jsonProblem(params, `functions.${name}.params`)
        : `functions.${name}.params must be a JSON schema object`;
      if (problem !== undefined)
        throw new InvalidArgumentError(`${problem}. A function's params must be a JSON schema as plain JSON data.`);
    }
    checked[name] = structuredClone(fn);
  }
  return checked;
}

function checkMode(mode: unknown, functions: Record<string, ChatFunction>): FunctionCallMode {
  if (mode === undefined || mode === "auto" || mode === "none" || mode === "required") {
    if (mode === "required" && Object.keys(functions).length === 0)
      throw new InvalidArgumentError('functionCall: "required" needs functions to call: pass them in functions.');
    return mode ?? "auto";
  }
  if (isPlainObject(mode) && typeof mode.name === "string" && Object.keys(mode).length === 1) {
    if (!(mode.name in functions))
      throw new UnknownFunctionError(
        `functionCall names ${JSON.stringify(mode.name)}, which is not among this prompt's functions (${Object.keys(functions).join(", ") || "none"}): pass it in functions.`,
      );
    return { name: mode.name };
  }
  throw new InvalidArgumentError(`functionCall must be "auto", "none", "required" or { name }, not ${describeValue(mode)}.`);
}

function checkResults(results: unknown): FunctionResult[] | undefined {
  if (results === undefined) return undefined;
  if (!Array.isArray(results) || results.length === 0)
    throw new InvalidArgumentError("functionResults must be a non-empty array of { name, result }, one per call, in the calls' order.");
  return results.map((item: unknown, i) => {
    if (!isPlainObject(item) || typeof item.name !== "string" || !("result" in item))
      throw new InvalidArgumentError(`functionResults[${i}] must be { name, result }: the called function's name and its result.`);
    const problem =
      item.result === undefined ? `functionResults[${i}].result is undefined` : jsonProblem(item.result, `functionResults[${i}].result`);
    if (problem !== undefined) throw new InvalidArgumentError(`${problem}. A result must be plain JSON data (null for nothing).`);
    return { name: item.name, result: structuredClone(item.result) };
  });
}
