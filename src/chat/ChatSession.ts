import { resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ContextShiftStrategy, TokenRange } from "../engine/index.js";

/** One user turn and the model's reply to it; `user` is gone once a shift erased its start. */
interface Exchange {
  user: string | undefined;
  reply: string;
  /** Index in the slot's history where the exchange's tokens begin. */
  start: number;
}

/** What a chat scope saves with its state (`meta`), so it continues exactly wherever it is revived. */
export interface SavedChat {
  /** The history as `getChatHistory()` returns it. */
  chatTurns: ChatHistoryItem[];
  /** Where each exchange starts in the slot (see {@link Exchange.start}). */
  chatStarts: number[];
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
 * other tokens is re-evaluated from the first difference). A scope started from the same history
 * therefore holds the same tokens. When the slot is full, whole exchanges are erased, oldest
 * first; the system prompt never is.
 */
export class ChatSession {
  private readonly wrapper: ChatWrapper;
  private readonly system: string | undefined;
  private exchanges: Exchange[];
  /** The exchanges before the turn in progress, to put back if it is refused. */
  private beforeTurn: Exchange[] | undefined;

  constructor(
    private readonly model: LlamaModel,
    history: readonly ChatHistoryItem[],
    private readonly limits: ChatLimits | undefined,
    starts?: readonly number[],
  ) {
    this.wrapper = resolveChatWrapper(model);
    const first = history[0];
    // Histories reach here checked by isChatItem: a system prompt is text.
    this.system = first?.type === "system" ? (first.text as string) : undefined;
    this.exchanges = toExchanges(this.system === undefined ? history : history.slice(1));
    // Without saved starts they are found at the first turn (0: not known yet).
    if (starts !== undefined && starts.length === this.exchanges.length) this.exchanges.forEach((exchange, i) => (exchange.start = starts[i]!));
  }

  /**
   * The prompt of a user turn: keep the first `keep` tokens of the slot's history, append
   * `tokens`; `stop` holds the template's text stop triggers.
   */
  userTurn(text: string, slotTokens: readonly Token[]): { tokens: Token[]; keep: number; stop: string[] } {
    this.beforeTurn = this.exchanges.map((exchange) => ({ ...exchange }));
    this.exchanges.push({ user: text, reply: "", start: 0 });
    let { tokens: target, stop } = this.renderTurn();
    let keep = commonPrefix(slotTokens, target);
    // A history that was never evaluated here (a scope started from one) may not fit: leave out
    // its oldest exchanges, as a shift would have.
    while (this.limits !== undefined && this.exchanges.length > 1 && target.length - keep >= this.limits.capacity - this.limits.shiftSize) {
      this.exchanges.shift();
      ({ tokens: target, stop } = this.renderTurn());
      keep = commonPrefix(slotTokens, target);
    }
    // Starts past `keep` (or not known yet) move with the re-rendered tail: find them again.
    if (this.exchanges.some((exchange, i) => i < this.exchanges.length - 1 && (exchange.start === 0 || exchange.start > keep))) this.locateExchanges(target);
    else this.exchanges.at(-1)!.start = this.startOf(this.exchanges.length - 1, target);
    return { tokens: target.slice(keep), keep, stop };
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
    const items: ChatHistoryItem[] = this.system === undefined ? [] : [{ type: "system", text: this.system }];
    for (const { user, reply } of this.exchanges) {
      if (user !== undefined) items.push({ type: "user", text: user });
      items.push({ type: "model", response: [reply] });
    }
    return items;
  }

  saved(): SavedChat {
    return { chatTurns: this.items(), chatStarts: this.exchanges.map((exchange) => exchange.start) };
  }

  /**
   * Erases whole exchanges, oldest first, never the one in progress nor the system prompt. When
   * only the exchange in progress is left, its beginning goes (and its user turn with it).
   */
  readonly contextShift: ContextShiftStrategy = ({ tokens, size }) => {
    const current = this.exchanges.length - 1;
    const freed = (count: number) => this.exchanges[count]!.start - this.exchanges[0]!.start;
    let count = 0;
    while (count < current && freed(count) < size) count++;
    let range: TokenRange;
    if (count > 0) {
      range = { start: this.exchanges[0]!.start, end: this.exchanges[count]!.start };
      this.exchanges.splice(0, count);
    } else {
      const head = this.exchanges[current];
      // Nothing but the system prompt and a prompt not yet evaluated: nothing may go.
      if (head === undefined || head.start >= tokens.length) return [];
      range = { start: head.start, end: Math.min(tokens.length, head.start + size) };
      head.user = undefined;
    }
    const erased = range.end - range.start;
    for (const exchange of this.exchanges) if (exchange.start >= range.end) exchange.start -= erased;
    return [range];
  };

  private renderTurn(): { tokens: Token[]; stop: string[] } {
    const { contextText, stopGenerationTriggers } = this.wrapper.generateContextState({ chatHistory: this.items() });
    // Special-token triggers (end of turn) arrive as end-of-generation tokens; only text ones are stop strings.
    const stop = stopGenerationTriggers
      .filter((trigger) => trigger.values.every((value) => typeof value === "string"))
      .map((trigger) => trigger.toString())
      .filter((trigger) => trigger.length > 0);
    return { tokens: contextText.tokenize(this.model.tokenizer), stop };
  }

  private render(items: ChatHistoryItem[]): Token[] {
    return this.wrapper.generateContextState({ chatHistory: items }).contextText.tokenize(this.model.tokenizer);
  }

  /** Where each exchange begins in `tokens` (the rendered history). */
  private locateExchanges(tokens: readonly Token[]): void {
    this.exchanges.forEach((exchange, i) => (exchange.start = this.startOf(i, tokens)));
  }

  /** Where exchange `index` begins in `tokens`: where the render of the history before it stops matching. */
  private startOf(index: number, tokens: readonly Token[]): number {
    const itemsBefore = (this.system === undefined ? 0 : 1) + this.exchanges.slice(0, index).reduce((n, e) => n + (e.user === undefined ? 1 : 2), 0);
    return Math.max(1, commonPrefix(this.render(this.items().slice(0, itemsBefore)), tokens));
  }
}

/** Groups history items (after the system prompt) into exchanges. */
function toExchanges(items: readonly ChatHistoryItem[]): Exchange[] {
  const exchanges: Exchange[] = [];
  for (const item of items) {
    if (item.type === "user") exchanges.push({ user: item.text, reply: "", start: 0 });
    else if (item.type === "model") {
      const last = exchanges.at(-1);
      const reply = item.response.filter((part) => typeof part === "string").join("");
      if (last !== undefined && last.reply === "" && last.user !== undefined) last.reply = reply;
      else exchanges.push({ user: undefined, reply, start: 0 });
    }
  }
  return exchanges;
}

function commonPrefix(a: readonly Token[], b: readonly Token[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
