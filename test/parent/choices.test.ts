// generateChoices / streamChoices: the prompt evaluated once, forked into n branches that reply
// together. Each expectation is derived from plain prompts on scopes of their own.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { InvalidArgumentError, type GenerateOptions, type LlamaParent, type LlamaScope, type ScopeOptions } from "../../src/index.js";
import { startParent } from "../support/parents.js";

let parent: LlamaParent;
// Without the prefix cache a chat prompt counts its system prompt each time, so counts compare.
beforeAll(async () => (parent = await startParent({ slots: 4, contextSize: 256, prefixCache: false })));
afterAll(() => parent.dispose());

const PROMPT = "Once upon a time, Lily";
const NEXT = " Then";
const SAMPLED: GenerateOptions = { maxTokens: 16, temperature: 1, seed: 7 };

async function withScope<T>(options: ScopeOptions, work: (scope: LlamaScope) => Promise<T>): Promise<T> {
  const scope = parent.getScope(options);
  try {
    return await work(scope);
  } finally {
    await scope.dispose();
  }
}

describe.each([
  ["completion", { mode: "completion" }],
  ["chat", { mode: "chat", systemPrompt: "You tell stories." }],
] as [string, ScopeOptions][])("generateChoices (%s)", (_, scopeOptions) => {
  test("at temperature 0 each choice is the plain reply; the prompt counts once, the replies' tokens add up", async () => {
    const plain = await withScope(scopeOptions, (scope) => scope.generate(PROMPT, { maxTokens: 16 }));
    const result = await withScope(scopeOptions, (scope) => scope.generateChoices(PROMPT, 3, { maxTokens: 16 }));
    expect(result.choices.map((choice) => choice.text)).toEqual([plain.text, plain.text, plain.text]);
    expect(result.promptTokenCount).toBe(plain.promptTokenCount);
    expect(result.tokenCount).toBe(3 * plain.tokenCount);
    expect(result.choices.map((choice) => choice.promptTokenCount)).toEqual([0, 0, 0]);
    expect(parent.stats().scopes.total).toBe(0); // the branches were freed with the scopes
  });

  test("with a seed the choices differ and are the same again; the scope goes on as if it had generated choice 0 alone", async () => {
    const [first, second] = [[], []] as string[][][];
    const afterChoices = await withScope(scopeOptions, async (scope) => {
      const result = await scope.generateChoices(PROMPT, 4, SAMPLED);
      first!.push(result.choices.map((choice) => choice.text));
      return { next: await scope.generate(NEXT, SAMPLED), tokens: await scope.tokenCount() };
    });
    await withScope(scopeOptions, async (scope) =>
      second!.push((await scope.generateChoices(PROMPT, 4, SAMPLED)).choices.map((choice) => choice.text)),
    );
    expect(second).toEqual(first);
    expect(new Set(first![0]).size).toBeGreaterThan(1);
    // Choice i samples with seed + i: choice 2 is the plain reply with seed 9.
    const third = await withScope(scopeOptions, (scope) => scope.generate(PROMPT, { ...SAMPLED, seed: 9 }));
    expect(first![0]![2]).toBe(third.text);
    const alone = await withScope(scopeOptions, async (scope) => {
      const reply = await scope.generate(PROMPT, SAMPLED);
      return { reply, next: await scope.generate(NEXT, SAMPLED), tokens: await scope.tokenCount() };
    });
    expect(first![0]![0]).toBe(alone.reply.text);
    expect(afterChoices).toEqual({ next: alone.next, tokens: alone.tokens });
  });
});

describe("generateChoices with a context shift", () => {
  test("chat replies that fill the slot shift in every branch as in a scope alone; the scope goes on alike", async () => {
    // Greedy: lock-step batches round a sampled reply's logits differently over 300 tokens.
    const options: GenerateOptions = { maxTokens: 300 };
    const run = (choices: boolean) =>
      withScope({ mode: "chat", systemPrompt: "You tell stories." }, async (scope) => {
        const replies = choices ? (await scope.generateChoices(PROMPT, 3, options)).choices : [await scope.generate(PROMPT, options)];
        const afterReply = await scope.tokenCount();
        const next = await scope.generate("And then?", { maxTokens: 8 });
        return { replies, afterReply, next: next.text, tokens: await scope.tokenCount(), history: await scope.getChatHistory() };
      });
    const alone = await run(false);
    // The reply outgrew the slot: shifts erased part of it (else this test would test nothing).
    const reply = alone.replies[0]!;
    expect(reply.promptTokenCount + reply.tokenCount).toBeGreaterThan(256);
    // At temperature 0 every branch, each shifting on its own, gives the reply of the scope alone.
    const branch = { ...reply, promptTokenCount: 0 };
    expect(await run(true)).toEqual({ ...alone, replies: [branch, branch, branch] });
  });
});

