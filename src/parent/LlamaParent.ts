import { Worker } from "node:worker_threads";
import { wrap, type Remote } from "comlink";
import { EventEmitter } from "eventemitter3";
import { DisposedError, InvalidArgumentError, LlamaScopeError, reviveError, WorkerCrashedError } from "../errors/index.js";
import type { ModelReady, WorkerApi } from "../protocol/index.js";
import { LlamaScope, type ScopeOptions } from "../scope/LlamaScope.js";
import type { ScopeHost } from "../scope/ScopeHost.js";
import { nodeEndpoint } from "../transport/nodeEndpoint.js";
import { InFlightCalls } from "./InFlightCalls.js";
import { LlamaLoad } from "./LlamaLoad.js";

/** Events of a {@link LlamaParent}, with their arguments. */
export interface LlamaParentEvents {
  /** The model is loaded and scopes can prompt. */
  ready: [info: ModelReady];
  scopeCreated: [scopeId: string];
  /** A scope's first prompt gave it a slot. */
  slotCreated: [scopeId: string];
  /** A disposed scope's slot went back to the pool. */
  slotFreed: [scopeId: string];
  scopeDisposed: [scopeId: string];
  /** The worker died; every pending call has been rejected with this error. */
  error: [error: WorkerCrashedError];
  disposed: [];
}

/** How long `dispose()` lets the worker free the model before terminating it anyway. */
const WORKER_DISPOSE_TIMEOUT_MS = 10_000;

/**
 * Runs the engine in a worker thread so the caller's event loop never blocks on the model, and
 * hands out {@link LlamaScope}s: one per conversation.
 *
 * ```ts
 * const parent = new LlamaParent(new LlamaLoad({ modelPath: "model.gguf", slots: 4 }));
 * await parent.init();
 * const chat = parent.getScope();
 * console.log(await chat.sendPrompt("Hello"));
 * await parent.dispose();
 * ```
 */
export class LlamaParent extends EventEmitter<LlamaParentEvents> {
  private thread: Worker | undefined;
  private api: Remote<WorkerApi> | undefined;
  private readonly inFlight = new InFlightCalls();
  private initialization: Promise<ModelReady> | undefined;
  private disposal: Promise<void> | undefined;
  private crash: WorkerCrashedError | undefined;
  private requestCounter = 0;
  private info: ModelReady | undefined;
  private readonly host: ScopeHost = {
    call: (use) => this.call(use),
    nextRequestId: () => ++this.requestCounter,
    slotCreated: (scopeId) => this.emit("slotCreated", scopeId),
    scopeDisposed: (scopeId, freedSlot) => {
      if (freedSlot) this.emit("slotFreed", scopeId);
      this.emit("scopeDisposed", scopeId);
    },
  };

  constructor(readonly load: LlamaLoad) {
    super();
    if (!(load instanceof LlamaLoad)) throw new InvalidArgumentError("LlamaParent takes a LlamaLoad: new LlamaParent(new LlamaLoad({ modelPath })).");
  }

  /**
   * Starts the worker and loads the model; resolves when scopes can prompt. Calling it again
   * returns the same promise.
   * @throws {ModelLoadError} when the model cannot be loaded (the worker is ended).
   */
  init(): Promise<ModelReady> {
    if (this.disposal !== undefined) return Promise.reject(new DisposedError("This LlamaParent was disposed. Create a new one."));
    this.initialization ??= this.start();
    return this.initialization;
  }

  /** What the worker loaded, once `init()` has resolved. */
  get modelInfo(): ModelReady | undefined {
    return this.info;
  }

  /** The worker thread, for diagnostics (resource limits, thread id). Do not post to it. */
  get worker(): Worker | undefined {
    return this.thread;
  }

  get disposed(): boolean {
    return this.disposal !== undefined;
  }

  /**
   * A new conversation with a unique id. It takes a slot at its first prompt.
   * @throws {DisposedError} after `dispose()`. @throws {WorkerCrashedError} after the worker died.
   */
  getScope(options?: ScopeOptions): LlamaScope {
    this.assertUsable();
    if (this.initialization === undefined) throw new LlamaScopeError("Call await parent.init() before getScope().");
    const scope = new LlamaScope(this.host, options);
    this.emit("scopeCreated", scope.id);
    return scope;
  }

  /**
   * Rejects every call in flight with {@link DisposedError}, frees the model and all slots, and
   * ends the worker. Idempotent; afterwards the process can exit on its own.
   */
  dispose(): Promise<void> {
    this.disposal ??= (async () => {
      this.inFlight.failAll(new DisposedError("The LlamaParent was disposed while this call was in flight."));
      if (this.api !== undefined && this.crash === undefined)
        await withTimeout(this.api.dispose(), WORKER_DISPOSE_TIMEOUT_MS).catch(() => {});
      await this.thread?.terminate();
      this.emit("disposed");
    })();
    return this.disposal;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private async start(): Promise<ModelReady> {
    const worker = new Worker(new URL("../worker/worker.js", import.meta.url));
    this.thread = worker;
    worker.on("error", (error) => this.workerDied(error));
    worker.on("exit", (code) => this.workerDied(code));
    const api = wrap<WorkerApi>(nodeEndpoint(worker));
    this.api = api;
    try {
      this.info = await this.send(() => api.init(this.load.options));
    } catch (error) {
      await this.dispose();
      throw error;
    }
    this.emit("ready", this.info);
    return this.info;
  }

  private async call<T>(use: (api: Remote<WorkerApi>) => Promise<T>): Promise<T> {
    if (this.info === undefined) await this.init(); // once ready, a call (a pull per chunk) skips this
    return this.send(() => use(this.api!));
  }

  /** Sends one call, failing it at once if the worker dies, with llama-scope's error classes revived. */
  private send<T>(call: () => Promise<T>): Promise<T> {
    return this.inFlight.track(call).catch((error: unknown) => {
      throw reviveError(error);
    });
  }

  private workerDied(reason: Error | number): void {
    if (this.disposal !== undefined || this.crash !== undefined) return;
    const how = typeof reason === "number" ? `exited with code ${reason}` : `crashed: ${reason.message}`;
    this.crash = new WorkerCrashedError(
      `The llama-scope worker thread ${how}. Every pending call was rejected; create a new LlamaParent to go on.`,
      typeof reason === "number" ? undefined : { cause: reason },
    );
    this.inFlight.failAll(this.crash);
    this.emit("error", this.crash);
  }

  private assertUsable(): void {
    if (this.disposal !== undefined) throw new DisposedError("This LlamaParent was disposed. Create a new one.");
    if (this.crash !== undefined) throw this.crash;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
