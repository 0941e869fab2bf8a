// Over 350 lines as one idea: the engine's side of the protocol, one method per WorkerApi call (see protocol/WorkerApi.ts).
import { transfer } from "comlink";
import type { ChatModelFunctions, Token } from "node-llama-cpp";
import {
  Llama,
  readStateMeta,
  type SlotHandle,
  type ContextShiftOptions,
  type ContextShiftStrategy,
  type LoadProgress,
  type SlotContextShift,
} from "../engine/index.js";
import { resolveContextShift } from "../shared/ContextShift.js";
import { nodeModelOf } from "../engine/model/nodeModel.js";
import { assertPromptLength } from "../shared/promptLength.js";
import { TextStream } from "../shared/TextStream.js";
import type { GenerationResult, TokenLogprob } from "../engine/index.js";
import { DisposedError, InvalidArgumentError, LlamaScopeError } from "../shared/errors/index.js";
import type {
  EmbedReply,
  EmbedRequest,
  ForkResult,
  ModelReady,
  PromptRequest,
  PromptResult,
  ScopeConfig,
  ScopeStateMeta,
  StreamBatch,
  WireLoadOptions,
  WorkerApi,
} from "../protocol/index.js";
import type { ChatHistoryItem } from "../shared/ChatHistoryItem.js";
import { ChatSession } from "./chat/ChatSession.js";
import { checkSchemas, functionTurn } from "./chat/functionTurn.js";
import { savedChatOf } from "../shared/chatItems.js";
import { LoadProgressFeed } from "./LoadProgressFeed.js";
import { PrefixCache } from "./prefixes/PrefixCache.js";
import { SharedPrefixes } from "./prefixes/SharedPrefixes.js";
import { packEmbeddings } from "../shared/packedEmbeddings.js";

interface RunningRequest {
  scopeId: string;
  controller: AbortController;
  stream: TextStream<TokenLogprob> | undefined;
}

/** What the worker keeps of a scope, with or without a slot. */
interface ScopeRecord {
  config: ScopeConfig;
  /** A chat scope's conversation; kept while the scope is frozen. */
  chat: ChatSession | undefined;
  /** Tokens erased by each shift not yet reported; the prompt that settles next takes them. */
  shifts: number[];
}

/**
 * The worker side of `LlamaParent`: one engine, one slot per resident scope (the slot id is the
 * scope id). Which scopes hold slots is the parent's decision; this side does what it is told.
 * Requests of one scope reach the engine in arrival order, which the engine's slot queue keeps.
 */
export class ScopeService implements WorkerApi {
  private llama: Llama | undefined;
  private loading: Promise<Llama> | undefined;
  /** Aborts a load in progress when the service is disposed. */
  private readonly loadAbort = new AbortController();
  /** The load's progress, for the parent's `loadProgress` polls. */
  private readonly progress = new LoadProgressFeed();
  private disposal: Promise<void> | undefined;
  private loadShift: ContextShiftOptions | false = {};
  private readonly requests = new Map<number, RunningRequest>();
  private readonly scopes = new Map<string, ScopeRecord>();
  /** Embed calls under way, by request id: `stopRequest` aborts them. */
  private readonly embeds = new Map<number, AbortController>();
  /** Evaluates chat scopes' shared prefixes apart, and stores them when the cache is on. */
  private prefixes: SharedPrefixes | undefined;

  /**
   * @param ended called once `dispose()` has freed everything: nothing native is left running,
   * so the thread may end (the worker lets its event loop run dry).
   * @param options.sharedStates the parent is a thread of this process: frozen states are made in
   * shared memory, so neither the freeze nor the restore that follows copies them (see `freeze`).
   */
  constructor(
    private readonly ended: () => void = () => {},
    private readonly options: { sharedStates?: boolean } = {},
  ) {}

