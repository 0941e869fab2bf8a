// The OpenAI-compatible server, driven by the official `openai` client over real HTTP on
// 127.0.0.1: replies are the library's own at temperature 0, streamed or not; sessions continue
// their scope and evaluate only the new message; JSON schemas hold; a client that goes away
// stops its generation; /metrics tells what happened.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { GenerationResult } from "../../src/index.js";
import { expectPet, PET_MAX_TOKENS, PET_SCHEMA } from "../support/options.js";
import { metric, readMetrics, startTestServer, waitFor, type TestServer } from "../support/servers.js";

const SYSTEM = "You are a storyteller. Keep it short.";
const TURNS = ["Tell me about a cat.", "What did the cat eat?", "Where did it sleep?", "Did it have a friend?", "How did the story end?"];
const MAX_TOKENS = 16;
const GREEDY = { max_tokens: MAX_TOKENS, temperature: 0 };

let t: TestServer;
let model: string;
beforeAll(async () => {
  t = await startTestServer({ slots: 2, contextSize: 2048 });
  model = (await t.client.models.list()).data[0]!.id;
  // The system prompt goes into the prefix cache now, so every first turn below (the library's
  // and the server's) loads it and counts the same prompt tokens.
  await libraryChat([TURNS[0]!]);
});
afterAll(() => t.close());

/** What the library itself replies to `turns` in one chat scope at temperature 0: the expected replies. */
async function libraryChat(turns: string[], systemPrompt = SYSTEM): Promise<GenerationResult[]> {
  const scope = t.parent.getScope({ mode: "chat", systemPrompt });
  try {
    const results: GenerationResult[] = [];
    for (const turn of turns) results.push(await scope.generate(turn, { maxTokens: MAX_TOKENS, temperature: 0 }));
    return results;
  } finally {
    await scope.dispose();
  }
}

describe("chat completions", () => {
  test("GET /v1/models lists the one model, named after its file", async () => {
    expect(model).toBe("stories260K");
    expect((await t.client.models.retrieve(model)).id).toBe(model);
  });

  test("a whole reply is the library's reply at temperature 0, with its token counts", async () => {
    const [expected] = await libraryChat([TURNS[0]!]);
    const completion = await t.client.chat.completions.create({
      model,
      messages: [
        { role: "system", content: SYSTEM },
        { role: "user", content: TURNS[0]! },
      ],
      ...GREEDY,
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]!.message).toMatchObject({ role: "assistant", content: expected!.text });
    expect(completion.choices[0]!.finish_reason).toBe(expected!.finishReason === "maxTokens" ? "length" : "stop");
    expect(completion.usage).toEqual({
      prompt_tokens: expected!.promptTokenCount,
      completion_tokens: expected!.tokenCount,
      total_tokens: expected!.promptTokenCount + expected!.tokenCount,
    });
  });

  test("a streamed reply arrives in several chunks that add up to the same reply, then a finish reason and the usage", async () => {
    const [expected] = await libraryChat([TURNS[0]!]);
    const stream = await t.client.chat.completions.create({
      model,
      messages: [
        { role: "system", content: SYSTEM },
        { role: "user", content: TURNS[0]! },
      ],
      stream: true,
      ...GREEDY,
    });
    const contents: string[] = [];
    const finishes: (string | null)[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      for (const choice of chunk.choices) {
        if (choice.delta.content) contents.push(choice.delta.content);
        finishes.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(contents.length).toBeGreaterThan(1);
    expect(contents.join("")).toBe(expected!.text);
    expect(finishes.at(-1)).toBe(expected!.finishReason === "maxTokens" ? "length" : "stop");
    expect(finishes.slice(0, -1).every((finish) => finish === null)).toBe(true);
    expect(usage).toEqual({
      prompt_tokens: expected!.promptTokenCount,
      completion_tokens: expected!.tokenCount,
      total_tokens: expected!.promptTokenCount + expected!.tokenCount,
    });
  });

  test("POST /v1/completions continues plain text like a completion scope", async () => {
    const scope = t.parent.getScope();
    const expected = await scope.generate("Once upon a time", { maxTokens: MAX_TOKENS, temperature: 0 });
    await scope.dispose();
    const completion = await t.client.completions.create({ model, prompt: "Once upon a time", ...GREEDY });
    expect(completion.choices[0]!.text).toBe(expected.text);
    expect(completion.usage?.completion_tokens).toBe(expected.tokenCount);
  });

  test("response_format json_schema gives JSON of the schema; json_object gives an object", async () => {
    const completion = await t.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Describe a pet as JSON." }],
      response_format: { type: "json_schema", json_schema: { name: "pet", schema: PET_SCHEMA } },
      max_tokens: PET_MAX_TOKENS,
      temperature: 0,
    });
    expectPet(completion.choices[0]!.message.content!);
    const object = await t.client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Any JSON object." }],
      response_format: { type: "json_object" },
      max_tokens: PET_MAX_TOKENS,
      temperature: 0,
    });
    const parsed: unknown = JSON.parse(object.choices[0]!.message.content!);
    expect(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)).toBe(true);
  });

  test("sampling options reach the model: the same seed gives the same reply, penalties change a greedy one", async () => {
    const ask = (extra: object) =>
      t.client.chat.completions
        .create({ model, messages: [{ role: "user", content: TURNS[0]! }], max_tokens: 32, ...extra })
        .then((c) => c.choices[0]!.message.content);
    const seeded = { temperature: 1, top_p: 0.9, seed: 7 };
    expect(await ask(seeded)).toBe(await ask(seeded));
    const greedy = await ask({ temperature: 0 });
    expect(await ask({ temperature: 0, frequency_penalty: 2, presence_penalty: 2 })).not.toBe(greedy);
    const stopped = await ask({ temperature: 0, stop: [greedy!.slice(4, 8)] });
    expect(stopped).toBe(greedy!.slice(0, 4));
  });
});

