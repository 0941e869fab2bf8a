import { LlamaText, type ChatModelFunctions, type ChatWrapper, type Token } from "node-llama-cpp";
import type { GenerationResult, Llama, SlotHandle } from "../../engine/index.js";
import { nodeModelOf } from "../../engine/model/nodeModel.js";
import { FunctionSchemaError } from "../../shared/errors/index.js";
import { LruMap } from "../../shared/LruMap.js";
import type { WireFunctionOptions, WireGenerateOptions } from "../../protocol/index.js";
import type { ChatSession, ChatTurn } from "./ChatSession.js";

/** What a chat prompt with function options needs from the scope service. */
export interface FunctionTurnContext {
  slot: SlotHandle;
  chat: ChatSession;
  wrapper: ChatWrapper;
  functions: WireFunctionOptions;
  /** The prompt's generate options (the caller's stop strings included), with the request's signal. */
  options: WireGenerateOptions & { signal: AbortSignal };
  onText: ((text: string) => void) | undefined;
  /** Sets the user turn as a plain chat prompt does (shared prefixes first), rendered with `functions`. */
  setUserTurn: (functions: ChatModelFunctions | undefined) => Promise<{ stop: string[]; prefilled: number }>;
}

/**
 * A chat prompt with function options: a user turn (or the results of the calls the last reply
 * waits for), then the reply. With `functionCall` `"required"` or `{ name }` the reply is a call:
 * the wrapper's call prefix (and the name, when it is known) goes in as prompt text, the model
 * picks the name under a grammar of the names when there are several, and writes the arguments
 * under the grammar of the function's `params` schema, so they always match it. With `"auto"`
 * the model answers, and when its text reaches the wrapper's call prefix, it goes on as a call.
 * The reply ends with the call (its result comes with the next prompt's `functionResults`).
 */
export async function functionTurn(context: FunctionTurnContext): Promise<GenerationResult> {
  const { slot, chat, wrapper, functions, options } = context;
  const mode = functions.functionCall;
  const offered = mode === "none" || Object.keys(functions.functions).length === 0 ? undefined : toNodeFunctions(functions);
  let stop: string[];
  let promptTokenCount = 0;
  if (functions.functionResults !== undefined) {
    const turn = chat.resultsTurn(functions.functionResults, slot.historyTokens(), offered);
    stop = turn.stop;
    setTurn(slot, turn);
  } else {
    const turn = await context.setUserTurn(offered);
    ({ stop } = turn);
    promptTokenCount += turn.prefilled;
  }
  const textOptions = { ...options, stop: [...(options.stop ?? []), ...stop] };
  const names = Object.keys(functions.functions);
  let forced: string | undefined;
  /** The reply's text before its call (with "auto"), and the tokens generated for it. */
  let before = { text: "", tokenCount: 0 };
  /**
   * The turn's first step reaches the slot like any prompt (aborted before it starts, the prompt
   * rejects with an AbortError and leaves the conversation as it was); a later step aborted
   * before it starts ends the reply as aborted with what it has.
   */
  let reached = false;
  const step = async (options: WireGenerateOptions & { signal: AbortSignal }, onText?: (text: string) => void) => {
    const done = reached ? await unlessAborted(generateTokens(slot, options, onText)) : await generateTokens(slot, options, onText);
    if (done !== undefined && !reached) {
      reached = true;
      chat.turnReached();
    }
    return done;
  };
  if (offered !== undefined && mode !== "auto") {
    forced = typeof mode === "object" ? mode.name : names.length === 1 ? names[0] : undefined;
  } else {
    // The model answers; the call prefix ends its text when it starts a call.
    const prefixes = offered === undefined ? [] : callPrefixes(wrapper);
    const reply = (await step({ ...textOptions, stop: [...textOptions.stop, ...prefixes] }, context.onText))!;
    promptTokenCount += reply.result.promptTokenCount;
    const called = reply.result.finishReason === "stop" && prefixes.includes(reply.result.stopString ?? "");
    if (!called) {
      chat.modelReplied(reply.result.text, reply.tokens);
      return { ...reply.result, promptTokenCount };
    }
    chat.modelReplied(reply.result.text, reply.tokens);
    before = { text: reply.result.text, tokenCount: reply.result.tokenCount };
  }
  // The call: its name, unless forced, then its arguments, each under a grammar of its own
  // (a jsonSchema or grammar option constrains the reply's text only).
  const { grammar: _grammar, jsonSchema: _jsonSchema, ...callOptions } = options;
  let name = forced;
  if (name === undefined) {
    setTurn(slot, chat.callTurn(undefined, slot.historyTokens()));
    const picked = await step({ ...callOptions, grammar: namesGrammar(names), maxTokens: 64, stop: [] });
    if (picked === undefined) return abandoned(chat, before, promptTokenCount);
    promptTokenCount += picked.result.promptTokenCount;
    if (picked.result.finishReason !== "endOfText" || !names.includes(picked.result.text)) {
      const text = chat.callUnfinished(picked.result.text);
      return { ...picked.result, ...after(before, text, picked.result.tokenCount), promptTokenCount };
    }
    name = picked.result.text;
  }
  const schema = functions.functions[name]?.params;
  setTurn(slot, chat.callTurn(name, slot.historyTokens()));
  if (schema === undefined) {
    // No arguments to write: the call is made as it stands (the wrapper's empty params).
    const placeholder = wrapper.settings.functions.call.emptyCallParamsPlaceholder;
    const rawArguments = placeholder === undefined || placeholder === "" ? "" : JSON.stringify(placeholder);
    chat.callMade(undefined, rawArguments, undefined);
    return {
      ...after(before, "", 0),
      promptTokenCount,
      finishReason: "functionCall",
      functionCalls: [{ name, arguments: undefined, rawArguments: "{}" }],
    };
  }
  const args = await step({ ...callOptions, jsonSchema: schema, stop: [] });
  if (args === undefined) return abandoned(chat, before, promptTokenCount);
  promptTokenCount += args.result.promptTokenCount;
  const parsed = args.result.finishReason === "endOfText" ? parseJson(args.result.text) : undefined;
  if (parsed === undefined) {
    // Cut short (maxTokens, an abort): the reply is the call's text so far, and nothing waits for a result.
    const text = chat.callUnfinished(args.result.text);
    return { ...args.result, ...after(before, text, args.result.tokenCount), promptTokenCount };
  }
  chat.callMade(parsed.value, args.result.text, args.tokens);
  return {
    ...after(before, "", args.result.tokenCount),
    promptTokenCount,
    finishReason: "functionCall",
    functionCalls: [{ name, arguments: parsed.value, rawArguments: args.result.text }],
  };
}