  async init(options: WireLoadOptions): Promise<ModelReady> {
    if (this.loading !== undefined) throw new LlamaScopeError("The worker is already initialized.");
    if (this.disposal !== undefined)
      throw new DisposedError("The worker was disposed before it loaded the model. Create a new LlamaParent.");
    const start = performance.now();
    const { prefixCache, ...engineOptions } = options;
    this.loading = Llama.load(engineOptions, { signal: this.loadAbort.signal, onProgress: (progress) => this.progress.push(progress) });
    this.llama = await this.loading.finally(() => this.progress.end());
    this.loadShift = options.contextShift ?? {};
    if (prefixCache !== undefined) {
      const cache = prefixCache.maxBytes > 0 ? new PrefixCache(prefixCache.maxBytes, JSON.stringify(this.llama.stateIdentity)) : undefined;
      this.prefixes = new SharedPrefixes(prefixCache.minTokens, cache);
    }
    const { modelInfo, modelPath, slotCapacity, contextSize, threads, stateIdentity, stateLimits, maxPromptLength, lockstepMinBatch } =
      this.llama;
    const ready: ModelReady = {
      modelName: modelInfo.name,
      modelPath,
      slots: slotCapacity,
      contextSize,
      threads,
      stateIdentity,
      stateLimits,
      maxPromptLength,
      loadMs: performance.now() - start,
    };
    if (lockstepMinBatch !== undefined) ready.lockstepMinBatch = lockstepMinBatch;
    if (this.llama.embeddingInfo !== undefined) ready.embeddings = { ...this.llama.embeddingInfo };
    return ready;
  }

  loadProgress(after: number): Promise<LoadProgress | null> {
    return this.progress.next(after);
  }

  openScope(scopeId: string, config: ScopeConfig): void {
    const llama = this.requireLlama();
    const record: ScopeRecord = { config, chat: undefined, shifts: [] };
    if (config.mode === "chat") record.chat = this.newChat(llama, record, config.chatHistory ?? []);
    this.scopes.set(scopeId, record);
  }

  async prompt(request: PromptRequest): Promise<PromptResult> {
    const { scopeId, requestId } = request;
    const controller = new AbortController();
    const stream = request.stream ? new TextStream<TokenLogprob>(() => controller.abort()) : undefined;
    this.requests.set(requestId, { scopeId, controller, stream });
    try {
      const llama = this.requireLlama();
      const record = this.requireScope(scopeId);
      const { chat } = record;
      // Rendering tokenizes a chat turn whole: a text that can never fit is refused first. The
      // system prompt is never erased, so the two must fit together. (Completion prompts are
      // checked by the engine, against the room the conversation has left.)
      if (chat !== undefined)
        assertPromptLength(request.text.length + chat.systemPromptLength, {
          tokens: llama.contextSize,
          charsPerToken: llama.maxPromptLength / llama.contextSize,
        });
      if (request.functions !== undefined) await checkSchemas(llama, request.functions);
      const { slot, created: slotCreated } = this.ensureSlot(llama, scopeId, record);
      let stop = request.options.stop ?? [];
      /** Tokens of shared prefixes this prompt evaluated before its own. */
      let prefilled = 0;
      /** The turn's shared prefixes went into the empty slot before the turn itself. */
      let filled = false;
      const onText = stream === undefined ? undefined : (text: string, logprobs?: readonly TokenLogprob[]) => stream.push(text, logprobs);
      const failed = async (error: unknown): Promise<never> => {
        chat?.abandonTurn();
        // A refused turn leaves the conversation as it was: empty, without the prefixes.
        if (filled) await this.emptySlot(slot);
        throw error;
      };
      let result;
      if (chat !== undefined && request.functions !== undefined) {
        if (request.phase !== undefined)
          throw new InvalidArgumentError("Function calls are one reply at a time: send functions with generate(), not generateChoices().");
        result = await functionTurn({
          slot,
          chat,
          wrapper: chat.wrapper,
          functions: request.functions,
          options: { ...request.options, signal: controller.signal },
          onText,
          setUserTurn: async (functions) => {
            const turn = await this.setUserTurn(llama, slot, record, chat, request.text, controller.signal, functions);
            filled = turn.filled;
            return turn;
          },
        }).catch(failed);
      } else {
        if (request.phase === "reply") {
          // Replies to the prompt a "prefill" left waiting (in this scope or the one it was forked from).
          if (chat !== undefined) stop = [...stop, ...chat.resumeTurn(slot.historyTokens())];
        } else if (chat === undefined) slot.setPrompt(request.text);
        else {
          const turn = await this.setUserTurn(llama, slot, record, chat, request.text, controller.signal);
          ({ prefilled, filled } = turn);
          stop = [...stop, ...turn.stop];
        }
        const run =
          request.phase === "prefill"
            ? prefillResult(slot.prefillPrompt())
            : slot.generate({ ...request.options, stop, signal: controller.signal }, onText);
        result = await run.catch(failed);
        // A prefilled chat turn stays open: its reply comes with the "reply" phase.
        if (chat !== undefined && request.phase !== "prefill") {
          const history = slot.historyTokens();
          chat.modelReplied(result.text, history.slice(history.length - result.tokenCount));
        }
      }
      stream?.end();
      const memory = request.trackHistory
        ? { history: slot.historyTokens(), ...(chat === undefined ? {} : { chatHistory: chat.items() }) }
        : {};
      const cache = this.prefixes?.cache;
      const prefixCache = cache === undefined ? {} : { prefixCache: cache.report() };
      return {
        ...result,
        promptTokenCount: result.promptTokenCount + prefilled,
        slotCreated,
        shifts: record.shifts.splice(0),
        ...memory,
        ...prefixCache,
      };
    } catch (error) {
      stream?.fail(error);
      throw error;
    } finally {
      if (stream === undefined) this.requests.delete(requestId);
    }
  }

