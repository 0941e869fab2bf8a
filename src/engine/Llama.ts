// Over 350 lines as one idea: the direct API's public surface. Most methods delegate to a room (slots/, model/, generate/) in a line or two; a third of the lines are TSDoc.
import path from "node:path";
import type { LlamaContext, LlamaModel } from "node-llama-cpp";
import {
  DisposedError,
  EmbeddingsUnavailableError,
  InvalidArgumentError,
  ModelLoadError,
  NoActiveSlotError,
  SlotCapacityError,
  SlotExistsError,
  SlotNotFoundError,
} from "../shared/errors/index.js";
import { checkContextShift, resolveContextShift } from "../shared/ContextShift.js";
import { copySlot, slotCopier } from "./slots/copySlot.js";
import { PendingCopies } from "./slots/PendingCopies.js";
import { sequenceOrderStrategy } from "./batching/batchOrder.js";
import { resolveGenerateOptions, type GenerateOptions } from "./generate/GenerateOptions.js";
import type { GenerationResult } from "./generate/GenerationResult.js";
import type { TokenLogprob } from "./generate/TokenLogprob.js";
import { GrammarCache } from "./generate/GrammarCache.js";
import { resolveLoadOptions, type LlamaLoadOptions, type ResolvedLoadOptions } from "../loading/LlamaLoadOptions.js";
import {
  checkLoadControl,
  type LoadControl,
  type PromptTokensOptions,
  type SaveStateOptions,
  type SlotCopy,
  type SlotOptions,
} from "./LlamaOptions.js";
import { errorText, openModel } from "./model/openModel.js";
import type { ModelTokenizer } from "./tokenize/ModelTokenizer.js";
import { maxPromptLength } from "../shared/promptLength.js";
import { PromptTokenizer } from "./tokenize/PromptTokenizer.js";
import { SequencePool, type PooledSequence } from "./slots/SequencePool.js";
import { Slot } from "./slots/Slot.js";
import { SlotStates } from "./slots/SlotStates.js";
import { readKvLayout, type KvLayout, type StateLimits } from "../state/kvLayout.js";
import { toSingleStream } from "../state/kvStreams.js";
import type { StateIdentity } from "../state/StateFormat.js";
import { StepBarrier } from "./batching/StepBarrier.js";
import { probeMinBatch } from "./batching/batchPays.js";
import { SlotById, type SlotEngine } from "./slots/SlotById.js";
import type { SlotHandle } from "./SlotHandle.js";
import type { Token } from "../shared/Token.js";
import { Embedder } from "./embed/Embedder.js";
import type { EmbedOptions, EmbeddingInfo, Embeddings } from "../shared/Embeddings.js";
import { embedSignal, embedTexts } from "../shared/embedInput.js";

/**
 * One model and one shared context whose sequences are slots: independent conversations that
 * share the weights. Runs in the caller's thread; see `LlamaParent` for a worker-thread engine.
 *
 * ```ts
 * const llama = await Llama.load({ modelPath: "model.gguf", slots: 4 });
 * llama.createSlot("user_1");
 * llama.setSlot("user_1");
 * llama.setPrompt("Hello, I am User 1");
 * const reply = await llama.generateCompleteText({ maxTokens: 64 });
 * ```
 */
export class Llama {
  private readonly slotsById = new Map<string, Slot>();
  /** The sequence each slot holds, lent by {@link pool}. */
  private readonly lent = new Map<Slot, PooledSequence>();
  private active: Slot | undefined;
  private disposal: Promise<void> | undefined;
  private readonly states: SlotStates;
  /** Grammars of the `grammar`/`jsonSchema` options, compiled once per distinct grammar. */
  private readonly grammars: GrammarCache;
  /** The shape every state loaded here must have; learned at load (see {@link probeKvLayout}). */
  private kvLayout: KvLayout | undefined;
  private minBatch: number | undefined;
  /** Copies by copyPrefix that llama.cpp makes at the next decode; states and releases wait for them. */
  private readonly copies = new PendingCopies();
  /** Slots being freed: `dispose` waits for their native work too. */
  private readonly closing = new Set<Promise<void>>();
  /** What slot handles use of this engine. */
  private readonly slotEngine: SlotEngine;
  /** Computes `embed`'s vectors; undefined with `embeddings: false`. Set at load. */
  private embedder: Embedder | undefined;