/**
 * A later step of the reply whose signal fired before it started (it rejects with an AbortError,
 * its prompt unsent): undefined, and the reply ends as aborted with what it has.
 */
async function unlessAborted<T>(step: Promise<T>): Promise<T | undefined> {
  try {
    return await step;
  } catch (error) {
    if (error instanceof Error && error.name === "AbortError") return undefined;
    throw error;
  }
}

/** The reply aborted between two steps: the call it was starting is forgotten, its text kept. */
function abandoned(chat: ChatSession, before: { text: string; tokenCount: number }, promptTokenCount: number): GenerationResult {
  chat.abandonTurn();
  return { ...before, promptTokenCount, finishReason: "aborted" };
}

/** The reply's text and generated tokens: its text before the call, then `text` and `tokenCount` more. */
function after(before: { text: string; tokenCount: number }, text: string, tokenCount: number): { text: string; tokenCount: number } {
  return { text: before.text + text, tokenCount: before.tokenCount + tokenCount };
}

function setTurn(slot: SlotHandle, turn: ChatTurn): void {
  slot.setPromptTokens(turn.tokens, { keep: turn.keep, ...(turn.erase === undefined ? {} : { erase: turn.erase }) });
}

/** Generates after the slot's prompt; also returns the reply's tokens as the slot holds them. */
async function generateTokens(
  slot: SlotHandle,
  options: WireGenerateOptions & { signal: AbortSignal },
  onText: ((text: string) => void) | undefined,
): Promise<{ result: GenerationResult; tokens: Token[] }> {
  const result = await slot.generate(options, onText);
  const history = slot.historyTokens();
  return { result, tokens: history.slice(history.length - result.tokenCount) };
}

/** The texts that start a call in the wrapper's syntax: its prefix and the alternates it lists, without their leading or trailing space. */
function callPrefixes(wrapper: ChatWrapper): string[] {
  const { prefix, prefixAlternateMatches = [] } = wrapper.settings.functions.call;
  const texts = [prefix, ...prefixAlternateMatches].map((value) => LlamaText(value).toString().trim());
  return [...new Set(texts.filter((text) => text.length > 0))];
}

/** A GBNF grammar of exactly the function names. */
function namesGrammar(names: readonly string[]): string {
  return `root ::= ${names.map((name) => JSON.stringify(name)).join(" | ")}`;
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function toNodeFunctions({ functions }: WireFunctionOptions): ChatModelFunctions {
  return Object.fromEntries(
    Object.entries(functions).map(([name, fn]) => [
      name,
      {
        ...(fn.description === undefined ? {} : { description: fn.description }),
        ...(fn.params === undefined ? {} : { params: fn.params }),
      },
    ]),
  );
}

/**
 * Schemas that compiled, per engine: an app gives the same functions at every turn, and
 * compiling a schema's grammar again each time would cost every prompt. The most recent are kept.
 */
const checkedSchemas = new WeakMap<Llama, LruMap<string, true>>();
const MAX_CHECKED_SCHEMAS = 64;

/**
 * Compiles the schemas of the functions the prompt may call, before anything changes: a schema
 * node-llama-cpp cannot turn into a grammar is refused here, the conversation untouched.
 */
export async function checkSchemas(llama: Llama, { functions, functionCall }: WireFunctionOptions): Promise<void> {
  if (functionCall === "none") return;
  let checked = checkedSchemas.get(llama);
  if (checked === undefined) checkedSchemas.set(llama, (checked = new LruMap()));
  const names = typeof functionCall === "object" ? [functionCall.name] : Object.keys(functions);
  for (const name of names) {
    const params = functions[name]?.params;
    if (params === undefined) continue;
    const key = JSON.stringify(params);
    if (checked.get(key) !== undefined) continue;
    try {
      await nodeModelOf(llama).llama.createGrammarForJsonSchema(params as never);
      checked.set(key, true);
      checked.trim(MAX_CHECKED_SCHEMAS);
    } catch (cause) {
      throw new FunctionSchemaError(
        `functions.${name}.params is not a schema node-llama-cpp can turn into a grammar (${cause instanceof Error ? cause.message : String(cause)}): ` +
          "use its JSON schema subset (type, properties, items, enum, const, oneOf, $defs/$ref; every property listed is required).",
        { cause },
      );
    }
  }
}
