// Requests without a session id that send the whole conversation every time, as OpenAI's API
// expects: the server keeps the scope that answered each one, and the next request of the
// conversation continues it, evaluating only its new message, with the reply a new scope would
// give. Nothing a stateless request does changes a session. The prefix cache stores a
// conversation's start only when a second request sends it too.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { InvalidArgumentError } from "../../src/index.js";
import { LlamaServer } from "../../src/server/index.js";
import { metric, postJson, readMetrics, startTestServer, type TestServer } from "../support/servers.js";

/** About 40 tokens: the prefix cache stores a system prompt of 32 tokens and more. */
const SYSTEM =
  "You are a storyteller. Every story you tell is about a cat who lives by the sea, and it ends with a happy moral for small children to remember.";
const QUESTIONS = [
  "Tell me a story.",
  "What happened next?",
  "Why was it sad?",
  "Who was the cat?",
  "And the dog?",
  "Where did they go?",
  "What did they eat?",
  "Was it fun?",
  "How did it end?",
  "Tell me more.",
];
const GREEDY = { model: "stories260K", max_tokens: 16, temperature: 0 };

/** The server under test (stateless scopes kept), and one that keeps none: every request there starts a new scope. */
let t: TestServer;
let fresh: TestServer;
beforeAll(async () => {
  [t, fresh] = await Promise.all([startTestServer({ slots: 2 }), startTestServer({ slots: 2 }, { maxStatelessScopes: 0 })]);
});
afterAll(() => Promise.all([t.close(), fresh.close()]));

async function ask(
  server: TestServer,
  messages: ChatCompletionMessageParam[],
  sessionId?: string,
): Promise<{ text: string; promptTokens: number }> {
  const completion = await server.client.chat.completions.create(
    { ...GREEDY, messages },
    sessionId === undefined ? {} : { headers: { "X-Session-Id": sessionId } },
  );
  return { text: completion.choices[0]!.message.content ?? "", promptTokens: completion.usage!.prompt_tokens };
}

/** The whole conversation so far, as a stateless client sends it: the system prompt, the exchanges, the new question. */
function whole(replies: string[], questions: string[]): ChatCompletionMessageParam[] {
  return [
    { role: "system", content: SYSTEM },
    ...questions.flatMap((question, i): ChatCompletionMessageParam[] =>
      i < replies.length
        ? [
            { role: "user", content: question },
            { role: "assistant", content: replies[i]! },
          ]
        : [{ role: "user", content: question }],
    ),
  ];
}

/** The change in a metric between two readings of /metrics. */
function delta(before: Map<string, number>, after: Map<string, number>, key: string): number {
  return metric(after, key) - metric(before, key);
}

const REUSE = (how: string) => `llama_scope_stateless_requests_total{reuse="${how}"}`;

describe("a conversation sent whole each turn, without a session id", () => {
  test("evaluates only its new message after the first turn, replies as a new scope would, and leaves the prefix cache at most 2 entries", async () => {
    // What each turn adds, counted by a session that sends only its new message (on the other server).
    const session: { text: string; promptTokens: number }[] = [];
    for (const [i, question] of QUESTIONS.entries())
      session.push(await ask(fresh, i === 0 ? whole([], [question]) : [{ role: "user", content: question }], "counting-session"));

    const before = await readMetrics(t.url);
    const replies: string[] = [];
    const promptTokens: number[] = [];
    for (let turn = 0; turn < QUESTIONS.length; turn++) {
      const reply = await ask(t, whole(replies, QUESTIONS.slice(0, turn + 1)));
      replies.push(reply.text);
      promptTokens.push(reply.promptTokens);
    }
    const after = await readMetrics(t.url);
    expect(promptTokens[0]).toBe(session[0]!.promptTokens);
    for (let turn = 1; turn < QUESTIONS.length; turn++) expect(promptTokens[turn]).toBeLessThanOrEqual(session[turn]!.promptTokens + 4);
    // The same conversation as the session's, continued the same way.
    expect(replies).toEqual(session.map((s) => s.text));
    expect([delta(before, after, REUSE("pooled")), delta(before, after, REUSE("fresh"))]).toEqual([QUESTIONS.length - 1, 1]);
    expect(metric(after, "llama_scope_stateless_scopes")).toBe(1);
    expect(metric(after, "llama_scope_prefix_cache_entries")).toBeLessThanOrEqual(2);
    expect(t.parent.stats().prefixCache.entries).toBeLessThanOrEqual(2);

    // Exactly the replies of new scopes given the same messages (the other server keeps no scope).
    for (let turn = 0; turn < QUESTIONS.length; turn++) {
      const rebuilt = await ask(fresh, whole(replies.slice(0, turn), QUESTIONS.slice(0, turn + 1)));
      expect(rebuilt.text).toBe(replies[turn]);
      // There every turn evaluates the whole conversation but the system prompt (loaded from the prefix cache).
      if (turn > 0) expect(rebuilt.promptTokens).toBeGreaterThan(promptTokens[turn]!);
    }

    // Two requests at once with the same conversation: one continues the kept scope, the other
    // starts a new one; both get the reply a new scope gives, and one scope is kept afterwards.
    const next = whole(replies, [...QUESTIONS, "Tell me about the sea."]);
    const expected = await ask(fresh, next);
    const beforeBoth = await readMetrics(t.url);
    const both = await Promise.all([ask(t, next), ask(t, next)]);
    const afterBoth = await readMetrics(t.url);
    expect(both.map((reply) => reply.text)).toEqual([expected.text, expected.text]);
    expect(Math.min(...both.map((reply) => reply.promptTokens))).toBeLessThan(expected.promptTokens);
    expect([delta(beforeBoth, afterBoth, REUSE("pooled")), delta(beforeBoth, afterBoth, REUSE("fresh"))]).toEqual([1, 1]);
    expect(metric(afterBoth, "llama_scope_stateless_scopes")).toBe(1);
  });
});

