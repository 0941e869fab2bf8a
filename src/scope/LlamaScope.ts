import { nanoid } from "nanoid";
import type { ChatHistoryItem } from "../shared/ChatHistoryItem.js";
import type { GenerateOptions, GenerationResult } from "../engine/index.js";
import { resolveGenerateOptions } from "../engine/generate/GenerateOptions.js";
import { cloneProblem, isPlainObject } from "../shared/plainData.js";
import { SerialQueue } from "../shared/SerialQueue.js";
import { DisposedError, InvalidArgumentError } from "../shared/errors/index.js";
import type { PromptOptions, PromptResult, ScopeConfig, ScopeMode } from "../protocol/index.js";
import { splitFunctionOptions } from "./functionOptions.js";
import type { PromptStream } from "./PromptStream.js";
import { RemoteTextStream } from "./RemoteTextStream.js";
import { MergedChoiceStream, type ChoiceStream, type ChoicesResult } from "./ChoiceStream.js";
import { choiceCount, choiceOptions } from "./choiceOptions.js";
import type { ScopeHost } from "./ScopeHost.js";

/**
 * One conversation (a chat window) on a `LlamaParent`. It takes a slot at its first prompt. When
 * there are more scopes than slots, an idle scope may be frozen to let another prompt and is
 * restored, unchanged, at its next prompt. Prompts on one scope run in the order sent; prompts on
 * different scopes run at the same time and are decoded together.
 */
export class LlamaScope {
  /** Unique id; also the id of the scope's slot in the worker while it holds one. */
  readonly id: string = nanoid();
  readonly mode: ScopeMode;
  private disposal: Promise<void> | undefined;
  /** Chat calls, one at a time; see {@link inChatOrder}. */
  private readonly chatCalls = new SerialQueue();

  /**
   * Private, so its parameters (the parent's internals, typed with Comlink's DOM types) stay out
   * of the published types; `LlamaParent` makes scopes through `createScope`.
   */
  private constructor(
    private readonly host: ScopeHost<LlamaScope>,
    private readonly config: ScopeConfig,
  ) {
    this.mode = config.mode;
  }

  get disposed(): boolean {
    return this.disposal !== undefined;
  }

  /** Sends a prompt; resolves with the whole reply. */
  async sendPrompt(text: string, options?: PromptOptions): Promise<string> {
    return (await this.generate(text, options)).text;
  }

  /**
   * Like {@link sendPrompt}, but also says how many tokens the reply and the prompt took and why
   * the reply ended. In a chat scope, with `functions` the model may call one
   * (`finishReason: "functionCall"`, `functionCalls`); give the results back with
   * `generate("", { functionResults })` and the model goes on (docs/scopes.md, Function calls).
   */
  async generate(text: string, options?: PromptOptions): Promise<GenerationResult> {
    return generationResult(await this.startPrompt(text, options, false).result);
  }

  /**
   * Sends a prompt; yields the reply as it is decoded. Leaving the loop early stops the generation.
   * The stream's `result` settles with the reply's {@link GenerationResult} when it ends.
   */
  streamPrompt(text: string, options?: PromptOptions): PromptStream {
    // Leaving the loop aborts like the caller's own signal would, whether the prompt was sent yet or not.
    const leave = new AbortController();
    const own = options?.signal;
    // Spreading would turn a class instance into a plain object and hide it from the check.
    const valid = options === undefined || (isPlainObject(options) && (own === undefined || own instanceof AbortSignal));
    // Options that are not valid go on unchanged, to be refused with InvalidArgumentError like any prompt's.
    const withLeave = valid ? { ...options, signal: own === undefined ? leave.signal : AbortSignal.any([own, leave.signal]) } : options;
    const { requestId, sent, result } = this.startPrompt(text, withLeave, true);
    return new RemoteTextStream(this.host, requestId, sent, result.then(generationResult), () => leave.abort());
  }

  /**
   * `n` replies to one prompt (OpenAI's `n`): the prompt is evaluated once, then the conversation
   * is forked into `n` branches that reply together (decoded in lock-step, one batch per token).
   * The scope continues with choice 0, as if it had generated that reply alone; the other branches
   * are freed. With a `seed`, choice i samples with `seed + i`, so the choices differ at
   * temperature > 0 and are the same for the same seed; at temperature 0 they are all alike.
   * Branches beyond the free slots start frozen and wait for a slot like any scope (see
   * docs/scopes.md, Several choices). `n` is 1 to 128; 1 is a plain prompt.
   */
  async generateChoices(text: string, n: number, options?: GenerateOptions): Promise<ChoicesResult> {
    return this.runChoices(text, n, options, undefined);
  }

