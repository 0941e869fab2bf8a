import { nanoid } from "nanoid";
import type { GenerateOptions, GenerationResult } from "../engine/index.js";
import { resolveGenerateOptions } from "../engine/GenerateOptions.js";
import { DisposedError, InvalidArgumentError } from "../errors/index.js";
import type { PromptResult, ScopeMode } from "../protocol/index.js";
import { RemoteTextStream } from "./RemoteTextStream.js";
import type { ScopeHost } from "./ScopeHost.js";

/** Options of `LlamaParent.getScope`. */
export interface ScopeOptions {
  /**
   * `"completion"` (default) appends each prompt's text to the conversation as given, exactly as
   * the direct `Llama` API does: what the model sees is what you sent, and base models work.
   * `"chat"` renders each prompt as a user turn with the model's chat template (node-llama-cpp's
   * chat wrappers; their general fallback for models without one) and ends replies at the end of
   * the model's turn.
   */
  mode?: ScopeMode;
}

/**
 * One conversation (a chat window) on a `LlamaParent`. It has no slot until its first prompt and
 * keeps that slot until it is disposed. Prompts on one scope run in the order sent; prompts on
 * different scopes run at the same time and are decoded together.
 */
export class LlamaScope {
  /** Unique id; also the id of the scope's slot in the worker. */
  readonly id: string = nanoid();
  readonly mode: ScopeMode;
  private disposal: Promise<void> | undefined;

  /** @internal Use `LlamaParent.getScope()`. */
  constructor(
    private readonly host: ScopeHost,
    options: ScopeOptions = {},
  ) {
    if (options === null || typeof options !== "object") throw new InvalidArgumentError("Scope options must be an object, e.g. { mode: \"chat\" }.");
    const mode = options.mode ?? "completion";
    if (mode !== "chat" && mode !== "completion") throw new InvalidArgumentError(`mode must be "chat" or "completion", not ${String(mode)}.`);
    this.mode = mode;
  }

  get disposed(): boolean {
    return this.disposal !== undefined;
  }

  /** Sends a prompt; resolves with the whole reply. */
  async sendPrompt(text: string, options?: GenerateOptions): Promise<string> {
    return (await this.generate(text, options)).text;
  }

  /** Like {@link sendPrompt}, but also says how many tokens were generated and why the reply ended. */
  async generate(text: string, options?: GenerateOptions): Promise<GenerationResult> {
    const { text: reply, tokenCount, finishReason } = await this.startPrompt(text, options, false).result;
    return { text: reply, tokenCount, finishReason };
  }

  /** Sends a prompt; yields the reply as it is decoded. Leaving the loop early stops the generation. */
  streamPrompt(text: string, options?: GenerateOptions): AsyncIterableIterator<string> {
    const { requestId, result } = this.startPrompt(text, options, true);
    return new RemoteTextStream(this.host, requestId, result);
  }

  /** Ends the generation this scope is running now; its reply so far is returned and kept. */
  stop(): void {
    this.assertUsable();
    this.host.call((api) => api.stopScope(this.id)).catch(() => {});
  }

  /** The conversation as bytes, in the format of `Llama.saveState` (after the prompts already sent). */
  saveState(): Promise<Uint8Array> {
    return this.guard(() => this.host.call((api) => api.saveState(this.id)));
  }

  /** Replaces the conversation with saved bytes; rejects with `StateFormatError`/`StateMismatchError`, changing nothing. */
  loadState(state: Uint8Array): Promise<void> {
    return this.guard(() => this.host.call((api) => api.loadState(this.id, state)));
  }

  /** Stops the scope's generation, frees its slot. Idempotent. */
  dispose(): Promise<void> {
    this.disposal ??= this.host
      .call((api) => api.freeScope(this.id))
      .catch(() => false) // a disposed or crashed parent has nothing left to free
      .then((freed) => this.host.scopeDisposed(this.id, freed));
    return this.disposal;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private startPrompt(text: string, options: GenerateOptions | undefined, stream: boolean): { requestId: number; result: Promise<PromptResult> } {
    const requestId = this.host.nextRequestId();
    const result = this.guard(() => {
      if (typeof text !== "string") throw new InvalidArgumentError(`A prompt must be a string, not ${typeof text}.`);
      resolveGenerateOptions(options); // bad options fail here, before crossing to the worker
      const { signal, ...wireOptions } = options ?? {};
      const aborted = signal?.aborted ?? false;
      const call = this.host.call((api) => api.prompt({ scopeId: this.id, requestId, text, mode: this.mode, options: wireOptions, stream, aborted }));
      if (signal !== undefined) this.forwardAbort(signal, requestId, call);
      return call.then((reply) => {
        if (reply.slotCreated) this.host.slotCreated(this.id);
        return reply;
      });
    });
    return { requestId, result };
  }

  /** An AbortSignal cannot cross threads: its abort becomes a stopRequest message. */
  private forwardAbort(signal: AbortSignal, requestId: number, call: Promise<unknown>): void {
    if (signal.aborted) return; // sent as part of the request
    const stop = () => void this.host.call((api) => api.stopRequest(requestId)).catch(() => {});
    signal.addEventListener("abort", stop, { once: true });
    call.finally(() => signal.removeEventListener("abort", stop)).catch(() => {});
  }

  /** Runs a call, turning any failure after this scope was disposed into DisposedError. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    this.assertUsable();
    try {
      return await call();
    } catch (error) {
      if (this.disposed) throw new DisposedError(`Scope ${this.id} was disposed while this call was in flight.`, { cause: error });
      throw error;
    }
  }

  private assertUsable(): void {
    if (this.disposed) throw new DisposedError(`Scope ${this.id} was disposed. Get a new one with parent.getScope().`);
  }
}