  async pull(requestId: number): Promise<StreamBatch> {
    const stream = this.requests.get(requestId)?.stream;
    if (stream === undefined) return { text: "", done: true };
    try {
      const next = await stream.next();
      if (next.done) this.requests.delete(requestId);
      const batch: StreamBatch = { text: (next.value as string | undefined) ?? "", done: next.done === true };
      if (!next.done && stream.lastExtras.length > 0) batch.logprobs = stream.lastExtras;
      return batch;
    } catch {
      // The error itself reaches the caller through prompt(); the stream just ends.
      this.requests.delete(requestId);
      return { text: "", done: true };
    }
  }

  async embed({ requestId, texts }: EmbedRequest): Promise<EmbedReply> {
    const controller = new AbortController();
    this.embeds.set(requestId, controller);
    try {
      const reply = packEmbeddings(await this.requireLlama().embed(texts, { signal: controller.signal }));
      return transfer(reply, [reply.packed.buffer as ArrayBuffer]);
    } finally {
      this.embeds.delete(requestId);
    }
  }

  stopRequest(requestId: number): void {
    this.embeds.get(requestId)?.abort();
    const request = this.requests.get(requestId);
    if (request === undefined) return;
    request.controller.abort();
    this.requests.delete(requestId);
  }

  stopScope(scopeId: string): void {
    const llama = this.llama;
    if (llama !== undefined && !llama.disposed && llama.slots.includes(scopeId)) llama.stopGeneration(scopeId);
  }

  async saveState(scopeId: string): Promise<Uint8Array> {
    const llama = this.requireLlama();
    const record = this.requireScope(scopeId);
    return movedToParent(await this.ensureSlot(llama, scopeId, record).slot.saveState({ meta: metaOf(record) }));
  }

  async loadState(scopeId: string, state: Uint8Array): Promise<void> {
    const llama = this.requireLlama();
    const record = this.requireScope(scopeId);
    await this.ensureSlot(llama, scopeId, record).slot.loadState(state);
    if (record.chat !== undefined) {
      record.chat = this.newChat(llama, record, savedChatOf(readStateMeta(state)) ?? []);
    }
  }

  async rebuild(scopeId: string, tokens: number[]): Promise<void> {
    const llama = this.requireLlama();
    const { slot } = this.ensureSlot(llama, scopeId, this.requireScope(scopeId));
    this.prefixes?.forget(scopeId); // evaluated in one piece now, not as the shared pieces
    try {
      await slot.setHistory(tokens as Token[]);
    } catch (error) {
      await llama.freeSlot(scopeId);
      throw error;
    }
  }

