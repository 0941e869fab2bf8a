import { resolveChatWrapper, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ContextShiftStrategy, TokenRange } from "../../engine/index.js";
import { commonPrefix, suffixPrefixOverlap } from "../../shared/tokenRuns.js";
import { ContextOverflowError } from "../../shared/errors/index.js";
import type { ChatHistoryItem } from "../../shared/ChatHistoryItem.js";
import { renderChat, type ChatRender, type RenderItem } from "./renderChat.js";
import { systemRender } from "./systemRenders.js";

/** One user turn and the model's reply to it; `user` is gone once a shift erased its start. */
interface Exchange {
  user: string | undefined;
  reply: string;
  /** The reply's tokens as the slot holds them (as generated); undefined: its text is tokenized. */
  replyTokens: readonly Token[] | undefined;
}

/** How the session keeps a too long history out of a prompt; undefined when context shift is off. */
export interface ChatLimits {
  /** Tokens a slot can hold. */
  capacity: number;
  /** Tokens a shift frees at once. */
  shiftSize: number;
}

/** The prompt of a user turn, for `setPromptTokens(tokens, { keep, erase })`. */
export interface ChatTurn {
  /** What to append. */
  tokens: Token[];
  /** Tokens of the slot's history to keep (after `erase`). */
  keep: number;
  /** The oldest exchanges, when they leave the slot to make room for the turn. */
  erase: TokenRange | undefined;
  /** The template's text stop triggers. */
  stop: string[];
}

/**
 * A chat scope's conversation: a system prompt and exchanges, rendered with the model's chat
 * template (node-llama-cpp's chat wrappers; their general fallback for models without one).
 *
 * Each turn renders the whole history as the slot holds it (see {@link renderChat}: replies are
 * the tokens the model generated) and keeps the longest prefix the slot already has, so a turn
 * evaluates only its own tokens, and a scope started from the same history holds the same tokens.
 *
 * A turn that does not fit beside the history takes the place of the oldest exchanges, and the
 * system prompt never goes: that is decided before anything changes, so a turn that cannot fit
 * even beside the system prompt alone is refused and leaves the conversation as it was. The
 * exchanges that stay keep their cells (the range of the ones that go is erased, as a context
 * shift erases). A reply that fills the slot while it is generated erases whole exchanges too,
 * oldest first ({@link contextShift}).
 */
export class ChatSession {
  private readonly wrapper: ChatWrapper;
  private readonly system: string | undefined;
  private exchanges: Exchange[];
  /** The exchanges before the turn in progress, to put back if it is refused. */
  private beforeTurn: Exchange[] | undefined;
  /** The slot's tokens up to the reply in progress: the turn's render, less what shifts erased. */
  private rendered: Token[] = [];
  /** A shift erased the start of the exchange in progress: the slot no longer holds it as rendered. */
  private turnCut = false;

  constructor(
    private readonly model: LlamaModel,
    history: readonly ChatHistoryItem[],
    private readonly limits: ChatLimits | undefined,
  ) {
    this.wrapper = resolveChatWrapper(model);
    const first = history[0];
    // Histories reach here checked by isChatItem: a system prompt is text.
    this.system = first?.type === "system" ? (first.text as string) : undefined;
    this.exchanges = toExchanges(this.system === undefined ? history : history.slice(1), (tokens, text) => this.spells(tokens, text));
  }

  /** Characters of the system prompt, which every render of the history carries. */
  get systemPromptLength(): number {
    return this.system?.length ?? 0;
  }

  /**
   * The prompt of a user turn, given the slot's tokens now. When the history and the turn do not
   * fit, the oldest exchanges leave the history (enough to leave a shift's worth of room for the
   * reply, when the history has that much).
   * @throws {ContextOverflowError} when the turn does not fit beside the system prompt; the
   * session is unchanged.
   */
  userTurn(text: string, slotTokens: readonly Token[]): ChatTurn {
    const turn: Exchange = { user: text, reply: "", replyTokens: undefined };
    const { dropped, render } = this.fit(turn);
    const target = render.tokens;
    let keep = commonPrefix(slotTokens, target);
    let erase: TokenRange | undefined;
    if (dropped > 0 && keep > 0) {
      // The exchanges that stay are the end of what the slot holds: erase what lies between the
      // kept start and them, and they keep their cells. (With none left, the erased range is the
      // slot's end.) Reported as a context shift either way.
      const overlap = suffixPrefixOverlap(slotTokens.slice(keep), target.slice(keep));
      if (slotTokens.length - overlap > keep) erase = { start: keep, end: slotTokens.length - overlap };
      keep += overlap;
    }
    this.beforeTurn = this.exchanges;
    this.exchanges = [...this.exchanges.slice(dropped), turn];
    this.rendered = target;
    this.turnCut = false;
    return { tokens: target.slice(keep), keep, erase, stop: render.stop };
  }