describe("sessions", () => {
  test("a stateless request that sends a session's conversation forks it, and the session goes on as if it had not", async () => {
    const questions = ["Tell me about a dog.", "What did the dog eat?", "Where did it sleep?"];
    // The session's conversation, and what it replies to its third question, on the other server.
    const expected: string[] = [];
    for (const [i, question] of questions.entries())
      expected.push((await ask(fresh, i === 0 ? whole([], [question]) : [{ role: "user", content: question }], "reference")).text);

    const alice: string[] = [];
    for (const [i, question] of questions.slice(0, 2).entries())
      alice.push((await ask(t, i === 0 ? whole([], [question]) : [{ role: "user", content: question }], "alice")).text);
    expect(alice).toEqual(expected.slice(0, 2));

    // A stateless request with alice's conversation and another question: only that question is evaluated.
    const other = whole(alice, [...questions.slice(0, 2), "Did it have a friend?"]);
    const before = await readMetrics(t.url);
    const forked = await ask(t, other);
    const after = await readMetrics(t.url);
    expect(delta(before, after, REUSE("forked"))).toBe(1);
    const rebuilt = await ask(fresh, other);
    expect(forked.text).toBe(rebuilt.text);
    expect(forked.promptTokens).toBeLessThan(rebuilt.promptTokens);

    // Alice's session never saw that question: her third turn is the reference session's.
    expect((await ask(t, [{ role: "user", content: questions[2]! }], "alice")).text).toBe(expected[2]);
    // And the stateless conversation goes on from its own scope (kept, not the session's).
    const beforeNext = await readMetrics(t.url);
    const next = whole([...alice, forked.text], [...questions.slice(0, 2), "Did it have a friend?", "What was its name?"]);
    const continued = await ask(t, next);
    expect(delta(beforeNext, await readMetrics(t.url), REUSE("pooled"))).toBe(1);
    expect(continued.text).toBe((await ask(fresh, next)).text);
  });
});

describe("streams", () => {
  test("a streamed reply's scope is kept before the stream ends: the next request continues it at once", async () => {
    const first = whole([], ["Tell me about a fish."]);
    const stream = await t.client.chat.completions.create({ ...GREEDY, messages: first, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe((await ask(fresh, first)).text);
    const next = whole([text], ["Tell me about a fish.", "Where did it swim?"]);
    const before = await readMetrics(t.url);
    const continued = await ask(t, next);
    expect(delta(before, await readMetrics(t.url), REUSE("pooled"))).toBe(1);
    const rebuilt = await ask(fresh, next);
    expect(continued.text).toBe(rebuilt.text);
    expect(continued.promptTokens).toBeLessThan(rebuilt.promptTokens);
  });
});

describe("failures", () => {
  test("a request refused before it changed the kept scope (a message too long) leaves it for the conversation's next request", async () => {
    const first = await ask(t, whole([], ["Tell me about a bird."]));
    const tooLong = "A bird. ".repeat(Math.ceil((t.parent.modelInfo!.maxPromptLength + 1) / 8));
    const refused = await postJson(`${t.url}/v1/chat/completions`, {
      ...GREEDY,
      messages: whole([first.text], ["Tell me about a bird.", tooLong]),
    });
    expect(refused.status).toBe(413);
    expect(refused.body.error.code).toBe("context_length_exceeded");
    const next = whole([first.text], ["Tell me about a bird.", "Could it fly?"]);
    const before = await readMetrics(t.url);
    const continued = await ask(t, next);
    expect(delta(before, await readMetrics(t.url), REUSE("pooled"))).toBe(1);
    expect(continued.text).toBe((await ask(fresh, next)).text);
  });
});

describe("the prefix cache", () => {
  test("stores a conversation's start only when a second request sends it: one client's history takes no entry, a template's does", async () => {
    // On the server that keeps no scope, every request starts a new one from its messages.
    const entries = () => fresh.parent.stats().prefixCache.entries;
    await ask(fresh, whole([], ["Hello."])); // the system prompt is stored (if it was not yet)
    const template: ChatCompletionMessageParam[] = [
      { role: "system", content: SYSTEM },
      { role: "user", content: "Tell me a story." },
      { role: "assistant", content: "Once upon a time there was a cat who lived by the sea." },
    ];
    const start = entries();
    const first = await ask(fresh, [...template, { role: "user", content: "What was its name?" }]);
    expect(entries()).toBe(start); // the history is not stored
    const second = await ask(fresh, [...template, { role: "user", content: "Where did it live?" }]);
    expect(entries()).toBe(start + 1); // sent again: now it is worth an entry
    const third = await ask(fresh, [...template, { role: "user", content: "Was it happy?" }]);
    expect(entries()).toBe(start + 1);
    // The third loads it and evaluates only its own message.
    expect(third.promptTokens).toBeLessThan(Math.min(first.promptTokens, second.promptTokens) - 16);
  });
});

test("maxStatelessScopes must be a whole number of at least 0", () => {
  for (const maxStatelessScopes of [-1, 1.5, Number.NaN])
    expect(() => new LlamaServer(t.parent, { maxStatelessScopes })).toThrow(InvalidArgumentError);
});
