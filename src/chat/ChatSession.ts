import { resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ContextShiftStrategy, TokenRange } from "../engine/index.js";
import { commonPrefix } from "../engine/tokenRuns.js";
import { systemRender } from "./systemRenders.js";

/** One user turn and the model's reply to it; `user` is gone once a shift erased its start. */
interface Exchange {
  user: string | undefined;
  reply: string;
}

/** How the session keeps a too long history out of a prompt; undefined when context shift is off. */
export interface ChatLimits {
  /** Tokens a slot can hold. */
  capacity: number;
  /** Tokens a shift frees at once. */
  shiftSize: number;
}

/**
 * A chat scope's conversation: a system prompt and exchanges, rendered with the model's chat
 * template (node-llama-cpp's chat wrappers; their general fallback for models without one).
 *
 * Each turn renders the whole history and keeps the longest prefix the slot already holds, so
 * the slot always holds the template's own tokens for the history (a reply the model spelled in
 * other tokens is re-evaluated from the first difference), and a scope started from the same
 * history holds the same tokens.
 *
 * When the slot is full, whole exchanges go, oldest first; the system prompt never does. What is
 * erased is the difference between the render with and without them, so what stays is the
 * template's render of the shorter history (for templates that put the system prompt inside the
 * first user turn too) and the next turn re-evaluates nothing.
 */
export class ChatSession {
  private readonly wrapper: ChatWrapper;
  private readonly system: string | undefined;
  private exchanges: Exchange[];
  /** The exchanges before the turn in progress, to put back if it is refused. */
  private beforeTurn: Exchange[] | undefined;
  /** The slot's tokens up to the reply in progress: the turn's render, less what shifts erased. */
  private rendered: Token[] = [];

  constructor(
    private readonly model: LlamaModel,
    history: readonly ChatHistoryItem[],
    private readonly limits: ChatLimits | undefined,
  ) {
    this.wrapper = resolveChatWrapper(model);
    const first = history[0];
    // Histories reach here checked by isChatItem: a system prompt is text.
    this.system = first?.type === "system" ? (first.text as string) : undefined;
    this.exchanges = toExchanges(this.system === undefined ? history : history.slice(1));
  }

  /** Characters of the system prompt, which every render of the history carries. */
  get systemPromptLength(): number {
    return this.system?.length ?? 0;
  }

  /**
   * The prompt of a user turn: keep the first `keep` tokens of the slot's history, append
   * `tokens`; `stop` holds the template's text stop triggers.
   */
  userTurn(text: string, slotTokens: readonly Token[]): { tokens: Token[]; keep: number; stop: string[] } {
    this.beforeTurn = this.exchanges.map((exchange) => ({ ...exchange }));
    this.exchanges.push({ user: text, reply: "" });
    let { tokens: target, stop } = this.renderTurn();
    let keep = commonPrefix(slotTokens, target);
    // A history that was never evaluated here (a scope started from one) may not fit: leave out
    // its oldest exchanges, as a shift would have.
    while (this.limits !== undefined && this.exchanges.length > 1 && target.length - keep >= this.limits.capacity - this.limits.shiftSize) {
      this.exchanges.shift();
      ({ tokens: target, stop } = this.renderTurn());
      keep = commonPrefix(slotTokens, target);
    }
    this.rendered = target;
    return { tokens: target.slice(keep), keep, stop };
  }

  /**
   * Where the last {@link userTurn}'s render starts the way other scopes' renders do, whatever
   * their next user turn says: the tokens it has in common from the start with the render of the
   * system prompt alone, and with the render of the whole history before the turn (the same
   * system prompt; the same template conversation). Increasing token counts, each cut once.
   * Costs one or two renders.
   */
  sharedPrefixes(): number[] {
    const cuts = [commonPrefix(this.render(this.itemsOf(this.exchanges.slice(0, -1))), this.rendered)];
    if (this.system !== undefined && this.exchanges.length > 1) cuts.unshift(commonPrefix(this.render(this.itemsOf([])), this.rendered));
    return cuts.filter((cut, i) => cut > (cuts[i - 1] ?? 0));
  }

