import { transfer } from "comlink";
import type { ChatHistoryItem } from "node-llama-cpp";
import { Llama, readStateMeta } from "../engine/index.js";
import { TextStream } from "../engine/TextStream.js";
import { DisposedError, LlamaScopeError } from "../errors/index.js";
import type {
  ModelReady,
  PromptRequest,
  PromptResult,
  ScopeMode,
  ScopeStateMeta,
  StreamBatch,
  WireLoadOptions,
  WorkerApi,
} from "../protocol/index.js";
import { ChatFormatter } from "./ChatFormatter.js";

interface RunningRequest {
  scopeId: string;
  controller: AbortController;
  stream: TextStream | undefined;
}

/**
 * The worker side of `LlamaParent`: one engine, one slot per resident scope (the slot id is the
 * scope id). Which scopes hold slots is the parent's decision; this side does what it is told.
 * Requests of one scope reach the engine in arrival order, which the engine's slot queue keeps.
 */
export class ScopeService implements WorkerApi {
  private llama: Llama | undefined;
  private readonly requests = new Map<number, RunningRequest>();
  private readonly chats = new Map<string, ChatFormatter>();

  async init(options: WireLoadOptions): Promise<ModelReady> {
    if (this.llama !== undefined) throw new LlamaScopeError("The worker is already initialized.");
    const start = performance.now();
    this.llama = await Llama.load(options);
    const { modelInfo, slotCapacity, contextSize, threads, stateIdentity } = this.llama;
    return { modelName: modelInfo.name, slots: slotCapacity, contextSize, threads, stateIdentity, loadMs: performance.now() - start };
  }

  async prompt(request: PromptRequest): Promise<PromptResult> {
    const { scopeId, requestId } = request;
    const controller = new AbortController();
    if (request.aborted) controller.abort();
    const stream = request.stream ? new TextStream(() => controller.abort()) : undefined;
    this.requests.set(requestId, { scopeId, controller, stream });
    try {
      const llama = this.requireLlama();
      const slotCreated = this.ensureSlot(llama, scopeId);
      const chat = request.mode === "chat" ? this.chatFor(llama, scopeId) : undefined;
      let stop = request.options.stop ?? [];
      if (chat === undefined) llama.setPrompt(request.text);
      else {
        const turn = chat.userTurn(request.text);
        llama.setPromptTokens(turn.tokens);
        stop = [...stop, ...turn.stop];
      }
      const result = await llama
        .generate({ ...request.options, stop, signal: controller.signal }, stream === undefined ? undefined : (text) => stream.push(text))
        .catch((error: unknown) => {
          chat?.abandonTurn();
          throw error;
        });
      chat?.modelReplied(result.text);
      stream?.end();
      return { ...result, slotCreated };
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
      return { text: next.value ?? "", done: next.done === true };
    } catch {
      // The error itself reaches the caller through prompt(); the stream just ends.
      this.requests.delete(requestId);
      return { text: "", done: true };
    }
  }

  stopRequest(requestId: number): void {
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
    this.ensureSlot(llama, scopeId);
    return movedToParent(await llama.saveState({ meta: this.metaOf(scopeId) }));
  }

  async loadState(scopeId: string, state: Uint8Array, mode: ScopeMode): Promise<void> {
    const llama = this.requireLlama();
    this.ensureSlot(llama, scopeId);
    await llama.loadState(state);
    if (mode === "chat") this.chatFor(llama, scopeId).reset(chatTurnsOf(state));
  }

  async freeze(scopeId: string): Promise<Uint8Array | null> {
    const llama = this.requireLlama();
    if (!llama.slots.includes(scopeId)) return null;
    llama.setSlot(scopeId);
    const state = await llama.saveState({ meta: this.metaOf(scopeId) });
    await llama.freeSlot(scopeId);
    return movedToParent(state);
  }

  async restore(scopeId: string, state: Uint8Array, mode: ScopeMode): Promise<void> {
    const llama = this.requireLlama();
    llama.createSlot(scopeId);
    try {
      llama.setSlot(scopeId);
      await llama.loadState(state);
      // A swapped scope kept its chat history here; a revived one brings it in the state.
      if (mode === "chat" && !this.chats.has(scopeId)) this.chatFor(llama, scopeId).reset(chatTurnsOf(state));
    } catch (error) {
      this.chats.delete(scopeId);
      await llama.freeSlot(scopeId);
      throw error;
    }
  }

  async freeScope(scopeId: string): Promise<boolean> {
    this.chats.delete(scopeId);
    for (const [requestId, request] of this.requests) if (request.scopeId === scopeId) this.stopRequest(requestId);
    const llama = this.llama;
    if (llama === undefined || llama.disposed || !llama.slots.includes(scopeId)) return false;
    await llama.freeSlot(scopeId);
    return true;
  }

  async dispose(): Promise<void> {
    await this.llama?.dispose();
  }

  /** Creates the scope's slot on first use (the parent has reserved it); the next engine call binds to it. */
  private ensureSlot(llama: Llama, scopeId: string): boolean {
    const created = !llama.slots.includes(scopeId);
    if (created) llama.createSlot(scopeId);
    llama.setSlot(scopeId);
    return created;
  }

  private metaOf(scopeId: string): ScopeStateMeta | undefined {
    const chat = this.chats.get(scopeId);
    return chat === undefined ? undefined : { chatTurns: [...chat.turns] };
  }

  private chatFor(llama: Llama, scopeId: string): ChatFormatter {
    let chat = this.chats.get(scopeId);
    if (chat === undefined) this.chats.set(scopeId, (chat = new ChatFormatter(llama.model)));
    return chat;
  }

  private requireLlama(): Llama {
    if (this.llama === undefined) throw new LlamaScopeError("The worker has no model yet: call init() first.");
    if (this.llama.disposed) throw new DisposedError("The model was disposed. Create a new LlamaParent.");
    return this.llama;
  }
}

/**
 * The chat turns saved with a state (already loaded, so its header is intact). Anything but the
 * user and model text turns a chat scope writes counts as no history.
 */
function chatTurnsOf(state: Uint8Array): ChatHistoryItem[] | undefined {
  const turns = (readStateMeta(state) as ScopeStateMeta | undefined)?.chatTurns;
  const isTurn = (item: ChatHistoryItem) =>
    (item?.type === "user" && typeof item.text === "string") ||
    (item?.type === "model" && Array.isArray(item.response) && item.response.every((part) => typeof part === "string"));
  return Array.isArray(turns) && turns.every(isTurn) ? turns : undefined;
}

/** States can be large; the parent takes the buffer instead of a copy (the engine made it for this call). */
function movedToParent(state: Uint8Array): Uint8Array {
  const ownsBuffer = state.byteOffset === 0 && state.byteLength === state.buffer.byteLength;
  return ownsBuffer ? transfer(state, [state.buffer as ArrayBuffer]) : state;
}
