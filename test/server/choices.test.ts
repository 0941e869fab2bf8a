// Log-probabilities, logit_bias and n > 1 through the official `openai` client on a real server
// (127.0.0.1): chat and text completions, whole and streamed. Expected values come from the same
// server's n: 1 replies and from the library.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { startTestServer, type TestServer } from "../support/servers.js";

const MESSAGES = [{ role: "user" as const, content: "Tell me about a cat." }];
const PROMPT = "Once upon a time, Lily";
const SAMPLED = { max_tokens: 12, temperature: 1, seed: 5 };

let t: TestServer;
let model: string;
// Without the prefix cache every request counts the prompt tokens it evaluates in full.
beforeAll(async () => {
  t = await startTestServer({ slots: 4, contextSize: 512, prefixCache: false });
  model = (await t.client.models.list()).data[0]!.id;
});
afterAll(() => t.close());

type TopLogprob = { token: string; logprob: number };

/**
 * The checks every token's log-probabilities pass. A sampled token's alternatives are those its
 * sampler kept (topK, topP): up to `top` of them, the chosen one always among the kept.
 */
function expectWellFormed(entry: { logprob: number; top: TopLogprob[] }, top: number, sampled = false): void {
  expect(entry.logprob).toBeLessThanOrEqual(0);
  if (sampled) expect(entry.top.length).toBeLessThanOrEqual(top);
  else expect(entry.top.length).toBe(top);
  expect(entry.top.reduce((sum, alternative) => sum + Math.exp(alternative.logprob), 0)).toBeLessThanOrEqual(1 + 1e-9);
}

describe("chat completions", () => {
  test("logprobs with top_logprobs: 3 at temperature 0: the chosen token is the most likely, the reply unchanged", async () => {
    const plain = await t.client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 16, temperature: 0 });
    const reply = await t.client.chat.completions.create({
      model,
      messages: MESSAGES,
      max_tokens: 16,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    });
    const choice = reply.choices[0]!;
    expect(choice.message.content).toBe(plain.choices[0]!.message.content);
    const content = choice.logprobs!.content!;
    expect(content.map((entry) => entry.token).join("")).toBe(choice.message.content);
    expect(content.length).toBe(reply.usage!.completion_tokens);
    for (const entry of content) {
      expectWellFormed({ logprob: entry.logprob, top: entry.top_logprobs }, 3);
      expect(entry.top_logprobs[0]!.logprob).toBe(entry.logprob); // the argmax
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, "utf8")]);
    }
    expect(plain.choices[0]!.logprobs).toBeNull();
  });

  test("n: 4 gives 4 choices, the same again for the same seed; the prompt is evaluated once", async () => {
    const ask = () => t.client.chat.completions.create({ model, messages: MESSAGES, ...SAMPLED, n: 4, logprobs: true });
    const [first, again, single] = [
      await ask(),
      await ask(),
      await t.client.chat.completions.create({ model, messages: MESSAGES, ...SAMPLED }),
    ];
    expect(first.choices.map((choice) => choice.index)).toEqual([0, 1, 2, 3]);
    const contents = first.choices.map((choice) => choice.message.content);
    expect(again.choices.map((choice) => choice.message.content)).toEqual(contents);
    expect(new Set(contents).size).toBeGreaterThan(1);
    expect(contents[0]).toBe(single.choices[0]!.message.content); // choice 0 samples with the seed itself
    expect(first.usage!.prompt_tokens).toBe(single.usage!.prompt_tokens);
    const tokens = first.choices.reduce((sum, choice) => sum + choice.logprobs!.content!.length, 0);
    expect(first.usage!.completion_tokens).toBe(tokens);
    expect(first.usage!.total_tokens).toBe(single.usage!.prompt_tokens + tokens);
  });

  test("streamed, n: 3 with logprobs: the chunks carry their choice's index; each choice joins into the whole reply's", async () => {
    const options = { model, messages: MESSAGES, ...SAMPLED, n: 3, logprobs: true, top_logprobs: 2 };
    const whole = await t.client.chat.completions.create(options);
    const stream = await t.client.chat.completions.create({ ...options, stream: true, stream_options: { include_usage: true } });
    const texts = ["", "", ""];
    const tokens: string[][] = [[], [], []];
    const finishes: (string | null)[] = [null, null, null];
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.delta.content ?? "";
        for (const entry of choice.logprobs?.content ?? []) {
          expectWellFormed({ logprob: entry.logprob, top: entry.top_logprobs }, 2, true);
          expect(entry.logprob).toBeGreaterThan(-9999);
          tokens[choice.index]!.push(entry.token);
        }
        if (choice.finish_reason !== null) finishes[choice.index] = choice.finish_reason;
      }
    }
    expect(texts).toEqual(whole.choices.map((choice) => choice.message.content));
    expect(tokens.map((list) => list.join(""))).toEqual(texts);
    expect(finishes).toEqual(whole.choices.map((choice) => choice.finish_reason));
    expect(usage).toMatchObject({ prompt_tokens: whole.usage!.prompt_tokens, completion_tokens: whole.usage!.completion_tokens });
  });

  test("logit_bias -100 on the greedy first token makes another the first", async () => {
    const scope = t.parent.getScope({ mode: "chat" });
    const greedy = await scope.generate(MESSAGES[0]!.content, { maxTokens: 4, logprobs: true }).finally(() => scope.dispose());
    const first = greedy.logprobs![0]!;
    const biased = await t.client.chat.completions.create({
      model,
      messages: MESSAGES,
      max_tokens: 4,
      temperature: 0,
      logprobs: true,
      logit_bias: { [first.token]: -100 },
    });
    const unbiased = await t.client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 4, temperature: 0, logprobs: true });
    expect(unbiased.choices[0]!.logprobs!.content![0]!.token).toBe(first.text);
    expect(biased.choices[0]!.logprobs!.content![0]!.token).not.toBe(first.text);
  });
});