describe("sessions", () => {
  test("a session continued over 5 requests that send only the new message replies like one chat scope, evaluating only the new turn", async () => {
    const expected = await libraryChat(TURNS);
    const before = await readMetrics(t.url);
    const headers = { "X-Session-Id": "five-turns" };
    for (const [i, turn] of TURNS.entries()) {
      const messages: ChatCompletionMessageParam[] =
        i === 0
          ? [
              { role: "system", content: SYSTEM },
              { role: "user", content: turn },
            ]
          : [{ role: "user", content: turn }];
      const completion = await t.client.chat.completions.create({ model, messages, ...GREEDY }, { headers });
      expect(completion.choices[0]!.message.content).toBe(expected[i]!.text);
      // What the library's scope evaluated for this turn alone: the history was not evaluated again.
      expect(completion.usage!.prompt_tokens).toBe(expected[i]!.promptTokenCount);
    }
    const after = await readMetrics(t.url);
    const count = (session: string) =>
      metric(after, `llama_scope_completions_total{endpoint="chat",session="${session}"}`) -
      metric(before, `llama_scope_completions_total{endpoint="chat",session="${session}"}`);
    expect([count("started"), count("continued")]).toEqual([1, 4]);

    // The same five-turn conversation sent whole without a session is evaluated whole.
    const history: ChatCompletionMessageParam[] = [{ role: "system", content: SYSTEM }];
    for (const [i, turn] of TURNS.slice(0, -1).entries())
      history.push({ role: "user", content: turn }, { role: "assistant", content: expected[i]!.text });
    const whole = await t.client.chat.completions.create({
      model,
      messages: [...history, { role: "user", content: TURNS.at(-1)! }],
      ...GREEDY,
    });
    expect(whole.usage!.prompt_tokens).toBeGreaterThan(4 * expected.at(-1)!.promptTokenCount);
  });

  test("a session sent its whole history (as OpenAI clients do) continues its scope; another history starts a new one", async () => {
    const expected = await libraryChat(TURNS.slice(0, 3));
    const session = { headers: { "X-Session-Id": "whole-history" } };
    const messages: ChatCompletionMessageParam[] = [{ role: "system", content: SYSTEM }];
    const before = await readMetrics(t.url);
    for (const [i, turn] of TURNS.slice(0, 3).entries()) {
      messages.push({ role: "user", content: turn });
      const completion = await t.client.chat.completions.create({ model, messages, ...GREEDY }, session);
      expect(completion.choices[0]!.message.content).toBe(expected[i]!.text);
      expect(completion.usage!.prompt_tokens).toBe(expected[i]!.promptTokenCount);
      messages.push({ role: "assistant", content: completion.choices[0]!.message.content! });
    }
    // An edited earlier reply is another conversation: a new scope evaluates it whole.
    messages[2] = { role: "assistant", content: "A different reply." };
    messages.push({ role: "user", content: "And then?" });
    const edited = await t.client.chat.completions.create({ model, messages, ...GREEDY }, session);
    expect(edited.usage!.prompt_tokens).toBeGreaterThan(expected[2]!.promptTokenCount * 3);
    const after = await readMetrics(t.url);
    const count = (session: string) =>
      metric(after, `llama_scope_completions_total{endpoint="chat",session="${session}"}`) -
      metric(before, `llama_scope_completions_total{endpoint="chat",session="${session}"}`);
    expect([count("started"), count("continued")]).toEqual([2, 2]);
  });

  test("more sessions than slots swap in and out, each continuing its own conversation", async () => {
    const expected = await libraryChat(TURNS.slice(0, 2));
    const before = await readMetrics(t.url);
    const ids = ["swap-a", "swap-b", "swap-c"];
    for (const turn of [0, 1])
      for (const id of ids) {
        const messages: ChatCompletionMessageParam[] = turn === 0 ? [{ role: "system", content: SYSTEM }] : [];
        messages.push({ role: "user", content: TURNS[turn]! });
        const completion = await t.client.chat.completions.create({ model, messages, ...GREEDY }, { headers: { "X-Session-Id": id } });
        expect(completion.choices[0]!.message.content).toBe(expected[turn]!.text);
      }
    const after = await readMetrics(t.url);
    expect(
      metric(after, 'llama_scope_swaps_total{direction="freeze"}') - metric(before, 'llama_scope_swaps_total{direction="freeze"}'),
    ).toBeGreaterThanOrEqual(3);
    expect(
      metric(after, 'llama_scope_swaps_total{direction="restore"}') - metric(before, 'llama_scope_swaps_total{direction="restore"}'),
    ).toBeGreaterThanOrEqual(3);
    expect(metric(after, 'llama_scope_scopes{state="frozen"}')).toBeGreaterThanOrEqual(1);
    expect(metric(after, 'llama_scope_frozen_bytes{storage="ram"}')).toBeGreaterThan(0);
    expect(metric(after, 'llama_scope_sessions{state="live"}')).toBeGreaterThanOrEqual(ids.length);
  });
});

