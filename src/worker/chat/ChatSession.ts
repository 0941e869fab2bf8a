// Over 350 lines as one idea: a chat scope's conversation, every turn of which (user turns, function calls, their results) is planned against one render of it.
import { LlamaText, resolveChatWrapper, type ChatModelFunctions, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ContextShiftStrategy, TokenRange } from "../../engine/index.js";
import { commonPrefix, suffixPrefixOverlap } from "../../shared/tokenRuns.js";
import { ContextOverflowError, FunctionResultsError, UnknownFunctionError } from "../../shared/errors/index.js";
import type { ChatHistoryItem } from "../../shared/ChatHistoryItem.js";
import type { FunctionResult } from "../../protocol/index.js";
import { renderChat, type ChatRender, type RenderCut, type RenderItem, type RenderPart } from "./renderChat.js";
import { callTextOf } from "./callText.js";
import { copyExchange, modelItem, toExchanges, type Exchange } from "./exchanges.js";
import { systemRender } from "./systemRenders.js";

/** What a refused or failed turn puts back. */
interface Snapshot {
  exchanges: Exchange[];
  functions: ChatModelFunctions | undefined;
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
  /** The model's chat wrapper: its template, and its function-call syntax. */
  readonly wrapper: ChatWrapper;
  private readonly system: string | undefined;
  private exchanges: Exchange[];
  /** The conversation before the turn in progress, to put back if it is refused. */
  private beforeTurn: Snapshot | undefined;
  /** The functions the last turn's render documents (the template puts them in the system text). */
  private functions: ChatModelFunctions | undefined;
  /** Where the render of the exchange in progress ends, while its reply goes on after a call or a result. */
  private cut: RenderCut | undefined;
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
    this.exchanges = toExchanges(this.system === undefined ? history : history.slice(1), {
      text: (tokens, text) => this.spells(tokens, text),
      params: (tokens, params) => this.spellsParams(tokens, params),
    });
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
  userTurn(text: string, slotTokens: readonly Token[], functions?: ChatModelFunctions): ChatTurn {
    const waiting = this.waitingCalls();
    if (waiting.length > 0)
      throw new FunctionResultsError(
        `The last reply called ${waiting.map((call) => call.name).join(", ")} and waits for the result: ` +
          'send it with functionResults (prompt text "") before the next message.',
      );
    const before: Snapshot = { exchanges: this.exchanges, functions: this.functions };
    this.functions = functions;
    this.cut = undefined;
    const turn: Exchange = { user: text, parts: [] };
    let fitted: { dropped: number; render: ChatRender };
    try {
      fitted = this.fit(turn);
    } catch (error) {
      this.functions = before.functions;
      throw error;
    }
    const { dropped, render } = fitted;
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
    this.beforeTurn = before;
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
    const cuts = [commonPrefix(this.render(this.exchanges.slice(0, -1), undefined).tokens, this.rendered)];
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
      last.parts.push({ kind: "text", text: reply, tokens: this.turnCut ? undefined : tokens });
      if (this.turnCut) for (const part of last.parts) part.tokens = undefined;
    }
    this.turnCut = false;
    this.cut = undefined;
  }

  /** The turn's first step reached the slot: a failure after it keeps the turn (see {@link abandonTurn}). */
  turnReached(): void {
    this.beforeTurn = undefined;
  }

  /**
   * The prompt that starts a function call in the reply in progress (after the text it has so
   * far): the wrapper's call prefix, and with `name` the name and the params prefix, so that the
   * model writes the name (without one) or the arguments next.
   */
  callTurn(name: string | undefined, slotTokens: readonly Token[]): ChatTurn {
    const last = this.exchanges.at(-1)!;
    const open = last.parts.at(-1);
    if (open?.kind === "call" && open.tokens === undefined && open.rawCall === undefined && this.cut !== undefined) open.name = name ?? "";
    else last.parts.push({ kind: "call", name: name ?? "", params: undefined, result: undefined, rawCall: undefined, tokens: undefined });
    this.cut = name === undefined ? "name" : "arguments";
    return this.continuation(slotTokens);
  }

  /** Records the arguments the slot now holds after {@link callTurn}: the call waits for its result. */
  callMade(params: unknown, rawArguments: string, tokens: readonly Token[] | undefined): void {
    this.beforeTurn = undefined;
    const call = this.exchanges.at(-1)?.parts.at(-1);
    if (call?.kind !== "call") return;
    call.params = params;
    call.tokens = tokens;
    // A shift erased the exchange's start: the slot no longer holds its parts as rendered.
    if (this.turnCut) for (const part of this.exchanges.at(-1)!.parts) part.tokens = undefined;
    call.rawCall = callTextOf(this.wrapper, call.name, rawArguments).toJSON();
    this.cut = undefined;
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
    return this.render(this.exchanges, undefined).stop;
  }

  /**
   * A call whose name or arguments did not end (the reply was cut or aborted): it stays in the
   * reply as the text the slot holds for it, so nothing waits for a result. Returns that text.
   */
  callUnfinished(written: string): string {
    this.beforeTurn = undefined;
    const last = this.exchanges.at(-1);
    const call = last?.parts.at(-1);
    if (last === undefined || call?.kind !== "call") return "";
    const text =
      this.cut === "name"
        ? LlamaText(this.wrapper.settings.functions.call.prefix).toString() + written
        : callTextOf(this.wrapper, call.name, written, false).toString();
    last.parts[last.parts.length - 1] = { kind: "text", text, tokens: undefined };
    this.cut = undefined;
    this.turnCut = false;
    return text;
  }

  /**
   * The prompt that gives the results of the calls the last reply waits for: the template's
   * function-result text after them, after which the model goes on with its reply.
   * @throws {FunctionResultsError} when no call waits, or not as many; the session is unchanged.
   * @throws {UnknownFunctionError} when a result names another function than its call.
   */
  resultsTurn(results: readonly FunctionResult[], slotTokens: readonly Token[], functions?: ChatModelFunctions): ChatTurn {
    const waiting = this.waitingCalls();
    if (waiting.length === 0)
      throw new FunctionResultsError(
        "functionResults answer no call: the conversation's last reply called no function that waits for its result. Send a message instead.",
      );
    if (waiting.length !== results.length)
      throw new FunctionResultsError(
        `The last reply called ${waiting.length} function(s) (${waiting.map((call) => call.name).join(", ")}) and ${results.length} result(s) came: send one per call, in order.`,
      );
    results.forEach((result, i) => {
      if (result.name !== waiting[i]!.name)
        throw new UnknownFunctionError(
          `functionResults[${i}] is for ${JSON.stringify(result.name)}, but the call it answers is ${JSON.stringify(waiting[i]!.name)}: give the results in the calls' order.`,
        );
    });
    this.beforeTurn = { exchanges: this.exchanges.map(copyExchange), functions: this.functions };
    results.forEach((result, i) => (waiting[i]!.result = result.result));
    this.functions = functions;
    this.cut = "end";
    return this.continuation(slotTokens);
  }

  /**
   * The turn's prompt never reached the slot (it was refused or aborted), or the turn failed:
   * forget it. Once the reply has text, only the call it was starting is forgotten.
   */
  abandonTurn(): void {
    if (this.beforeTurn !== undefined) ({ exchanges: this.exchanges, functions: this.functions } = this.beforeTurn);
    else {
      // The reply has its text already; a call it started, whose prompt never ran, goes.
      const parts = this.exchanges.at(-1)?.parts;
      const open = parts?.at(-1);
      if (this.cut !== undefined && this.cut !== "end" && open?.kind === "call" && open.rawCall === undefined) parts!.pop();
    }
    this.beforeTurn = undefined;
    this.cut = undefined;
    this.turnCut = false;
  }

  /** The calls at the end of the last reply that wait for their results. */
  private waitingCalls(): Array<RenderPart & { kind: "call" }> {
    const parts = this.exchanges.at(-1)?.parts ?? [];
    const waiting: Array<RenderPart & { kind: "call" }> = [];
    for (let i = parts.length - 1; i >= 0; i--) {
      const part = parts[i]!;
      if (part.kind !== "call" || part.result !== undefined) break;
      waiting.unshift(part);
    }
    return waiting;
  }

  /** A prompt that goes on with the exchange in progress: its render up to {@link cut}, less what the slot holds. */
  private continuation(slotTokens: readonly Token[]): ChatTurn {
    const render = this.render(this.exchanges, this.cut);
    const keep = commonPrefix(slotTokens, render.tokens);
    this.rendered = render.tokens;
    this.turnCut = false;
    return { tokens: render.tokens.slice(keep), keep, erase: undefined, stop: render.stop };
  }

  /**
   * The history as the slot holds it now: the system prompt, then user and model items; a model
   * item carries its reply's tokens when the slot holds them.
   */
  items(): ChatHistoryItem[] {
    const items: ChatHistoryItem[] = this.system === undefined ? [] : [{ type: "system", text: this.system }];
    for (const { user, parts } of this.exchanges) {
      if (user !== undefined) items.push({ type: "user", text: user });
      items.push(modelItem(parts));
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
      range = difference(this.rendered, this.render(this.exchanges.slice(++count), this.cut).tokens);
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
      if (render === undefined) renders.set(kept, (render = this.render([...this.exchanges.slice(all - kept), turn], undefined)));
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

  /** The render of `exchanges`; `cut` ends the last one's reply (the exchange in progress). */
  private render(exchanges: readonly Exchange[], cut: RenderCut | undefined): ChatRender {
    const items: RenderItem[] = this.system === undefined ? [] : [{ type: "system", text: this.system }];
    for (const { user, parts } of exchanges) {
      if (user !== undefined) items.push({ type: "user", text: user });
      items.push({ type: "model", parts });
    }
    return renderChat(this.wrapper, this.model, items, { functions: this.functions, cut });
  }

  /** The render of the system prompt alone, the same for every scope that has it (cached per model and functions). */
  private systemAlone(): readonly Token[] {
    const renderNow = () => this.render([], undefined).tokens;
    const key = this.functions === undefined ? this.system : `${this.system ?? ""}\u0000${JSON.stringify(this.functions)}`;
    return key === undefined ? renderNow() : systemRender(this.model, key, renderNow);
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

  /** Whether a call's argument tokens spell JSON equal to its params (the model's spacing is its own). */
  private spellsParams(tokens: readonly Token[], params: unknown): boolean {
    const vocabulary = this.model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Infinity;
    if (!tokens.every((token) => token < vocabulary)) return false;
    try {
      return JSON.stringify(JSON.parse(this.model.detokenize([...tokens], false))) === JSON.stringify(params);
    } catch {
      return false;
    }
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