  async forkScope(originId: string, forkId: string, trackHistory: boolean): Promise<ForkResult> {
    const llama = this.requireLlama();
    const origin = this.requireScope(originId);
    if (!llama.slots.includes(originId))
      throw new LlamaScopeError(`Scope ${originId} holds no slot to copy: fork it from its saved state.`);
    const record: ScopeRecord = { config: origin.config, chat: undefined, shifts: [] };
    // The parent sends no chat call of the origin while it forks, so its session is the slot's.
    if (origin.chat !== undefined) record.chat = this.newChat(llama, record, origin.chat.items());
    this.scopes.set(forkId, record);
    try {
      await llama.forkSlot(originId, forkId, { contextShift: this.slotShift(record) });
    } catch (error) {
      this.scopes.delete(forkId);
      throw error;
    }
    if (!trackHistory) return {};
    return { history: llama.historyTokens(forkId), ...(record.chat === undefined ? {} : { chatHistory: record.chat.items() }) };
  }

  tokenCount(scopeId: string): number | null {
    const llama = this.requireLlama();
    return llama.slots.includes(scopeId) ? llama.tokenCount(scopeId) : null;
  }

  chatHistory(scopeId: string): ChatHistoryItem[] {
    return this.requireScope(scopeId).chat?.items() ?? [];
  }

  async freeze(scopeId: string): Promise<Uint8Array | null> {
    const llama = this.requireLlama();
    if (!llama.slots.includes(scopeId)) return null;
    // Shared with the parent, the bytes come back at the restore without a copy either way.
    const sharedMemory = this.options.sharedStates === true;
    const state = await llama.slot(scopeId).saveState({ meta: metaOf(this.requireScope(scopeId)), sharedMemory });
    await llama.freeSlot(scopeId);
    return movedToParent(state);
  }

  async restore(scopeId: string, state: Uint8Array): Promise<void> {
    const llama = this.requireLlama();
    const { slot } = this.ensureSlot(llama, scopeId, this.requireScope(scopeId));
    try {
      await slot.loadState(state);
    } catch (error) {
      await llama.freeSlot(scopeId);
      throw error;
    }
  }

  async freeScope(scopeId: string): Promise<boolean> {
    this.scopes.delete(scopeId);
    this.prefixes?.forget(scopeId);
    for (const [requestId, request] of this.requests) {
      if (request.scopeId !== scopeId) continue;
      request.controller.abort();
      // A streamed reply's text stays for its consumer's pulls (the last one removes it): a scope
      // freed right after its reply, as a choice's branch is, must not cut what was not pulled yet.
      if (request.stream === undefined) this.requests.delete(requestId);
    }
    const llama = this.llama;
    if (llama === undefined || llama.disposed || !llama.slots.includes(scopeId)) return false;
    await llama.freeSlot(scopeId);
    return true;
  }

  async dispose(): Promise<void> {
    this.disposal ??= (async () => {
      // The engine ends every generation at its next token and waits for the native calls in
      // progress to return before it frees anything; a load in progress stops first.
      this.loadAbort.abort(new DisposedError("The LlamaParent was disposed while its worker loaded the model."));
      this.progress.end();
      try {
        const llama = await this.loading?.catch(() => undefined);
        await llama?.dispose();
      } finally {
        this.ended();
      }
    })();
    return this.disposal;
  }

  alive(): true {
    return true;
  }