  private constructor(
    private readonly nodeModel: LlamaModel,
    private readonly context: LlamaContext,
    /** Every sequence of the context, taken at load; slots borrow the lowest free one. */
    private readonly pool: SequencePool,
    /** Keeps generating slots in lock-step (`lockstep` option); undefined: they run free. */
    private readonly barrier: StepBarrier | undefined,
    private readonly settings: ResolvedLoadOptions,
    private readonly modelIdentity: StateIdentity["model"],
  ) {
    this.states = new SlotStates(settings.stateDir, (sequence) => this.copies.settle(sequence));
    this.grammars = new GrammarCache(nodeModel.llama);
    // The getters below read the engine, not the object literal they are in.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const llama = this;
    this.slotEngine = {
      slot: (id) => {
        this.assertUsable();
        return this.requireSlot(id);
      },
      states: this.states,
      copies: this.copies,
      grammars: this.grammars,
      // Read at each call: the KV layout is learned after construction.
      get stateIdentity() {
        return llama.stateIdentity;
      },
      get stateLimits() {
        return llama.stateLimits;
      },
      stateKey: settings.stateKey,
      totalSequences: context.totalSequences,
    };
  }

  /**
   * Loads a model and allocates its slots; a model given as a URI is downloaded first (into
   * `modelCacheDir`), unless it is there already.
   * @throws {ModelLoadError} when the file is missing, not a model, or llama.cpp cannot load it;
   * when a download fails.
   * @throws {InvalidArgumentError} for an option with an unusable value.
   * @throws the reason of `control.signal` when it is aborted before the load is done.
   */
  static async load(options: LlamaLoadOptions, control: LoadControl = {}): Promise<Llama> {
    const { model, settings, fingerprint, modelBytes, loading, signal } = await openModel(
      resolveLoadOptions(options),
      checkLoadControl(control),
    );
    const requestedSize = Math.min(settings.contextSize, model.trainContextSize);
    try {
      // The strategy is given before the context exists; it reads it when a batch is formed.
      let context: LlamaContext | undefined;
      // Until the probe below has run, a batch always pays (the probe decodes on one sequence only).
      let minBatch = settings.lockstep === false ? 2 : (settings.lockstep.minBatch ?? 2);
      const batching =
        settings.lockstep === false
          ? undefined
          : {
              itemPrioritizationStrategy: sequenceOrderStrategy(
                () => context,
                () => minBatch,
              ),
            };
      context = await model.createContext({
        contextSize: requestedSize,
        sequences: settings.slots,
        threads: settings.threads,
        ...(settings.batchSize === undefined ? {} : { batchSize: settings.batchSize }),
        ...(settings.flashAttention === undefined ? {} : { flashAttention: settings.flashAttention }),
        ...(batching === undefined ? {} : { batching }),
        ...(signal === undefined ? {} : { createSignal: signal }),
      });
      // The prompt guard's figures, from one pass over the vocabulary: here, not in a first prompt.
      PromptTokenizer.of(model);
      const name = model.fileInfo.metadata?.general?.name ?? path.basename(settings.modelPath);
      const barrier = settings.lockstep === false ? undefined : new StepBarrier();
      // llama.cpp rounds the size up (to a multiple of 256); report what a slot really holds.
      const llama = new Llama(
        model,
        context,
        SequencePool.take(context),
        barrier,
        { ...settings, contextSize: context.contextSize },
        { fingerprint, name },
      );
      // A probe that fails leaves states checked without the layout, as for models it cannot read.
      llama.kvLayout = await llama.probeKvLayout().catch(() => undefined);
      if (settings.lockstep !== false && settings.lockstep.minBatch === undefined) minBatch = await llama.probeMinBatch();
      llama.minBatch = settings.lockstep === false ? undefined : minBatch;
      llama.embedder = await Embedder.open(settings, model, signal);
      loading.finish(modelBytes);
      return llama;
    } catch (cause) {
      await model.dispose();
      signal?.throwIfAborted();
      if (cause instanceof ModelLoadError) throw cause; // the embedding model's, which says so
      throw new ModelLoadError(
        `Could not allocate ${settings.slots} slots of ${requestedSize} tokens (${errorText(cause)}). Load with fewer slots or a smaller contextSize.`,
        { cause },
      );
    }
  }

