import { resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";

/**
 * Renders a chat scope's turns with the model's chat template (node-llama-cpp's chat wrappers;
 * their general fallback when the model has none) and yields only the tokens each turn adds.
 *
 * The slot holds the transcript up to the end of the last reply; the template renders that reply
 * as an open turn, so the tokens to append are the new render minus the common prefix with it.
 */
export class ChatFormatter {
  private readonly wrapper: ChatWrapper;
  private readonly history: ChatHistoryItem[] = [];
  private rendered: Token[] = [];

  constructor(private readonly model: LlamaModel) {
    this.wrapper = resolveChatWrapper(model);
  }

  private renderedBeforeTurn: Token[] = [];

  /** Tokens that add a user turn and open the model's reply, and the template's text stop strings. */
  userTurn(text: string): { tokens: Token[]; stop: string[] } {
    this.renderedBeforeTurn = this.rendered;
    this.history.push({ type: "user", text }, { type: "model", response: [] });
    const { contextText, stopGenerationTriggers } = this.wrapper.generateContextState({ chatHistory: this.history });
    const next = contextText.tokenize(this.model.tokenizer);
    let common = 0;
    while (common < this.rendered.length && common < next.length && this.rendered[common] === next[common]) common++;
    this.rendered = next;
    // Special-token triggers (end of turn) arrive as end-of-generation tokens; only text ones are stop strings.
    const stop = stopGenerationTriggers
      .filter((trigger) => trigger.values.every((value) => typeof value === "string"))
      .map((trigger) => trigger.toString())
      .filter((trigger) => trigger.length > 0);
    return { tokens: next.slice(common), stop };
  }

  /** Records the reply the slot now holds, so the next turn starts after it. */
  modelReplied(reply: string): void {
    const last = this.history.at(-1);
    if (last?.type === "model") last.response = [reply];
    this.rendered = this.wrapper.generateContextState({ chatHistory: this.history }).contextText.tokenize(this.model.tokenizer);
  }

  /** The turn's prompt never reached the slot (it was refused): forget it. */
  abandonTurn(): void {
    if (this.history.at(-1)?.type === "model" && this.history.at(-2)?.type === "user") this.history.length -= 2;
    this.rendered = this.renderedBeforeTurn;
  }

  /** The turns so far, to save with the slot's state. */
  get turns(): readonly ChatHistoryItem[] {
    return this.history;
  }

  /**
   * The conversation was replaced by a loaded state: go on from the turns saved with it, or from
   * nothing when it has none (its template history is then unknown).
   */
  reset(turns: readonly ChatHistoryItem[] = []): void {
    this.history.splice(0, this.history.length, ...structuredClone(turns));
    this.rendered = turns.length === 0 ? [] : this.wrapper.generateContextState({ chatHistory: this.history }).contextText.tokenize(this.model.tokenizer);
    this.renderedBeforeTurn = this.rendered;
  }
}
