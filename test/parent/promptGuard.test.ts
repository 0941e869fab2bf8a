import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { ContextOverflowError, Llama, type GenerationResult, type LlamaParent, type LlamaScope } from "../../src/index.js";
import { startParent } from "../support/parents.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const LINE = "Once upon a time, there was a little girl named Lily.\n";
/** A long reply: about 400 chunks over half a second or more on the test models. */
const LONG_REPLY = { maxTokens: 400 };

/** A stream's chunk arrival times, and when its first chunk came. */
interface TimedStream {
  firstChunk: Promise<void>;
  done: Promise<{ times: number[]; result: GenerationResult }>;
}

function timedStream(scope: LlamaScope, prompt: string): TimedStream {
  const times: number[] = [];
  let markFirst = (): void => {};
  const firstChunk = new Promise<void>((resolve) => (markFirst = resolve));
  const stream = scope.streamPrompt(prompt, LONG_REPLY);
  const done = (async () => {
    for await (const chunk of stream) {
      if (chunk.length > 0) times.push(performance.now());
      markFirst();
    }
    return { times, result: await stream.result };
  })();
  return { firstChunk, done };
}

/**
 * The longest wait between two chunks while the other prompt was handled (from `start` to `end`),
 * counting the wait that ended the window: a stall anywhere in the window shows there. Waits
 * before or after it belong to the machine, not to the prompt (other processes share its cores).
 */
function longestWaitDuring(times: readonly number[], start: number, end: number): number {
  let wait = 0;
  for (let i = 1; i < times.length; i++) if (times[i]! >= start && times[i - 1]! <= end) wait = Math.max(wait, times[i]! - times[i - 1]!);
  return wait;
}

/**
 * Sends `text` while `streaming` generates; resolves with what became of it, how long it took,
 * and the longest wait between the stream's chunks meanwhile.
 */
async function promptDuringStream(streaming: LlamaScope, other: LlamaScope, text: string) {
  const stream = timedStream(streaming, "Once upon a time");
  await stream.firstChunk;
  const start = performance.now();
  const error = await other.sendPrompt(text, { maxTokens: 8 }).then(
    () => undefined,
    (caught: unknown) => caught as Error,
  );
  const end = performance.now();
  const { times, result } = await stream.done;
  expect(times.at(-1)).toBeGreaterThan(end); // the stream went on past the prompt's end
  return { error, elapsed: end - start, longestWait: longestWaitDuring(times, start, end), result };
}

describe("the prompt size guard through scopes (stories260K)", () => {
  let parent: LlamaParent;
  let streaming: LlamaScope;
  beforeAll(async () => {
    parent = await startParent({ slots: 3 });
    streaming = parent.getScope();
    await timedStream(streaming, "Once upon a time").done; // warm up the stream path
  });
  afterAll(() => parent.dispose());

  test("ModelReady carries the engine's bound", async () => {
    const llama = await Llama.load(testLoadOptions({ slots: 1 }));
    expect(parent.modelInfo?.maxPromptLength).toBe(llama.maxPromptLength);
    expect(llama.maxPromptLength).toBe(2048 * 8); // 2,048 tokens of at most 6 + 2 characters
    await llama.dispose();
  });

  test.each(["completion", "chat"] as const)(
    "a 20 MB prompt to a %s scope is refused in the caller's thread in under 50 ms, and another scope's stream never stalls",
    async (mode) => {
      const huge = LINE.repeat(400_000); // 21.6 MB: the worker would need seconds to tokenize it
      const scope = parent.getScope({ mode });
      const { error, elapsed, longestWait, result } = await promptDuringStream(streaming, scope, huge);
      expect(error).toBeInstanceOf(ContextOverflowError);
      expect(error?.message).toContain("16,384 characters at most");
      expect(elapsed).toBeLessThan(50);
      expect(result.tokenCount).toBeGreaterThan(300);
      expect(longestWait).toBeLessThan(100);
      expect(await scope.tokenCount()).toBe(0); // nothing reached the scope's conversation
      expect((await scope.sendPrompt("Once upon a time", { maxTokens: 8 })).length).toBeGreaterThan(0);
      await scope.dispose();
    },
  );
});

describe("a prompt near the bound on a big context (llama-2-tiny-random, 4,096 tokens)", () => {
  let parent: LlamaParent;
  let streaming: LlamaScope;
  beforeAll(async () => {
    parent = await startParent({ slots: 3, modelPath: otherModelPath(), contextSize: 4096 });
    streaming = parent.getScope();
    await timedStream(streaming, "Once upon a time").done;
  });
  afterAll(() => parent.dispose());

  test.each(["completion", "chat"] as const)("sent to a %s scope, it does not stall another scope's stream", async (mode) => {
    const { maxPromptLength } = parent.modelInfo!;
    expect(maxPromptLength).toBe(4096 * 18); // the Llama 2 vocabulary's longest token text is 16 characters
    // Just under the bound, so the guard lets it through to be tokenized (in pieces: it has lines).
    const text = LINE.repeat(Math.ceil(maxPromptLength / LINE.length)).slice(0, maxPromptLength - 100);
    const scope = parent.getScope({ mode });
    const { error, longestWait, result } = await promptDuringStream(streaming, scope, text);
    // ~20,000 tokens: refused after tokenizing, by the token count.
    expect(error).toBeInstanceOf(ContextOverflowError);
    expect(error?.message).toMatch(/tokens/);
    expect(result.tokenCount).toBeGreaterThan(300);
    expect(longestWait).toBeLessThan(100);
    await scope.dispose();
  });
});
