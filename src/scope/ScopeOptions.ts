import type { ChatHistoryItem } from "../shared/ChatHistoryItem.js";
import type { ContextShiftOptions } from "../engine/index.js";
import { checkContextShift } from "../shared/ContextShift.js";
import { cloneProblem } from "../shared/plainData.js";
import { assertKnownKeys } from "../shared/validate.js";
import { InvalidArgumentError } from "../shared/errors/index.js";
import type { ScopeConfig, ScopeMode } from "../protocol/index.js";
import { isChatItem } from "../shared/chatItems.js";

/** Options of `LlamaParent.getScope`. */
export interface ScopeOptions {
  /**
   * `"completion"` (default) appends each prompt's text to the conversation as given, exactly as
   * the direct `Llama` API does: what the model sees is what you sent, and base models work.
   * `"chat"` renders each prompt as a user turn with the model's chat template (node-llama-cpp's
   * chat wrappers; their general fallback for models without one) and ends replies at the end of
   * the model's turn.
   */
  mode?: ScopeMode;
  /**
   * A conversation saved with `scope.saveState()`, in this process or another, to continue. It is
   * checked at once (`StateFormatError`, `StateMismatchError`) and restored at the first prompt.
   * A chat scope's state continues in chat mode, with its history, unless `mode` says otherwise.
   */
  state?: Uint8Array;
  /**
   * Chat scopes: a system prompt, rendered with the model's template before the first turn and
   * kept through every context shift.
   */
  systemPrompt?: string;
  /**
   * Chat scopes: a history to continue (`ChatHistoryItem`s: an optional system item first, then
   * user and model items, a model item's response of text and function calls), e.g. another
   * scope's `getChatHistory()` or node-llama-cpp's history. The last reply's last calls may wait
   * for their results (no `result`): give them with the first prompt's `functionResults`. It is evaluated with the first prompt; a history too long for the slot loses
   * its oldest exchanges.
   */
  history?: ChatHistoryItem[];
  /**
   * Chat scopes: whether the prefix cache may store this scope's `history` (as rendered before its
   * first turn) as a new entry, for later scopes started from the same history. Default true, for
   * a template conversation many scopes start from. `false` for a history only this scope will
   * have (one client's conversation): an entry for it would never be used again. Either way a
   * stored entry for it is loaded, and the system prompt is stored as ever.
   */
  cacheHistory?: boolean;
  /**
   * This scope's context shift, replacing the load option's: `false` (a full slot refuses the
   * prompt with `ContextOverflowError`) or `{ size? }`.
   */
  contextShift?: ContextShiftOptions | false;
}

const OPTION_NAMES = ["mode", "state", "systemPrompt", "history", "cacheHistory", "contextShift"];

/**
 * Checks scope options in the caller's thread and says how the worker is to run the scope.
 * `saved` is what a `state` brought: its mode and chat history.
 */
export function resolveScopeOptions(
  options: ScopeOptions | undefined,
  saved: { mode: ScopeMode; chatHistory?: ChatHistoryItem[] } | undefined,
): ScopeConfig {
  if (options === undefined) options = {};
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError('Scope options must be an object, e.g. { mode: "chat" }.');
  assertKnownKeys(options, OPTION_NAMES, "getScope option", "getScope options");
  const mode = options.mode ?? saved?.mode ?? "completion";
  if (mode !== "chat" && mode !== "completion") throw new InvalidArgumentError(`mode must be "chat" or "completion", not ${String(mode)}.`);
  const { systemPrompt, history } = options;
  if ((systemPrompt !== undefined || history !== undefined) && mode !== "chat")
    throw new InvalidArgumentError('systemPrompt and history belong to chat scopes: getScope({ mode: "chat", systemPrompt, history }).');
  if ((systemPrompt !== undefined || history !== undefined) && options.state !== undefined)
    throw new InvalidArgumentError("A scope revived from a state continues the history saved in it: leave out systemPrompt and history.");
  if (systemPrompt !== undefined && typeof systemPrompt !== "string") throw new InvalidArgumentError("systemPrompt must be a string.");
  const chatHistory = checkHistory(history);
  if (systemPrompt !== undefined && chatHistory[0]?.type === "system")
    throw new InvalidArgumentError("Give the system prompt once: either systemPrompt or a system item first in history.");
  if (options.cacheHistory !== undefined && typeof options.cacheHistory !== "boolean")
    throw new InvalidArgumentError(`cacheHistory must be true or false, not ${String(options.cacheHistory)}.`);
  if (options.cacheHistory !== undefined && mode !== "chat")
    throw new InvalidArgumentError('cacheHistory belongs to chat scopes: getScope({ mode: "chat", history, cacheHistory }).');
  const contextShift = options.contextShift === undefined ? undefined : checkContextShift(options.contextShift, "load");
  const config: ScopeConfig = { mode };
  if (contextShift !== undefined) config.contextShift = contextShift;
  if (options.cacheHistory === false) config.cacheHistory = false;
  if (mode === "chat") {
    if (saved?.chatHistory !== undefined) config.chatHistory = saved.chatHistory;
    else config.chatHistory = systemPrompt === undefined ? chatHistory : [{ type: "system", text: systemPrompt }, ...chatHistory];
  }
  return config;
}

function checkHistory(history: unknown): ChatHistoryItem[] {
  if (history === undefined) return [];
  if (!Array.isArray(history) || !history.every((item, i) => isChatItem(item, i)))
    throw new InvalidArgumentError(
      'history must be an array of chat items: an optional { type: "system", text } first, then { type: "user", text } and ' +
        '{ type: "model", response } items, a response of text and { type: "functionCall", name, params, result } calls (as getChatHistory() returns them).',
    );
  const uncloneable = cloneProblem(history, "history");
  if (uncloneable !== undefined)
    throw new InvalidArgumentError(`history is copied to the engine, so it must be plain data, but ${uncloneable}. Pass plain objects.`);
  return structuredClone(history);
}