  /**
   * One embedding per text, each a unit-length vector (see {@link Embeddings}), computed in an
   * embedding context of its own (made at the first call) with the loaded model or the
   * `embeddings.modelPath` one: no slot is touched, and generations go on beside it.
   * @throws {InvalidArgumentError} for an empty array, an empty text or a value that is not a string.
   * @throws {ContextOverflowError} for a text longer than the embedding context takes (nothing is computed).
   * @throws {EmbeddingsUnavailableError} when loaded with `embeddings: false`.
   * @throws the reason of `options.signal` when it aborts first.
   */
  async embed(texts: string | readonly string[], options?: EmbedOptions): Promise<Embeddings> {
    this.assertUsable();
    const list = embedTexts(texts);
    const signal = embedSignal(options);
    if (this.embedder === undefined)
      throw new EmbeddingsUnavailableError(
        "Embeddings are off: this model was loaded with embeddings: false. Load without it, or with embeddings: { modelPath } naming an embedding model.",
      );
    return this.embedder.embed(list, signal);
  }

  /** Where `embed`'s vectors come from (model, dimensions, longest text); undefined with `embeddings: false`. */
  get embeddingInfo(): EmbeddingInfo | undefined {
    return this.embedder?.info;
  }

  /** Ids of the existing slots, in creation order. */
  get slots(): string[] {
    return [...this.slotsById.keys()];
  }

  /** The slot that `setPrompt`, generate calls and state calls use, or null. */
  get activeSlot(): string | null {
    return this.active?.id ?? null;
  }

  /** How many slots this instance can hold at once. */
  get slotCapacity(): number {
    return this.settings.slots;
  }

  /**
   * With lock-step batching, the fewest slots generating at once that are decoded as one batch
   * (fewer take turns, one token per decode): the `lockstep.minBatch` option, or what the probe
   * at load found on this model and machine; more than `slots` when batching never paid.
   * Undefined with `lockstep: false`.
   */
  get lockstepMinBatch(): number | undefined {
    return this.minBatch;
  }

  /** Tokens each slot can hold: the requested size capped by the model, rounded up by llama.cpp. */
  get contextSize(): number {
    return this.settings.contextSize;
  }

  /**
   * The longest prompt text (in JS string length, `text.length`) a slot can ever take: no token
   * of this model covers more than a certain number of characters (its longest token text, plus
   * a margin of 2), so a longer text needs more tokens than a slot holds. Longer prompts are
   * refused with `ContextOverflowError` before they are tokenized. `Infinity` for tokenizers that
   * drop characters (WordPiece, Unigram), where no such bound holds.
   */
  get maxPromptLength(): number {
    return maxPromptLength({ tokens: this.settings.contextSize, charsPerToken: PromptTokenizer.of(this.nodeModel).charsPerToken });
  }

  /** CPU threads used for decoding. */
  get threads(): number {
    return this.settings.threads;
  }

  /** The model file loaded, as an absolute path (for a URI: the download in `modelCacheDir`). */
  get modelPath(): string {
    return this.settings.modelPath;
  }

  /** The model file's name and fingerprint, as recorded in saved states. */
  get modelInfo(): Readonly<StateIdentity["model"]> {
    return this.modelIdentity;
  }

  /** What this Llama's saved states record, and what a state must match to load here. */
  get stateIdentity(): StateIdentity {
    return {
      model: this.modelIdentity,
      layout: {
        kvCacheKeyType: String(this.context.kvCacheKeyType),
        kvCacheValueType: String(this.context.kvCacheValueType),
        flashAttention: String(this.context.flashAttention),
      },
    };
  }

  /**
   * What a state must satisfy to load here besides {@link stateIdentity}: slot size, vocabulary
   * and the exact layout of the KV section (checked before llama.cpp sees a byte of it).
   */
  get stateLimits(): StateLimits {
    const vocabularySize = this.nodeModel.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
    return { contextSize: this.settings.contextSize, vocabularySize, kv: this.kvLayout };
  }

  /** How many tokens the slot's history holds (prompts and replies, evaluated or not). */
  tokenCount(id: string): number {
    return this.slot(id).tokenCount();
  }

  get disposed(): boolean {
    return this.disposal !== undefined;
  }

