import type { ChatFunction, FunctionCallMode, PromptOptions } from "../../index.js";
import { badRequest } from "../ApiError.js";
import { checkSchemaTypes } from "./jsonSchemaTypes.js";
import { booleanField, refuseField, type Body } from "./requestFields.js";

/**
 * OpenAI's `tools`, `tool_choice` and `parallel_tool_calls`, as a chat scope's `functions` and
 * `functionCall`. Only function tools exist. `parallel_tool_calls` is checked and needs no more:
 * a reply makes at most one call (true or false alike). The deprecated `functions` and
 * `function_call` are refused with a pointer to `tools`: mapping them would keep two spellings
 * of one feature, and OpenAI's clients have sent `tools` for years.
 */
export function toolOptionsOf(body: Body): Pick<PromptOptions, "functions" | "functionCall"> {
  refuseField(
    body,
    "functions",
    'it takes tools instead of the deprecated functions: send tools: [{ type: "function", function: { name, description, parameters } }].',
  );
  refuseField(body, "function_call", "it takes tool_choice instead of the deprecated function_call.");
  booleanField(body, "parallel_tool_calls");
  const functions = toolsOf(body.tools);
  const choice = body.tool_choice;
  if (functions === undefined) {
    if (choice !== undefined && choice !== null && choice !== "none" && choice !== "auto")
      throw badRequest("tool_choice needs tools: send the tools the model may call.", "tool_choice");
    return {};
  }
  return { functions, functionCall: toolChoiceOf(choice, functions) };
}

function toolsOf(tools: unknown): Record<string, ChatFunction> | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools))
    throw badRequest('tools must be an array of { type: "function", function: { name, description, parameters } }.', "tools");
  if (tools.length === 0) return undefined;
  const functions: Record<string, ChatFunction> = {};
  tools.forEach((tool: unknown, i) => {
    const where = `tools[${i}]`;
    const { type, function: fn } = (tool ?? {}) as { type?: unknown; function?: unknown };
    if (type !== "function")
      throw badRequest(`${where}.type must be "function": this server calls functions only, not ${JSON.stringify(type)}.`, `${where}.type`);
    const { name, description, parameters } = (fn ?? {}) as { name?: unknown; description?: unknown; parameters?: unknown };
    if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name))
      throw badRequest(`${where}.function.name must be a name of letters, digits, "_", "." or "-" (64 at most).`, `${where}.function.name`);
    if (name in functions) throw badRequest(`${where}.function.name ${JSON.stringify(name)} is given twice.`, `${where}.function.name`);
    if (description !== undefined && typeof description !== "string")
      throw badRequest(`${where}.function.description must be a string.`, `${where}.function.description`);
    const entry: ChatFunction = description === undefined ? {} : { description };
    if (parameters !== undefined && parameters !== null) {
      if (typeof parameters !== "object" || Array.isArray(parameters))
        throw badRequest(`${where}.function.parameters must be a JSON schema object.`, `${where}.function.parameters`);
      checkSchemaTypes(parameters, `${where}.function.parameters`);
      // A function of no parameters writes no arguments.
      const { properties } = parameters as { properties?: unknown };
      const none = typeof properties === "object" && properties !== null && Object.keys(properties).length === 0;
      if (!none) entry.params = parameters as NonNullable<ChatFunction["params"]>;
    }
    functions[name] = entry;
  });
  return functions;
}

function toolChoiceOf(choice: unknown, functions: Record<string, ChatFunction>): FunctionCallMode {
  if (choice === undefined || choice === null || choice === "auto") return "auto";
  if (choice === "none" || choice === "required") return choice;
  const { type, function: fn } = (choice ?? {}) as { type?: unknown; function?: { name?: unknown } };
  if (typeof choice === "object" && type === "function" && typeof fn?.name === "string") {
    if (!(fn.name in functions))
      throw badRequest(`tool_choice names ${JSON.stringify(fn.name)}, which is not among tools.`, "tool_choice.function.name");
    return { name: fn.name };
  }
  throw badRequest('tool_choice must be "none", "auto", "required" or { type: "function", function: { name } }.', "tool_choice");
}
