import { InvalidArgumentError } from "../../shared/errors/index.js";
import { resolveGenerateOptions, type GenerateOptions } from "../generate/GenerateOptions.js";
import { generateReply } from "../generate/generateReply.js";
import type { GenerationResult } from "../generate/GenerationResult.js";
import type { TokenLogprob } from "../generate/TokenLogprob.js";
import type { GrammarCache } from "../generate/GrammarCache.js";
import { checkPromptTokensOptions, type PromptTokensOptions, type SaveStateOptions } from "../LlamaOptions.js";
import type { PendingCopies } from "./PendingCopies.js";
import { prefillSlot } from "./prefill.js";
import type { Slot } from "./Slot.js";
import { SlotStates } from "./SlotStates.js";
import { assertStateFits } from "../../state/stateFit.js";
import type { StateLimits } from "../../state/kvLayout.js";
import { partsLength, singleStreamParts, toStreamParts, writeParts } from "../../state/kvStreams.js";
import { decodeState, encodeStateWith, isJsonObject, type StateIdentity, type StateMeta } from "../../state/StateFormat.js";
import { copySequenceKv } from "../internals/nodeLlamaCppInternals.js";
import { TextStream } from "../../shared/TextStream.js";
import { assertTokenIds } from "../generate/sampling.js";
import type { SlotHandle } from "../SlotHandle.js";
import type { Token } from "../../shared/Token.js";
import { startsWith } from "../../shared/tokenRuns.js";

/** What a {@link SlotHandle} needs of the `Llama` that made it. */
export interface SlotEngine {
  /** The slot with this id now. @throws DisposedError, SlotNotFoundError. */
  slot(id: string): Slot;
  readonly states: SlotStates;
  readonly copies: PendingCopies;
  readonly grammars: GrammarCache;
  readonly stateIdentity: StateIdentity;
  readonly stateLimits: StateLimits;
  readonly stateKey: Uint8Array | undefined;
  /** Sequences of the context (a state's KV streams are laid out per sequence). */
  readonly totalSequences: number;
}

/**
 * The {@link SlotHandle} a `Llama` gives out: it looks its slot up by id at every call (see
 * `SlotHandle` for what each call does).
 */
export class SlotById implements SlotHandle {
  constructor(
    private readonly engine: SlotEngine,
    /** The slot's id. */
    readonly id: string,
  ) {}

  tokenCount(): number {
    return this.engine.slot(this.id).tokens.length;
  }

  historyTokens(): Token[] {
    return this.engine.slot(this.id).tokens;
  }

  setPrompt(text: string): void {
    const slot = this.engine.slot(this.id);
    if (typeof text !== "string") throw new InvalidArgumentError(`setPrompt takes a string, not ${typeof text}.`);
    slot.prompt = text;
  }