  /**
   * Sets a chat turn as the slot's prompt: the template's render of the history with it, less
   * what the slot holds already. A first turn on an empty slot first gets its shared prefixes
   * (evaluated apart, or loaded from the cache).
   */
  private async setUserTurn(
    llama: Llama,
    slot: SlotHandle,
    record: ScopeRecord,
    chat: ChatSession,
    text: string,
    signal: AbortSignal,
    functions?: ChatModelFunctions,
  ): Promise<{ stop: string[]; prefilled: number; filled: boolean }> {
    // Planned before anything changes: a turn that cannot fit is refused here, the slot untouched.
    const turn = chat.userTurn(text, slot.historyTokens(), functions);
    let { tokens, keep } = turn;
    let prefilled = 0;
    if (this.prefixes !== undefined && keep === 0 && slot.tokenCount() === 0 && !signal.aborted) {
      try {
        // A history only this scope has (cacheHistory: false) is not stored: only its system prompt is.
        const storeUpTo = record.config.cacheHistory === false ? chat.systemPrefix() : Infinity;
        const shared = await this.prefixes.fill(llama, slot.id, tokens, chat.sharedPrefixes(), storeUpTo);
        ({ tokens, keep, prefilled } = { tokens: tokens.slice(shared.held), keep: shared.held, prefilled: shared.evaluated });
      } catch (error) {
        chat.abandonTurn(); // the slot was freed meanwhile
        throw error;
      }
    }
    slot.setPromptTokens(tokens, { keep, ...(turn.erase === undefined ? {} : { erase: turn.erase }) });
    return { stop: turn.stop, prefilled, filled: keep > 0 && turn.keep === 0 };
  }

  /** Puts a slot that held nothing before a refused turn back to holding nothing. */
  private async emptySlot(slot: SlotHandle): Promise<void> {
    this.prefixes?.forget(slot.id);
    await slot.setHistory([]).catch(() => {}); // freed meanwhile: nothing to put back
  }

  /** The scope's slot, created on first use (the parent has reserved it). */
  private ensureSlot(llama: Llama, scopeId: string, record: ScopeRecord): { slot: SlotHandle; created: boolean } {
    const created = !llama.slots.includes(scopeId);
    if (created) llama.createSlot(scopeId, { contextShift: this.slotShift(record) });
    return { slot: llama.slot(scopeId), created };
  }

  /** The scope's context shift: a chat scope erases whole exchanges; every shift is reported. */
  private slotShift(record: ScopeRecord): SlotContextShift | false {
    const shift = record.config.contextShift ?? this.loadShift;
    if (shift === false) return false;
    // Looked up at each shift: loadState gives a chat scope a new session.
    const chatStrategy: ContextShiftStrategy = (request) => record.chat?.contextShift(request) ?? [];
    return { ...shift, ...(record.chat === undefined ? {} : { strategy: chatStrategy }), onShift: (erased) => record.shifts.push(erased) };
  }

  private newChat(llama: Llama, record: ScopeRecord, history: readonly ChatHistoryItem[]): ChatSession {
    const shift = resolveContextShift(record.config.contextShift ?? this.loadShift, llama.contextSize);
    const limits = shift === false ? undefined : { capacity: llama.contextSize - 1, shiftSize: shift.size };
    return new ChatSession(nodeModelOf(llama), history, limits);
  }

  private requireScope(scopeId: string): ScopeRecord {
    const record = this.scopes.get(scopeId);
    if (record === undefined) throw new LlamaScopeError(`The worker does not know scope ${scopeId}: it was disposed, or never opened.`);
    return record;
  }

  private requireLlama(): Llama {
    if (this.llama === undefined) throw new LlamaScopeError("The worker has no model yet: call init() first.");
    if (this.llama.disposed) throw new DisposedError("The model was disposed. Create a new LlamaParent.");
    return this.llama;
  }
}

/** What a scope's saved state carries besides the engine's bytes: a chat scope's history. */
function metaOf(record: ScopeRecord): ScopeStateMeta | undefined {
  return record.chat === undefined ? undefined : { chatTurns: record.chat.items() };
}

/**
 * States can be large; the parent takes the buffer instead of a copy (the engine made it for this
 * call). A state in shared memory needs neither: posting it shares it.
 */
function movedToParent(state: Uint8Array): Uint8Array {
  if (state.buffer instanceof SharedArrayBuffer) return state;
  const ownsBuffer = state.byteOffset === 0 && state.byteLength === state.buffer.byteLength;
  return ownsBuffer ? transfer(state, [state.buffer]) : state;
}

/** A prompt evaluated without a reply, as the result of a generation that made none. */
async function prefillResult(prefill: Promise<number>): Promise<GenerationResult> {
  return { text: "", tokenCount: 0, promptTokenCount: await prefill, finishReason: "maxTokens" };
}