  /** The tokens of the slot's history (prompts and replies, evaluated or not), oldest first. */
  historyTokens(id: string): Token[] {
    return this.slot(id).historyTokens();
  }

  /**
   * Replaces the active slot's memory with these tokens, not evaluated yet: the next generate call
   * evaluates them together with its prompt, as a fresh slot given this history would. For
   * rebuilding a conversation from its tokens (a `LlamaParent` after its engine crashed).
   * @throws {InvalidArgumentError} for ids outside the vocabulary or more tokens than a slot holds.
   */
  async setHistory(tokens: readonly Token[]): Promise<void> {
    return this.activeHandle().setHistory(tokens);
  }

  /**
   * Claims a free sequence for a new conversation. Does not make it active.
   * @throws {SlotExistsError} when `id` is taken. @throws {SlotCapacityError} when every slot is taken.
   * @throws {InvalidArgumentError} for unusable options.
   */
  createSlot(id: string, options: SlotOptions = {}): void {
    this.assertUsable();
    assertSlotId(id);
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("Slot options must be an object, e.g. { contextShift: false }.");
    const contextShift = options.contextShift === undefined ? this.settings.contextShift : checkContextShift(options.contextShift, "slot");
    if (this.slotsById.has(id))
      throw new SlotExistsError(`A slot named "${id}" exists already: use setSlot("${id}") to continue it, or pick another id.`);
    const shift = resolveContextShift(contextShift, this.settings.contextSize);
    const pooled = this.pool.acquire();
    if (pooled === undefined)
      throw new SlotCapacityError(
        `All ${this.settings.slots} slots are taken (${this.slots.join(", ")}): free one with freeSlot(id), or load with more slots.`,
      );
    const slot = new Slot(id, pooled.sequence, shift, this.barrier?.member(pooled.order));
    this.slotsById.set(id, slot);
    this.lent.set(slot, pooled);
  }

  /**
   * Makes `id` the active slot. Switching costs nothing: every slot keeps its KV cache.
   * @throws {SlotNotFoundError} when no slot has this id.
   */
  setSlot(id: string): void {
    this.assertUsable();
    this.active = this.requireSlot(id);
  }

  /**
   * A handle on slot `id` whose calls work on that slot whatever slot is active: for code that
   * serves several conversations at once, where one caller's `setSlot` must not redirect
   * another's call. The active-slot methods (`setPrompt`, `generate`, `saveState`, …) are the
   * same calls on the active slot's handle.
   * @throws {SlotNotFoundError} when no slot has this id.
   */
  slot(id: string): SlotHandle {
    this.assertUsable();
    this.requireSlot(id);
    return new SlotById(this.slotEngine, id);
  }

  /**
   * Sets the text the next generate call on the active slot appends to its history before
   * generating. Calling it again before generating replaces the text.
   */
  setPrompt(text: string): void {
    this.activeHandle().setPrompt(text);
  }

  /**
   * Like {@link setPrompt}, but appends exactly these tokens: no start token is added and nothing
   * is re-tokenized. For prompts already rendered by a chat template (see `model`).
   */
  setPromptTokens(tokens: readonly Token[], options: PromptTokensOptions = {}): void {
    this.activeHandle().setPromptTokens(tokens, options);
  }

  /**
   * The model's tokenizer, for prompts of tokens (`setPromptTokens`, `prefill`) and reading
   * histories. The object is node-llama-cpp's `LlamaModel` (`llama.model as LlamaModel` for the
   * rest of it, e.g. its chat templates); do not dispose it or create contexts on it: the `Llama`
   * owns it.
   */
  get model(): ModelTokenizer {
    return this.nodeModel;
  }

  /**
   * Appends the prompt to the active slot and generates a reply; resolves with the whole reply.
   * The call binds to the slot active now; calls on one slot run in call order, calls on
   * different slots run together and are decoded in shared batches.
   */
  async generateCompleteText(options?: GenerateOptions): Promise<string> {
    return (await this.generate(options)).text;
  }

  /** Like {@link generateCompleteText}, but also says how many tokens were generated and why it ended. */
  // Everything before the first await runs at call time: the call binds to the slot active now.
  async generate(options?: GenerateOptions, onText?: (text: string, logprobs?: TokenLogprob[]) => void): Promise<GenerationResult> {
    this.assertUsable();
    resolveGenerateOptions(options); // an unusable option is reported before a missing slot
    return this.activeHandle().generate(options, onText);
  }

