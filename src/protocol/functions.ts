import type { GenerateOptions, JsonSchema } from "../engine/index.js";

/** A function a chat scope's model may call: what it does, and the JSON schema of its arguments. */
export interface ChatFunction {
  /** Shown to the model with the function's signature. */
  description?: string;
  /**
   * The arguments' JSON schema, in node-llama-cpp's subset (as the `jsonSchema` option's: every
   * property listed is required, no others are allowed). A call's arguments are generated under
   * the grammar of this schema, so they always match it. Leave it out for a function without
   * arguments.
   */
  params?: JsonSchema;
}

/**
 * Whether the model calls a function: `"auto"` (default) lets it answer or call, `"none"` keeps
 * the functions out of the prompt, `"required"` makes the reply a call to one of them (the model
 * picks which), `{ name }` a call to that one.
 */
export type FunctionCallMode = "auto" | "none" | "required" | { name: string };

/** The result of a call the conversation waits for, given back with `functionResults`. */
export interface FunctionResult {
  /** The called function's name (checked against the call). */
  name: string;
  /** Plain JSON data (use `null` for nothing): rendered with the chat template's function-result syntax. */
  result: unknown;
}

/** The chat scopes' function options of a prompt (with the `GenerateOptions`). */
export interface ChatFunctionOptions {
  /** The functions the model may call in this reply, by name. Give the same ones at each turn: they are rendered in the prompt. */
  functions?: Record<string, ChatFunction>;
  /**
   * Whether and which function the model calls; see {@link FunctionCallMode}. A `jsonSchema` or
   * `grammar` option constrains the reply's text (with `"auto"`), never a call's arguments, and a
   * forced call refuses them.
   */
  functionCall?: FunctionCallMode;
  /**
   * The results of the calls the last reply ended with, in the calls' order: the prompt text
   * must then be `""`. They are appended as the template's function-result text and the model
   * goes on with its reply (which may call again).
   */
  functionResults?: FunctionResult[];
}

/** The prompt options of a scope: the engine's, and the chat scopes' function options. */
export type PromptOptions = GenerateOptions & ChatFunctionOptions;

/** {@link ChatFunctionOptions} as they cross to the worker, checked. */
export interface WireFunctionOptions {
  functions: Record<string, ChatFunction>;
  functionCall: FunctionCallMode;
  functionResults: FunctionResult[] | undefined;
}