  /**
   * Like {@link generateChoices}, yielding each choice's reply as it is decoded, in pieces tagged
   * with their choice's index. Leaving the loop early stops every choice.
   */
  streamChoices(text: string, n: number, options?: GenerateOptions): ChoiceStream {
    const leave = new AbortController();
    const own = options?.signal;
    const valid = options === undefined || (isPlainObject(options) && (own === undefined || own instanceof AbortSignal));
    const withLeave = valid ? { ...options, signal: own === undefined ? leave.signal : AbortSignal.any([own, leave.signal]) } : options;
    let started: (streams: PromptStream[]) => void = () => {};
    const branches = new Promise<PromptStream[]>((resolve) => (started = resolve));
    const result = this.runChoices(text, n, withLeave, started);
    // Failed before the branches streamed: the stream ends with the result's error.
    const streams = Promise.race([branches, result.then(() => [] as PromptStream[])]);
    return new MergedChoiceStream(streams, result, () => leave.abort());
  }

  /**
   * Tokens in the scope's conversation now, after the calls sent before (what context shifts
   * erased is gone). A frozen scope's count comes from the parent, without restoring it.
   */
  tokenCount(): Promise<number> {
    return this.guard(() => this.inChatOrder(() => this.host.tokenCount(this.id)));
  }

  /**
   * A chat scope's history as its slot holds it now, after the calls sent before: the system
   * prompt, then user and model items, with the function calls replies made and their results
   * (the oldest exchanges are gone after context shifts).
   * Start another scope from it with `parent.getScope({ mode: "chat", history })`.
   * @throws {InvalidArgumentError} for a completion scope.
   */
  getChatHistory(): Promise<ChatHistoryItem[]> {
    return this.guard(async () => {
      if (this.mode !== "chat")
        throw new InvalidArgumentError('getChatHistory is for chat scopes: create one with getScope({ mode: "chat" }).');
      return this.inChatOrder(() => this.host.call((api) => api.chatHistory(this.id)));
    });
  }

  /** Ends the generation this scope is running now; its reply so far is returned and kept. */
  stop(): void {
    this.assertUsable();
    this.host.call((api) => api.stopScope(this.id)).catch(() => {});
  }

  /**
   * The conversation as bytes, in the format of `Llama.saveState` (after the prompts already
   * sent). Revive it with `parent.getScope({ state })`. A frozen scope's bytes are in the parent,
   * so this works even after the worker crashed.
   */
  saveState(): Promise<Uint8Array> {
    return this.guard(() => this.inChatOrder(() => this.host.saveState(this.id)));
  }

  /**
   * Replaces the conversation with saved bytes; rejects with `StateFormatError`/`StateMismatchError`,
   * changing nothing. A chat scope takes the chat turns saved with the bytes (none: it starts its
   * template history anew).
   */
  loadState(state: Uint8Array): Promise<void> {
    return this.guard(() =>
      this.inChatOrder(async () => {
        await this.host.withSlot(this.id, (api) => api.loadState(this.id, state));
        this.host.stateLoaded(this.id, state);
      }),
    );
  }

  /**
   * A new scope holding a copy of this one's conversation as it is after the calls sent before:
   * for branching a conversation or regenerating a reply. The copy has this scope's mode, context
   * shift and chat history, and from then on each continues on its own: given the same prompt at
   * temperature 0, both reply alike. Works whether this scope holds a slot or is frozen: when it
   * holds one and another slot is free, the engine copies the KV cache into it at once; otherwise
   * the copy starts frozen, from this scope's saved bytes, and is restored at its first call.
   */
  fork(): Promise<LlamaScope> {
    return this.guard(() => this.inChatOrder(() => this.host.fork(this.id, this.config)));
  }