  /**
   * Ends the generation running now on slot `id`, as its own AbortSignal would: the call resolves
   * with the reply so far, which stays in the history. Calls queued behind it still run.
   * @throws {SlotNotFoundError} when no slot has this id.
   */
  stopGeneration(id: string): void {
    this.slot(id).stopGeneration();
  }

  /**
   * Like {@link generateCompleteText}, but yields the reply in pieces as it is decoded. Leaving
   * the loop early ends the generation; what was generated until then stays in the history.
   */
  generateText(options?: GenerateOptions): AsyncIterableIterator<string> {
    this.assertUsable();
    return this.activeHandle().generateText(options);
  }

  /**
   * Ends the slot's running and queued calls, clears its memory and returns its sequence to the
   * pool. Queued calls reject with {@link SlotNotFoundError}.
   */
  async freeSlot(id: string): Promise<void> {
    this.assertUsable();
    const slot = this.requireSlot(id);
    this.slotsById.delete(id);
    if (this.active === slot) this.active = undefined;
    const closed = this.returnSequence(slot, new SlotNotFoundError(`Slot "${id}" was freed while this call waited or ran.`));
    this.closing.add(closed);
    try {
      await closed;
    } finally {
      this.closing.delete(closed);
    }
  }

  /**
   * Appends `tokens` to the active slot's history and evaluates them into its KV cache without
   * generating, after the calls queued on the slot. Tokens still waiting to be evaluated (the last
   * token of a reply) go first; afterwards the whole history is in the cache, so a state saved
   * now holds all of it (a shared prefix evaluated once, then loaded into other slots). A prompt
   * set with `setPrompt` stays set. Resolves with the number of tokens evaluated.
   * @throws {InvalidArgumentError} for ids outside the vocabulary.
   * @throws {ContextOverflowError} when they do not fit in the slot (prefill never shifts).
   */
  async prefill(tokens: readonly Token[]): Promise<number> {
    return this.activeHandle().prefill(tokens);
  }

  /**
   * Fills the active slot, which must be empty, with the start of slot `fromId`'s conversation,
   * copied inside llama.cpp: its first `tokens.length` tokens, when they are exactly `tokens`.
   * Only from a slot with nothing queued or running, never shifted (its cells are still those
   * computed for these positions), holding them in its KV cache. Resolves false when any of that
   * does not hold, or llama.cpp cannot copy (both slots are then as before); true when the active
   * slot holds the copy, bit for bit. Shared prefixes use it to serve a new conversation from
   * one that is resident instead of from a saved state.
   * @throws {SlotNotFoundError} when `fromId` does not exist.
   */
  async copyPrefix(fromId: string, tokens: readonly Token[]): Promise<boolean> {
    return this.activeHandle().copyPrefix(fromId, tokens);
  }

  /**
   * Creates slot `toId` holding a copy of slot `fromId`'s conversation as it is after the calls
   * queued on `fromId`: from then on each continues on its own (branching, "regenerate"), and
   * both give the same reply to the same prompt. llama.cpp copies the KV cache itself when it can
   * (resolves `"kv"`); otherwise it goes through a saved state (`"state"`). The active slot is
   * unchanged.
   * @throws {SlotNotFoundError} when `fromId` does not exist (or is freed meanwhile: `toId` is then freed too).
   * @throws {SlotExistsError}, {SlotCapacityError}, {InvalidArgumentError} as `createSlot(toId, options)`.
   */
  async forkSlot(fromId: string, toId: string, options: SlotOptions = {}): Promise<SlotCopy> {
    this.assertUsable();
    const source = this.requireSlot(fromId);
    this.createSlot(toId, options);
    const target = this.requireSlot(toId);
    const copier = slotCopier(async (from, to) => this.states.loadKv(to, (await this.states.snapshot(from)).kv));
    try {
      // The target's queue first: nothing can run on it before it holds the copy.
      return await target.schedule(() =>
        source.schedule(async () => {
          await this.copies.settle(source.sequence);
          return copySlot(source, target, copier);
        }),
      );
    } catch (error) {
      if (this.slotsById.get(toId) === target) await this.freeSlot(toId).catch(() => {});
      throw error;
    }
  }