  /**
   * Where the last {@link userTurn}'s render starts the way other scopes' renders do, whatever
   * their next user turn says: the tokens it has in common from the start with the render of the
   * system prompt alone, and with the render of the whole history before the turn (the same
   * system prompt; the same template conversation). Increasing token counts, each cut once.
   * Costs one or two renders.
   */
  sharedPrefixes(): number[] {
    const cuts = [commonPrefix(this.render(this.exchanges.slice(0, -1)).tokens, this.rendered)];
    if (this.system !== undefined && this.exchanges.length > 1) cuts.unshift(commonPrefix(this.systemAlone(), this.rendered));
    return cuts.filter((cut, i) => cut > (cuts[i - 1] ?? 0));
  }

  /**
   * Tokens the last {@link userTurn}'s render has in common from the start with the render of the
   * system prompt alone (the shortest of {@link sharedPrefixes}); 0 without a system prompt.
   */
  systemPrefix(): number {
    return this.system === undefined ? 0 : commonPrefix(this.systemAlone(), this.rendered);
  }

  /** Records the reply the slot now holds: its text, and its tokens as the slot holds them. */
  modelReplied(reply: string, tokens: readonly Token[] | undefined): void {
    this.beforeTurn = undefined;
    const last = this.exchanges.at(-1);
    if (last !== undefined) {
      last.reply = reply;
      last.replyTokens = this.turnCut ? undefined : tokens;
    }
    this.turnCut = false;
  }

  /**
   * Readies the session for a reply to its last user turn in another call than the turn's (a
   * scope, or a fork of one, whose turn was evaluated without a reply: see `generateChoices`):
   * `slotTokens`, what the slot holds now, are the turn's render, which a shift during the reply
   * erases from. Returns the template's stop triggers. Costs one render.
   */
  resumeTurn(slotTokens: readonly Token[]): string[] {
    this.rendered = [...slotTokens];
    this.turnCut = false;
    return this.render(this.exchanges).stop;
  }

  /** The turn's prompt never reached the slot (it was refused or aborted): forget it. */
  abandonTurn(): void {
    if (this.beforeTurn !== undefined) this.exchanges = this.beforeTurn;
    this.beforeTurn = undefined;
  }

  /**
   * The history as the slot holds it now: the system prompt, then user and model items; a model
   * item carries its reply's tokens when the slot holds them.
   */
  items(): ChatHistoryItem[] {
    const items: ChatHistoryItem[] = this.system === undefined ? [] : [{ type: "system", text: this.system }];
    for (const { user, reply, replyTokens } of this.exchanges) {
      if (user !== undefined) items.push({ type: "user", text: user });
      items.push(
        replyTokens === undefined ? { type: "model", response: [reply] } : { type: "model", response: [reply], tokens: [...replyTokens] },
      );
    }
    return items;
  }

  /**
   * For a reply that fills the slot while it is generated: erases whole exchanges, oldest first,
   * never the one in progress nor the system prompt. When only the exchange in progress is left,
   * its beginning goes (and its user turn with it).
   */
  readonly contextShift: ContextShiftStrategy = ({ tokens, size }) => {
    const current = this.exchanges.length - 1;
    let range: TokenRange | undefined;
    let count = 0;
    while (count < current && (range === undefined || range.end - range.start < size))
      range = difference(this.rendered, this.render(this.exchanges.slice(++count)).tokens);
    if (range !== undefined) this.exchanges.splice(0, count);
    else {
      // Only the exchange in progress is left: its beginning goes, after the system prompt.
      const head = Math.max(1, commonPrefix(this.systemAlone(), this.rendered));
      const inProgress = this.exchanges[current];
      if (inProgress === undefined || head >= tokens.length) return []; // nothing but the system prompt is evaluated
      range = { start: head, end: Math.min(tokens.length, head + size) };
      inProgress.user = undefined;
      this.turnCut = true;
    }
    this.rendered = [...this.rendered.slice(0, range.start), ...this.rendered.slice(range.end)];
    return [range];
  };