  /** Stops the scope's generation, frees its slot and deletes its frozen bytes. Idempotent. */
  dispose(): Promise<void> {
    this.disposal ??= this.host.disposeScope(this.id);
    return this.disposal;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /**
   * The prompt once ("prefill"), n − 1 forks, then n replies ("reply"). `streaming` receives the
   * branches' streams once they started; undefined: no streams.
   */
  private runChoices(
    text: string,
    n: number,
    options: GenerateOptions | undefined,
    streaming: ((streams: PromptStream[]) => void) | undefined,
  ): Promise<ChoicesResult> {
    return this.guard(async () => {
      const count = choiceCount(n);
      resolveGenerateOptions(options); // bad options fail before the prompt is evaluated
      if (count === 1 && streaming === undefined) {
        const result = generationResult(await this.startPrompt(text, options, false).result);
        return { choices: [result], promptTokenCount: result.promptTokenCount, tokenCount: result.tokenCount };
      }
      return this.inChatOrder(async () => {
        const prefill = await this.startPrompt(text, options, false, "prefill", false).result;
        const forks: LlamaScope[] = [];
        try {
          for (let i = 1; i < count; i++) forks.push(await this.host.fork(this.id, this.config));
          const started = [this as LlamaScope, ...forks].map((scope, i) =>
            scope.startPrompt("", choiceOptions(options, i), streaming !== undefined, "reply", false),
          );
          const results = started.map((run) => run.result.then(generationResult));
          // Leaving the merged stream aborts every branch through the options' signal.
          streaming?.(started.map((run, i) => new RemoteTextStream(this.host, run.requestId, run.sent, results[i]!, () => {})));
          const choices = await Promise.all(results);
          return {
            choices: choices.map((choice) => ({ ...choice, promptTokenCount: 0 })),
            promptTokenCount: prefill.promptTokenCount,
            tokenCount: choices.reduce((sum, choice) => sum + choice.tokenCount, 0),
          };
        } finally {
          await Promise.all(forks.map((fork) => fork.dispose()));
        }
      });
    });
  }

  private startPrompt(
    text: string,
    promptOptions: PromptOptions | undefined,
    stream: boolean,
    /** A prompt in two calls (`generateChoices`); see `PromptRequest.phase`. */
    phase?: "prefill" | "reply",
    /** False inside a chat call already in order (`generateChoices`). */
    ordered = true,
  ): { requestId: number; sent: Promise<void>; result: Promise<PromptResult> } {
    const requestId = this.host.nextRequestId();
    let markSent = (): void => {};
    const sent = new Promise<void>((resolve) => (markSent = resolve));
    const result = this.guard(async () => {
      if (typeof text !== "string") throw new InvalidArgumentError(`A prompt must be a string, not ${typeof text}.`);
      const { generate: options, functions } = splitFunctionOptions(promptOptions, text, this.mode);
      resolveGenerateOptions(options); // bad options fail here, before crossing to the worker
      // A prompt too long for any slot would cost the worker seconds per megabyte to tokenize (and
      // the copy to it): refused here, in the caller's thread, before it takes a slot. A chat turn
      // adds template text to it, so the whole slot is the bound for both modes.
      this.host.assertPromptFits(text);
      const { signal, ...wireOptions } = options ?? {};
      // Checked values can still be what structured cloning refuses (a Proxy from a reactive framework).
      const uncloneable = cloneProblem(wireOptions, "options");
      if (uncloneable !== undefined)
        throw new InvalidArgumentError(
          `Prompt options are copied to the engine, so they must be plain data, but ${uncloneable}. Pass plain objects.`,
        );
      throwIfAborted(signal); // before it takes a slot (and maybe freezes another scope for it)
      const unforward = signal === undefined ? undefined : this.forwardAbort(signal, requestId);
      try {
        const inOrder = <T>(call: () => Promise<T>): Promise<T> => (ordered ? this.inChatOrder(call) : call());
        const reply = await inOrder(() =>
          this.host.withSlot(this.id, (api) => {
            // Checked again at sending: the prompt may have waited for a slot while the signal fired,
            // or for the model, whose bound the first check did not know yet.
            throwIfAborted(signal);
            this.host.assertPromptFits(text);
            const call = api.prompt({
              scopeId: this.id,
              requestId,
              text,
              options: wireOptions,
              ...(functions === undefined ? {} : { functions }),
              stream,
              trackHistory: this.host.trackHistory(),
              ...(phase === undefined ? {} : { phase }),
            });
            markSent();
            return call;
          }),
        );
        this.host.promptDone(this.id, reply);
        return reply;
      } finally {
        unforward?.();
      }
    });
    result.finally(markSent).catch(() => {});
    return { requestId, sent, result };
  }

  /**
   * An AbortSignal cannot cross threads: its abort becomes a stopRequest message. One sent
   * before the prompt is a no-op in the worker; the prompt is then not sent at all.
   */
  private forwardAbort(signal: AbortSignal, requestId: number): () => void {
    const stop = () => void this.host.call((api) => api.stopRequest(requestId)).catch(() => {});
    signal.addEventListener("abort", stop, { once: true });
    return () => signal.removeEventListener("abort", stop);
  }

  /**
   * A chat turn is rendered against the previous reply, and a saved state records the turns, so a
   * chat scope sends its calls one at a time, each after the previous one has settled. Completion
   * scopes send at once; the engine keeps their order.
   */
  private inChatOrder<T>(call: () => Promise<T>): Promise<T> {
    return this.mode === "chat" ? this.chatCalls.run(call) : call();
  }

  /** Runs a call, turning any failure after this scope was disposed into DisposedError. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    this.assertUsable();
    try {
      return await call();
    } catch (error) {
      if (this.disposed) throw new DisposedError(`Scope ${this.id} was disposed while this call was in flight.`, { cause: error });
      this.host.callFailed(error);
      throw error;
    }
  }

  private assertUsable(): void {
    if (this.disposed) throw new DisposedError(`Scope ${this.id} was disposed. Get a new one with parent.getScope().`);
  }
}

/** What a prompt's caller sees of the worker's result. */
function generationResult({
  text,
  tokenCount,
  promptTokenCount,
  finishReason,
  logprobs,
  stopString,
  functionCalls,
}: PromptResult): GenerationResult {
  return {
    text,
    tokenCount,
    promptTokenCount,
    finishReason,
    ...(logprobs === undefined ? {} : { logprobs }),
    ...(stopString === undefined ? {} : { stopString }),
    ...(functionCalls === undefined ? {} : { functionCalls }),
  };
}

/** Like fetch: a signal aborted before the prompt starts rejects with an AbortError, and nothing joins the conversation. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw new DOMException("The prompt was aborted before it started; it was not added to the conversation.", "AbortError");
}