  /**
   * Freezes the active slot's conversation into self-describing bytes (see docs/state-format.md)
   * after the calls already queued on it have finished.
   */
  async saveState(options?: SaveStateOptions): Promise<Uint8Array> {
    return this.activeHandle().saveState(options);
  }

  /**
   * Replaces the active slot's memory with a saved state. The bytes are checked (format,
   * checksum, model, context) before llama.cpp sees them; on any failure the slot is left as it was.
   * @throws {StateFormatError} for bytes that are not an intact state.
   * @throws {StateMismatchError} for a state from another model or one this slot cannot hold.
   */
  async loadState(state: Uint8Array): Promise<void> {
    return this.activeHandle().loadState(state);
  }

  /**
   * Ends every call (they reject with {@link DisposedError}) and frees the context and the model.
   * Safe to call more than once; later calls return the same promise.
   *
   * It never frees memory that llama.cpp is still working on: running calls stop at their next
   * step (a generated token, a piece of a long prompt's tokenizing) and the native call they are
   * in returns first; slots being freed by `freeSlot` are waited for too.
   */
  dispose(): Promise<void> {
    this.disposal ??= (async () => {
      const reason = new DisposedError("The Llama was disposed while this call waited or ran. Load a new one with Llama.load().");
      const slots = [...this.slotsById.values()];
      this.slotsById.clear();
      this.active = undefined;
      // The embedder first waits for its calls: nothing below may free what llama.cpp still uses.
      await Promise.allSettled([...slots.map((slot) => slot.close(reason)), ...this.closing, this.embedder?.dispose()]);
      await this.pool.dispose();
      await this.context.dispose();
      await this.nodeModel.dispose();
      this.grammars.clear();
      await this.states.dispose();
    })();
    return this.disposal;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /**
   * Saves a one-token state from a sequence of its own and reads the KV layout off it: states are
   * checked against what this very context writes, not against what they say of themselves.
   */
  private probeKvLayout(): Promise<KvLayout | undefined> {
    return this.pool.borrow(async (sequence) => {
      await sequence.evaluateWithoutGeneratingNewTokens([this.nodeModel.tokens.bos ?? (0 as Token)]);
      return readKvLayout(toSingleStream(await this.states.save(sequence)));
    });
  }

  /** Times batches on a free sequence to learn from how many slots a batch pays (see `batchPays.ts`). */
  private async probeMinBatch(): Promise<number> {
    const bos = this.nodeModel.tokens.bos ?? (0 as Token);
    return (await this.pool.borrow((sequence) => probeMinBatch(sequence, bos, this.settings.slots))) ?? 2;
  }

  /** Ends the slot's work, then clears its sequence and gives it back to the pool. */
  private async returnSequence(slot: Slot, reason: Error): Promise<void> {
    await slot.close(reason);
    const pooled = this.lent.get(slot);
    this.lent.delete(slot);
    if (pooled === undefined) return;
    // Its next holder may load a state into it: a copy still to be made from or into it goes first.
    await this.copies.settle(pooled.sequence).catch(() => {});
    await this.pool.release(pooled);
  }

  private requireSlot(id: string): Slot {
    const slot = this.slotsById.get(id);
    if (slot === undefined)
      throw new SlotNotFoundError(
        `No slot named "${String(id)}". Existing slots: ${this.slots.join(", ") || "none"}. Create it with createSlot(id).`,
      );
    return slot;
  }

  /** The active slot's handle. @throws {NoActiveSlotError} when no slot is active. */
  private activeHandle(): SlotHandle {
    this.assertUsable();
    return new SlotById(this.slotEngine, this.requireActive().id);
  }

  private requireActive(): Slot {
    if (this.active === undefined) throw new NoActiveSlotError("No slot is active: call createSlot(id) and setSlot(id) first.");
    return this.active;
  }

  private assertUsable(): void {
    if (this.disposal !== undefined) throw new DisposedError("This Llama was disposed. Load a new one with Llama.load().");
  }
}

function assertSlotId(id: unknown): asserts id is string {
  if (typeof id !== "string" || id.length === 0)
    throw new InvalidArgumentError(`A slot id must be a non-empty string, not ${JSON.stringify(id)}.`);
}