  /** Records the reply the slot now holds. */
  modelReplied(reply: string): void {
    this.beforeTurn = undefined;
    const last = this.exchanges.at(-1);
    if (last !== undefined) last.reply = reply;
  }

  /** The turn's prompt never reached the slot (it was refused or aborted): forget it. */
  abandonTurn(): void {
    if (this.beforeTurn !== undefined) this.exchanges = this.beforeTurn;
    this.beforeTurn = undefined;
  }

  /** The history as the slot holds it now: the system prompt, then user and model items. */
  items(): ChatHistoryItem[] {
    return this.itemsOf(this.exchanges);
  }

  /**
   * Erases whole exchanges, oldest first, never the one in progress nor the system prompt. When
   * only the exchange in progress is left, its beginning goes (and its user turn with it).
   */
  readonly contextShift: ContextShiftStrategy = ({ tokens, size }) => {
    const current = this.exchanges.length - 1;
    let range: TokenRange | undefined;
    let count = 0;
    while (count < current && (range === undefined || range.end - range.start < size))
      range = difference(this.rendered, this.render(this.itemsOf(this.exchanges.slice(++count))));
    if (range !== undefined) this.exchanges.splice(0, count);
    else {
      // Only the exchange in progress is left: its beginning goes, after the system prompt.
      const head = Math.max(1, commonPrefix(this.render(this.itemsOf([])), this.rendered));
      const inProgress = this.exchanges[current];
      if (inProgress === undefined || head >= tokens.length) return []; // nothing but the system prompt is evaluated
      range = { start: head, end: Math.min(tokens.length, head + size) };
      inProgress.user = undefined;
    }
    this.rendered = [...this.rendered.slice(0, range.start), ...this.rendered.slice(range.end)];
    return [range];
  };

  private itemsOf(exchanges: readonly Exchange[]): ChatHistoryItem[] {
    const items: ChatHistoryItem[] = this.system === undefined ? [] : [{ type: "system", text: this.system }];
    for (const { user, reply } of exchanges) {
      if (user !== undefined) items.push({ type: "user", text: user });
      items.push({ type: "model", response: [reply] });
    }
    return items;
  }

  private renderTurn(): { tokens: Token[]; stop: string[] } {
    const { contextText, stopGenerationTriggers } = this.wrapper.generateContextState({ chatHistory: this.items() });
    // Special-token triggers (end of turn) arrive as end-of-generation tokens; only text ones are stop strings.
    const stop = stopGenerationTriggers
      .filter((trigger) => trigger.values.every((value) => typeof value === "string"))
      .map((trigger) => trigger.toString())
      .filter((trigger) => trigger.length > 0);
    return { tokens: contextText.tokenize(this.model.tokenizer), stop };
  }

  private render(items: ChatHistoryItem[]): readonly Token[] {
    const renderNow = () => this.wrapper.generateContextState({ chatHistory: items }).contextText.tokenize(this.model.tokenizer);
    // The system prompt alone is the same render for every scope that has it.
    const alone = items.length === 1 && items[0]!.type === "system" && this.system !== undefined;
    return alone ? systemRender(this.model, this.system!, renderNow) : renderNow();
  }
}

/**
 * The one range to erase from `full` to leave `short` (or as close to it as one range gets): the
 * tokens between their common prefix and their common suffix. Never index 0.
 */
function difference(full: readonly Token[], short: readonly Token[]): TokenRange {
  const start = Math.max(1, commonPrefix(full, short));
  let suffix = 0;
  while (suffix < short.length - start && suffix < full.length - start && full[full.length - 1 - suffix] === short[short.length - 1 - suffix]) suffix++;
  return { start, end: Math.max(start, full.length - suffix) };
}

/** Groups history items (after the system prompt) into exchanges. */
function toExchanges(items: readonly ChatHistoryItem[]): Exchange[] {
  const exchanges: Exchange[] = [];
  for (const item of items) {
    if (item.type === "user") exchanges.push({ user: item.text, reply: "" });
    else if (item.type === "model") {
      const last = exchanges.at(-1);
      const reply = item.response.filter((part) => typeof part === "string").join("");
      if (last !== undefined && last.reply === "" && last.user !== undefined) last.reply = reply;
      else exchanges.push({ user: undefined, reply });
    }
  }
  return exchanges;
}