  /**
   * The fewest oldest exchanges to leave out so that the history and `turn` fit, with a shift's
   * worth of room for the reply when leaving out more allows it, and the render without them.
   * Renders O(log k) times, each of at most the k exchanges kept (about a slot's worth), however
   * long the history: keeping more exchanges never makes the render shorter.
   */
  private fit(turn: Exchange): { dropped: number; render: ChatRender } {
    const all = this.exchanges.length;
    const renders = new Map<number, ChatRender>();
    const keeping = (kept: number): ChatRender => {
      let render = renders.get(kept);
      if (render === undefined) renders.set(kept, (render = this.render([...this.exchanges.slice(all - kept), turn])));
      return render;
    };
    const { limits } = this;
    if (limits === undefined) return { dropped: 0, render: keeping(all) };
    // The engine takes a prompt of at most capacity - 1 tokens (one cell stays for the reply).
    // Every exchange takes a token at least: more of them than that cannot all fit, unrendered.
    if (all < limits.capacity && keeping(all).tokens.length < limits.capacity) return { dropped: 0, render: keeping(all) };
    const alone = keeping(0);
    if (alone.tokens.length >= limits.capacity)
      throw new ContextOverflowError(
        `This message takes ${alone.tokens.length - this.systemAlone().length} tokens in the chat template and the system prompt ` +
          `${this.systemAlone().length}, and a conversation holds at most ${limits.capacity - 1} of them with room for a reply: ` +
          `shorten the message or the system prompt, or load with a larger contextSize. The conversation is unchanged.`,
      );
    const roomy = (kept: number) => keeping(kept).tokens.length <= limits.capacity - limits.shiftSize;
    if (!roomy(0)) return { dropped: all, render: alone };
    // The most exchanges that leave room (all of them do not): gallop up from none, then halve.
    let good = 0;
    let bad = all;
    for (let step = 1; good + step < bad; step *= 2) {
      if (!roomy(good + step)) {
        bad = good + step;
        break;
      }
      good += step;
    }
    while (bad - good > 1) {
      const mid = (good + bad) >> 1;
      if (roomy(mid)) good = mid;
      else bad = mid;
    }
    return { dropped: all - good, render: keeping(good) };
  }

  private render(exchanges: readonly Exchange[]): ChatRender {
    const items: RenderItem[] = this.system === undefined ? [] : [{ type: "system", text: this.system }];
    for (const { user, reply, replyTokens } of exchanges) {
      if (user !== undefined) items.push({ type: "user", text: user });
      items.push({ type: "model", text: reply, tokens: replyTokens });
    }
    return renderChat(this.wrapper, this.model, items);
  }

  /** The render of the system prompt alone, the same for every scope that has it (cached per model). */
  private systemAlone(): readonly Token[] {
    const renderNow = () => this.render([]).tokens;
    return this.system === undefined ? renderNow() : systemRender(this.model, this.system, renderNow);
  }

  /**
   * Whether a history's reply tokens spell its text: only then are they what the slot holds for
   * it (tokens of another model, or of an edited reply, are left out and the text is tokenized).
   * A leading space and an unfinished last character (a reply cut at `maxTokens`) are let pass.
   */
  private spells(tokens: readonly Token[], text: string): boolean {
    const vocabulary = this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Infinity;
    if (!tokens.every((token) => token < vocabulary)) return false;
    const spelled = this.model.detokenize([...tokens], false).replace(/\uFFFD+$/, "");
    const trim = (value: string) => (value.startsWith(" ") ? value.slice(1) : value);
    return trim(spelled) === trim(text);
  }
}

/**
 * The one range to erase from `full` to leave `short` (or as close to it as one range gets): the
 * tokens between their common prefix and their common suffix. Never index 0.
 */
function difference(full: readonly Token[], short: readonly Token[]): TokenRange {
  const start = Math.max(1, commonPrefix(full, short));
  let suffix = 0;
  while (
    suffix < short.length - start &&
    suffix < full.length - start &&
    full[full.length - 1 - suffix] === short[short.length - 1 - suffix]
  )
    suffix++;
  return { start, end: Math.max(start, full.length - suffix) };
}

/** Groups history items (after the system prompt) into exchanges; reply tokens that do not spell their reply are left out. */
function toExchanges(items: readonly ChatHistoryItem[], spells: (tokens: readonly Token[], text: string) => boolean): Exchange[] {
  const exchanges: Exchange[] = [];
  for (const item of items) {
    if (item.type === "user") exchanges.push({ user: item.text, reply: "", replyTokens: undefined });
    else if (item.type === "model") {
      const reply = item.response.filter((part) => typeof part === "string").join("");
      const tokens = item.tokens as Token[] | undefined;
      const replyTokens = tokens !== undefined && spells(tokens, reply) ? [...tokens] : undefined;
      const last = exchanges.at(-1);
      if (last !== undefined && last.reply === "" && last.replyTokens === undefined && last.user !== undefined) {
        last.reply = reply;
        last.replyTokens = replyTokens;
      } else exchanges.push({ user: undefined, reply, replyTokens });
    }
  }
  return exchanges;
}