describe("streamPrompt with logprobs", () => {
  test("the stream's logprobs grow with its text and end as the result's, a stop string cutting both", async () => {
    const full = await withScope({}, (scope) => scope.generate(PROMPT, { maxTokens: 24 }));
    const stop = full.text.split(" ")[3]!.slice(1); // begins inside a token of the reply
    await withScope({}, async (scope) => {
      const stream = scope.streamPrompt(PROMPT, { maxTokens: 24, logprobs: 2, stop: [stop] });
      let text = "";
      for await (const piece of stream) {
        text += piece;
        expect(text.startsWith(stream.logprobs.map((entry) => entry.text).join(""))).toBe(true);
      }
      const result = await stream.result;
      expect(result.finishReason).toBe("stop");
      expect(text).toBe(result.text);
      expect(stream.logprobs).toEqual(result.logprobs);
      expect(result.logprobs!.map((entry) => entry.text).join("")).toBe(result.text);
    });
  });
});

describe("generateChoices", () => {
  test("more choices than slots: the branches wait for slots, and reply as they would with room", async () => {
    const few = await startParent({ slots: 2, contextSize: 256 });
    try {
      const scope = few.getScope();
      const result = await scope.generateChoices(PROMPT, 5, SAMPLED);
      const roomy = await withScope({}, (other) => other.generateChoices(PROMPT, 5, SAMPLED));
      expect(result.choices.map((choice) => choice.text)).toEqual(roomy.choices.map((choice) => choice.text));
      expect(few.stats().scopes.total).toBe(1);
    } finally {
      await few.dispose();
    }
  });

  test("streamed: each choice's pieces join into its reply, with its log-probabilities", async () => {
    const texts = ["", "", ""];
    const logprobs: number[][] = [[], [], []];
    const stream = await withScope({}, async (scope) => {
      const choices = scope.streamChoices(PROMPT, 3, { ...SAMPLED, logprobs: 2 });
      for await (const chunk of choices) {
        texts[chunk.index] += chunk.text;
        logprobs[chunk.index]!.push(...(chunk.logprobs ?? []).map((entry) => entry.token));
      }
      return choices.result;
    });
    // The reference is this stream's own result, which the engine reports apart from the pieces:
    // a second run at temperature 1 may be batched otherwise when the machine is busy (a late
    // branch misses a lock-step round), and other batches may sample another token.
    expect(stream.choices.length).toBe(3);
    expect(texts).toEqual(stream.choices.map((choice) => choice.text));
    expect(logprobs).toEqual(stream.choices.map((choice) => choice.logprobs!.map((entry) => entry.token)));
    expect(logprobs.map((tokens) => tokens.length)).toEqual(stream.choices.map((choice) => choice.tokenCount));
    expect(new Set(texts).size).toBeGreaterThan(1); // seeds 7, 8, 9: the choices differ
  });

  test("a stream read only after the choices ended still gives every piece: the branches' freed scopes keep their unread text", async () => {
    await withScope({}, async (scope) => {
      const choices = scope.streamChoices(PROMPT, 3, SAMPLED);
      const result = await choices.result; // every branch ended and its scope was freed
      const texts = ["", "", ""];
      for await (const chunk of choices) texts[chunk.index] += chunk.text;
      expect(texts).toEqual(result.choices.map((choice) => choice.text));
      expect(texts.every((text) => text.length > 0)).toBe(true);
    });
  });

  test("n outside 1..128 is refused by name, before the prompt reaches the scope", async () => {
    await withScope({}, async (scope) => {
      for (const n of [0, 129, 1.5, "2"] as unknown as number[])
        await expect(scope.generateChoices(PROMPT, n)).rejects.toThrow(InvalidArgumentError);
      const stream = scope.streamChoices(PROMPT, 0);
      await expect(stream.next()).rejects.toThrow(InvalidArgumentError);
      await expect(stream.result).rejects.toThrow(InvalidArgumentError);
      expect(await scope.tokenCount()).toBe(0);
    });
  });

  test("leaving a stream of choices early stops them all and frees the branches; the scope goes on", async () => {
    await withScope({}, async (scope) => {
      const stream = scope.streamChoices(PROMPT, 3, { temperature: 1, seed: 2 });
      for await (const chunk of stream) if (chunk.text.length > 0) break;
      const result = await stream.result;
      expect(result.choices.length).toBe(3);
      expect(parent.stats().scopes.total).toBe(1);
      // What choice 0 generated before the stop is the scope's: the prompt and that reply.
      expect(await scope.tokenCount()).toBe(result.promptTokenCount + result.choices[0]!.tokenCount);
      expect((await scope.generate(" Then", { maxTokens: 4 })).tokenCount).toBeGreaterThan(0);
    });
  });
});