describe("stateless requests", () => {
  test("the conversation goes on from choice 0: its next request evaluates only the new message", async () => {
    const options = { max_tokens: 12, temperature: 1, seed: 9 };
    const first = await t.client.chat.completions.create({ model, messages: MESSAGES, ...options, n: 3 });
    const next = [
      ...MESSAGES,
      { role: "assistant" as const, content: first.choices[0]!.message.content! },
      { role: "user" as const, content: "And then?" },
    ];
    const second = await t.client.chat.completions.create({ model, messages: next, max_tokens: 4, temperature: 0 });
    // The library's count for the same turn in a scope that went on from choice 0.
    const scope = t.parent.getScope({ mode: "chat" });
    const expected = await (async () => {
      const choices = await scope.generateChoices(MESSAGES[0]!.content, 3, { maxTokens: 12, temperature: 1, seed: 9 });
      expect(choices.choices[0]!.text).toBe(first.choices[0]!.message.content);
      return scope.generate("And then?", { maxTokens: 4 });
    })().finally(() => scope.dispose());
    expect(second.choices[0]!.message.content).toBe(expected.text);
    expect(second.usage!.prompt_tokens).toBe(expected.promptTokenCount);
  });
});

describe("text completions", () => {
  test("logprobs: 3 and n: 2, whole and streamed: the legacy object, the argmax at temperature 0, offsets along the text", async () => {
    const options = { model, prompt: PROMPT, max_tokens: 12, temperature: 0, n: 2, logprobs: 3 };
    const whole = await t.client.completions.create(options);
    const single = await t.client.completions.create({ model, prompt: PROMPT, max_tokens: 12, temperature: 0 });
    expect(whole.choices.map((choice) => choice.text)).toEqual([single.choices[0]!.text, single.choices[0]!.text]);
    expect(whole.usage!.prompt_tokens).toBe(single.usage!.prompt_tokens);
    expect(whole.usage!.completion_tokens).toBe(2 * single.usage!.completion_tokens);
    for (const choice of whole.choices) {
      const logprobs = choice.logprobs!;
      expect(logprobs.tokens!.join("")).toBe(choice.text);
      expect(logprobs.text_offset).toEqual(logprobs.tokens!.map((_, i) => logprobs.tokens!.slice(0, i).join("").length));
      for (const [i, top] of logprobs.top_logprobs!.entries()) {
        const values = Object.values(top);
        expect(Math.max(...values)).toBe(logprobs.token_logprobs![i]);
        expect(values.reduce((sum, logprob) => sum + Math.exp(logprob), 0)).toBeLessThanOrEqual(1 + 1e-9);
      }
    }
    const texts = ["", ""];
    const tokens: string[][] = [[], []];
    for await (const chunk of await t.client.completions.create({ ...options, stream: true }))
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.text;
        tokens[choice.index]!.push(...(choice.logprobs?.tokens ?? []));
      }
    expect(texts).toEqual(whole.choices.map((choice) => choice.text));
    expect(tokens).toEqual(whole.choices.map((choice) => choice.logprobs!.tokens));
  });
});