describe("metrics", () => {
  test("/metrics before and after a request: tokens, requests and slots add up", async () => {
    const before = await readMetrics(t.url);
    const completion = await t.client.chat.completions.create({ model, messages: [{ role: "user", content: TURNS[1]! }], ...GREEDY });
    const after = await readMetrics(t.url);
    const delta = (key: string) => metric(after, key) - metric(before, key);
    expect(delta("llama_scope_tokens_generated_total")).toBe(completion.usage!.completion_tokens);
    expect(delta("llama_scope_completion_tokens_total")).toBe(completion.usage!.completion_tokens);
    expect(delta("llama_scope_prompt_tokens_total")).toBe(completion.usage!.prompt_tokens);
    expect(delta('llama_scope_http_requests_total{route="/v1/chat/completions",status="200"}')).toBe(1);
    expect(delta('llama_scope_completions_total{endpoint="chat",session="none"}')).toBe(1);
    // Its scope is kept, idle, for the conversation's next request (sent whole, with no session id either).
    expect(delta('llama_scope_stateless_requests_total{reuse="fresh"}')).toBe(1);
    expect(delta("llama_scope_stateless_scopes")).toBe(1);
    expect(delta('llama_scope_scopes{state="total"}')).toBe(1);
    expect(metric(after, 'llama_scope_slots{state="generating"}')).toBe(0);
    expect(metric(after, 'llama_scope_slots{state="total"}')).toBe(2);
    expect(after.get("llama_scope_up")).toBe(1);
    expect(after.get('llama_scope_queue_depth{queue="server"}')).toBe(0);
    expect(after.get("llama_scope_engine_restarts_total")).toBe(0);
  });
});

describe("a client that goes away", () => {
  /** Waits until no slot generates, then checks that the token count stays put. */
  async function generationStopped(): Promise<Map<string, number>> {
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_slots{state="generating"}') === 0,
      10_000,
      "the generation to stop",
    );
    const settled = await readMetrics(t.url);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(metric(await readMetrics(t.url), "llama_scope_tokens_generated_total")).toBe(
      metric(settled, "llama_scope_tokens_generated_total"),
    );
    return settled;
  }

  test("aborting a streamed request stops its generation and frees its slot", async () => {
    const before = await readMetrics(t.url);
    const controller = new AbortController();
    const stream = await t.client.chat.completions.create(
      { model, messages: [{ role: "user", content: "Tell me a very long story." }], stream: true, max_tokens: 2000, temperature: 0 },
      { signal: controller.signal },
    );
    let chunks = 0;
    // The client ends its iteration quietly once its signal aborts (after the chunks it had already read).
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content && ++chunks === 3) controller.abort();
    expect(controller.signal.aborted).toBe(true);
    const after = await generationStopped();
    // 2,000 tokens were asked for; the generation ended soon after the client left.
    expect(metric(after, "llama_scope_tokens_generated_total") - metric(before, "llama_scope_tokens_generated_total")).toBeLessThan(1000);
    expect(metric(after, "llama_scope_generations_aborted_total") - metric(before, "llama_scope_generations_aborted_total")).toBe(1);
    expect(metric(after, 'llama_scope_scopes{state="total"}')).toBe(metric(before, 'llama_scope_scopes{state="total"}'));
    expect(metric(after, "llama_scope_requests_in_flight")).toBe(0);
  });

  test("aborting a request waiting for its whole reply stops its generation too", async () => {
    const before = await readMetrics(t.url);
    const controller = new AbortController();
    const request = t.client.chat.completions.create(
      { model, messages: [{ role: "user", content: "Tell me a very long story." }], max_tokens: 2000, temperature: 0 },
      { signal: controller.signal },
    );
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_slots{state="generating"}') === 1,
      10_000,
      "the generation to start",
    );
    controller.abort();
    await expect(request).rejects.toThrow();
    const after = await generationStopped();
    expect(metric(after, "llama_scope_tokens_generated_total") - metric(before, "llama_scope_tokens_generated_total")).toBeLessThan(1000);
    expect(metric(after, "llama_scope_generations_aborted_total") - metric(before, "llama_scope_generations_aborted_total")).toBe(1);
  });
});
