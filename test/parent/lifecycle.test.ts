import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  DisposedError,
  InvalidArgumentError,
  Llama,
  LlamaLoad,
  LlamaParent,
  ModelLoadError,
  NotInitializedError,
  StateFormatError,
  WorkerCrashedError,
  type LlamaScope,
} from "../../src/index.js";
import { decodeState } from "../../src/state/StateFormat.js";
import { startParent } from "../support/parents.js";
import { runFixture } from "../support/runFixture.js";
import { testLoadOptions } from "../support/testModel.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PROMPT = "Once upon a time";

describe("streaming and cancellation", () => {
  let parent: LlamaParent;
  let fullReply: string;
  beforeAll(async () => {
    parent = await startParent({ slots: 3 });
    const reference = parent.getScope();
    fullReply = await reference.sendPrompt(PROMPT, { maxTokens: 400 });
    await reference.dispose();
  });
  afterAll(() => parent.dispose());

  async function withScope<T>(use: (scope: LlamaScope) => Promise<T>): Promise<T> {
    const scope = parent.getScope();
    try {
      return await use(scope);
    } finally {
      await scope.dispose();
    }
  }

  test("streamed chunks concatenate to the sendPrompt text", async () => {
    expect(fullReply.length).toBeGreaterThan(200);
    const chunks = await withScope(async (scope) => {
      const received: string[] = [];
      for await (const chunk of scope.streamPrompt(PROMPT, { maxTokens: 400 })) received.push(chunk);
      return received;
    });
    expect(chunks.join("")).toBe(fullReply);
    expect(chunks.length).toBeGreaterThan(1);
  });

  test("a slow consumer gets few large chunks, not a message per token", async () => {
    const { chunks, tokenCount } = await withScope(async (scope) => {
      const received: string[] = [];
      const stream = scope.streamPrompt(PROMPT, { maxTokens: 400 });
      for await (const chunk of stream) {
        received.push(chunk);
        await sleep(25);
      }
      return { chunks: received, tokenCount: (await stream.result).tokenCount };
    });
    expect(chunks.join("")).toBe(fullReply);
    // The model decodes far faster than one token per 25 ms (~400 tokens in well under a second
    // here, a few seconds on a loaded machine): each pull takes every token decoded since the last.
    expect(chunks.length).toBeLessThan(tokenCount / 4);
  });

  /** Tokens in a scope's history, from its saved state's size (≈ 660 bytes per token here). */
  async function historySize(scope: LlamaScope): Promise<number> {
    return (await scope.saveState()).length;
  }

  test("breaking out of for-await stops the generation", async () => {
    const [broken, full] = await Promise.all([
      withScope(async (scope) => {
        for await (const chunk of scope.streamPrompt(PROMPT, { maxTokens: 400 })) if (chunk.length > 0) break;
        return historySize(scope);
      }),
      withScope(async (scope) => {
        await scope.sendPrompt(PROMPT, { maxTokens: 400 });
        return historySize(scope);
      }),
    ]);
    expect(broken).toBeLessThan(full / 2);
  });

  test("stop() ends the scope's current generation and returns the reply so far", async () => {
    const text = await withScope(async (scope) => {
      let seen = "";
      for await (const chunk of scope.streamPrompt(PROMPT, { maxTokens: 400 })) {
        if (seen.length === 0) scope.stop();
        seen += chunk;
      }
      return seen;
    });
    expect(fullReply.startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(fullReply.length / 2);
  });

  test("an AbortSignal ends the reply early; the scope goes on afterwards", async () => {
    await withScope(async (scope) => {
      const controller = new AbortController();
      const reply = scope.sendPrompt(PROMPT, { maxTokens: 400, signal: controller.signal });
      await sleep(1);
      controller.abort();
      const text = await reply;
      expect(fullReply.startsWith(text)).toBe(true);
      expect(text.length).toBeLessThan(fullReply.length);
      const before = await scope.tokenCount();
      await expect(scope.sendPrompt("\nThen", { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
      expect(await scope.tokenCount()).toBe(before); // the aborted prompt did not join the conversation
      // It goes on as a fresh slot given the same history would (the reply was cut at a moment no one chose).
      const { tokens, pending } = decodeState(await scope.saveState());
      const reference = await Llama.load(testLoadOptions({ slots: 1 }));
      try {
        reference.createSlot("fresh");
        reference.setSlot("fresh");
        await reference.setHistory([...tokens, ...pending]);
        reference.setPrompt("\nThen");
        expect(await scope.sendPrompt("\nThen", { maxTokens: 8 })).toBe(await reference.generateCompleteText({ maxTokens: 8 }));
      } finally {
        await reference.dispose();
      }
    });
  });

  test("disposing a scope mid-generation rejects its prompt with DisposedError and frees the slot", async () => {
    const scope = parent.getScope();
    const freed = new Promise<string>((resolve) => parent.once("slotFreed", resolve));
    const reply = scope.sendPrompt(PROMPT, { maxTokens: 2000 });
    const rejected = expect(reply).rejects.toBeInstanceOf(DisposedError);
    await sleep(2);
    await scope.dispose();
    await rejected;
    expect(await freed).toBe(scope.id);
    expect(scope.disposed).toBe(true);
    await expect(scope.sendPrompt("x")).rejects.toBeInstanceOf(DisposedError);
    await expect(scope.saveState()).rejects.toBeInstanceOf(DisposedError);
    await expect(scope.streamPrompt("x").next()).rejects.toBeInstanceOf(DisposedError);
    expect(() => scope.stop()).toThrow(DisposedError);
    await scope.dispose(); // idempotent
  });

  test("errors keep their class across the thread boundary", async () => {
    await withScope(async (scope) => {
      await expect(scope.loadState(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(StateFormatError);
      await expect(scope.sendPrompt("x", { maxTokens: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(scope.sendPrompt(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(() => parent.getScope({ mode: "poetry" as never })).toThrow(InvalidArgumentError);
      await expect(scope.streamPrompt("x", { signal: "soon" as never }).next()).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(scope.streamPrompt("x", 7 as never).next()).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(() => parent.getScope({ state: "bytes" as never })).toThrow(StateFormatError);
      const reply = await scope.sendPrompt(PROMPT, { maxTokens: 8 });
      expect(reply.length).toBeGreaterThan(0);
      expect(fullReply.startsWith(reply)).toBe(true); // the refused calls left nothing behind
    });
  });
});

describe("parent lifecycle", () => {
  test("getScope before init() is NotInitializedError, with its code", async () => {
    const parent = new LlamaParent(new LlamaLoad(testLoadOptions()));
    expect(() => parent.getScope()).toThrow(NotInitializedError);
    expect(() => parent.getScope()).toThrow(expect.objectContaining({ code: "LLAMA_SCOPE_ERR_NOT_INITIALIZED" }));
    await parent.dispose();
  });

  test("init() rejects with ModelLoadError for a missing model and ends the worker", async () => {
    const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath: "/nonexistent/model.gguf" })));
    await expect(parent.init()).rejects.toBeInstanceOf(ModelLoadError);
    expect(parent.disposed).toBe(true);
    expect(() => parent.getScope()).toThrow(DisposedError);
  });

  test("bad load options fail in the caller's thread", () => {
    expect(() => new LlamaLoad(testLoadOptions({ slots: 0 }))).toThrow(InvalidArgumentError);
    expect(() => new LlamaLoad(testLoadOptions({ stateDir: "/nonexistent/state-dir" }))).toThrow(
      /stateDir "\/nonexistent\/state-dir" is not a directory/,
    );
    expect(() => new LlamaParent({} as never)).toThrow(InvalidArgumentError);
  });

  test("a worker terminated from outside fails every pending call at once with WorkerCrashedError", async () => {
    const parent = await startParent({ slots: 2, isolation: "thread" }); // it terminates the worker thread
    const errors: Error[] = [];
    parent.on("error", (error) => errors.push(error));
    const a = parent.getScope();
    const b = parent.getScope();
    const pending = [a.sendPrompt(PROMPT, { maxTokens: 2000 }), b.saveState(), b.sendPrompt(PROMPT)];
    const settled = Promise.allSettled(pending);
    await parent.worker!.terminate();
    const results = await settled;
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashedError);
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(WorkerCrashedError);
    await expect(a.sendPrompt("again")).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(() => parent.getScope()).toThrow(WorkerCrashedError);
    await parent.dispose();
  });

  test("parent.dispose() rejects prompts in flight, and the process exits by itself", async () => {
    const run = await runFixture("parentDisposeThenExit");
    expect(run.signal).toBeNull(); // killed = it hung on an open handle
    expect(run.code).toBe(0);
    expect(run.report).toEqual({ inFlight: "DisposedError" });
  });

  test("use after parent.dispose() throws DisposedError", async () => {
    const parent = await startParent({ slots: 1 });
    const scope = parent.getScope();
    await parent.dispose();
    await parent.dispose();
    expect(() => parent.getScope()).toThrow(DisposedError);
    await expect(parent.init()).rejects.toBeInstanceOf(DisposedError);
    await expect(scope.sendPrompt("x")).rejects.toBeInstanceOf(DisposedError);
    await scope.dispose(); // nothing left to free, but it must not throw
  });
});