  setPromptTokens(tokens: readonly Token[], options: PromptTokensOptions = {}): void {
    const slot = this.engine.slot(this.id);
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && t >= 0))
      throw new InvalidArgumentError("setPromptTokens takes an array of token ids of this model (see llama.model.tokenize).");
    const { keep, erase } = checkPromptTokensOptions(options);
    slot.prompt = { tokens: [...(tokens as readonly Token[])], keep, erase };
  }

  async generateCompleteText(options?: GenerateOptions): Promise<string> {
    return (await this.generate(options)).text;
  }

  // Not async: the slot and its prompt are taken when the call is made, failures still reject.
  generate(options?: GenerateOptions, onText: (text: string, logprobs?: TokenLogprob[]) => void = () => {}): Promise<GenerationResult> {
    try {
      const slot = this.engine.slot(this.id);
      const resolved = resolveGenerateOptions(options);
      assertTokenIds(resolved.logitBias, this.engine.stateLimits.vocabularySize);
      const prompt = slot.prompt;
      slot.prompt = undefined;
      return slot.schedule(async ({ close, stop }) => {
        const signal = resolved.signal === undefined ? stop : AbortSignal.any([resolved.signal, stop]);
        // Compiled when the call runs: a grammar llama.cpp refuses fails this call alone, like an overflow.
        const grammar = await this.engine.grammars.get(resolved.grammar);
        const evaluated = slot.sequence.nextTokenIndex;
        const result = await generateReply(slot, prompt, { ...resolved, signal }, onText, close, grammar);
        // Grown: tokens were decoded, which made a copy into this slot still pending (shrunk by a
        // shift, it may or may not have decoded: a copy left pending only costs a throwaway decode).
        if (slot.sequence.nextTokenIndex > evaluated) this.engine.copies.decoded(slot.sequence);
        return result;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  generateText(options?: GenerateOptions): AsyncIterableIterator<string> {
    const cancel = new AbortController();
    const stream = new TextStream(() => cancel.abort());
    try {
      resolveGenerateOptions(options); // as given: the copy below would turn a class instance into a plain object
    } catch (error) {
      stream.fail(error);
      return stream;
    }
    const signal = options?.signal === undefined ? cancel.signal : AbortSignal.any([options.signal, cancel.signal]);
    this.generate(options === undefined ? { signal } : { ...options, signal }, (text) => stream.push(text)).then(
      () => stream.end(),
      (error: unknown) => stream.fail(error),
    );
    return stream;
  }

  stopGeneration(): void {
    this.engine.slot(this.id).stop();
  }

  async prefill(tokens: readonly Token[]): Promise<number> {
    const slot = this.engine.slot(this.id);
    const { vocabularySize } = this.engine.stateLimits;
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && t >= 0 && t < vocabularySize))
      throw new InvalidArgumentError("prefill takes an array of token ids of this model (see llama.model.tokenize).");
    return slot.schedule(async () => {
      const evaluated = await prefillSlot(slot, tokens);
      if (evaluated > 0) this.engine.copies.decoded(slot.sequence);
      return evaluated;
    });
  }

  // Not async: the slot's prompt is taken when the call is made, as generate takes it.
  prefillPrompt(): Promise<number> {
    try {
      const slot = this.engine.slot(this.id);
      const prompt = slot.prompt;
      slot.prompt = undefined;
      return slot.schedule(async ({ close }) => {
        const evaluated = slot.sequence.nextTokenIndex;
        const options = { ...resolveGenerateOptions(undefined), prefillOnly: true };
        const result = await generateReply(slot, prompt, options, () => {}, close);
        if (slot.sequence.nextTokenIndex > evaluated) this.engine.copies.decoded(slot.sequence);
        return result.promptTokenCount;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async copyPrefix(fromId: string, tokens: readonly Token[]): Promise<boolean> {
    const target = this.engine.slot(this.id);
    const source = this.engine.slot(fromId);
    if (!Array.isArray(tokens)) throw new InvalidArgumentError("copyPrefix takes an array of token ids of this model.");
    const holds = () => target.tokens.length === 0 && source.erasedTokens === 0 && startsWith(source.sequence.contextTokens, tokens);
    if (source === target || source.busy || !holds()) return false;
    const { copies } = this.engine;
    return target.schedule(() =>
      source.schedule(async () => {
        if (!holds()) return false;
        await copies.settle(source.sequence); // a source whose own copy is still pending: made first
        // The throwaway decode that would make the copy now is left out: the slot's next decode
        // (its prompt's) makes it, and anything that reads or writes either state first waits.
        if (!(await copySequenceKv(source.sequence, target.sequence, tokens.length, false))) return false;
        copies.add(source.sequence, target.sequence);
        return true;
      }),
    );
  }

  async saveState(options?: SaveStateOptions): Promise<Uint8Array> {
    const slot = this.engine.slot(this.id);
    const meta = options?.meta;
    const header = { ...this.engine.stateIdentity, ...(meta === undefined ? {} : { meta: checkedMeta(meta) }) };
    return slot.schedule(async () => {
      const { kv, pending } = await this.engine.states.snapshot(slot);
      // Written into the state from its parts: a long conversation's KV is tens of MB, and each copy counts.
      const parts = singleStreamParts(kv);
      const state = { header, tokens: slot.sequence.contextTokens, pending, erasedTokens: slot.erasedTokens };
      return encodeStateWith(state, partsLength(parts), (target) => writeParts(target, parts), this.engine.stateKey, {
        shared: options?.sharedMemory,
      }).bytes;
    });
  }

  async loadState(state: Uint8Array): Promise<void> {
    const slot = this.engine.slot(this.id);
    const decoded = decodeState(state, this.engine.stateKey);
    assertStateFits(decoded, this.engine.stateIdentity, this.engine.stateLimits);
    const kv = toStreamParts(decoded.kv, this.engine.totalSequences);
    return slot.schedule(async () => {
      await this.engine.states.restore(slot, kv, decoded.pending);
      slot.erasedTokens = decoded.erasedTokens;
    });
  }

  async setHistory(tokens: readonly Token[]): Promise<void> {
    const slot = this.engine.slot(this.id);
    const { vocabularySize, contextSize } = this.engine.stateLimits;
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && t >= 0 && t < vocabularySize))
      throw new InvalidArgumentError("setHistory takes an array of token ids of this model (see llama.model.tokenize).");
    // A full slot holds contextSize tokens: its cells and a reply's last token, not evaluated yet.
    if (tokens.length > contextSize)
      throw new InvalidArgumentError(`setHistory takes at most ${contextSize} tokens (a slot's size), not ${tokens.length}.`);
    await slot.schedule(async () => {
      // A copy into the slot that llama.cpp has not made yet would land after the clear: made first.
      await this.engine.copies.settle(slot.sequence);
      await slot.sequence.clearHistory();
      slot.pendingTokens = tokens;
      slot.erasedTokens = 0;
    });
  }
}

/** Meta must survive the JSON header unchanged: a plain object of JSON values. */
function checkedMeta(meta: unknown): StateMeta {
  let text: string | undefined;
  try {
    text = JSON.stringify(meta);
  } catch {
    // a cycle or a BigInt: refused below
  }
  if (!isJsonObject(meta) || text === undefined)
    throw new InvalidArgumentError('saveState\'s meta must be a plain JSON object, e.g. { userId: "42" }.');
  return JSON.parse(text) as StateMeta;
}
