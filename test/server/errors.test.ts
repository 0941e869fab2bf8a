// What the server answers to requests it cannot serve: OpenAI-style JSON errors with the right
// status codes (400 bad body, 401 key, 404, 413 too large, 415, 429 queue full, 503 not ready),
// and it goes on serving afterwards.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import OpenAI from "openai";
import { LlamaLoad, LlamaParent } from "../../src/index.js";
import { LlamaServer } from "../../src/server/index.js";
import { testLoadOptions } from "../support/testModel.js";
import { metric, openaiClient, postJson, readMetrics, startTestServer, waitFor, type TestServer } from "../support/servers.js";

const KEY = "test-key-0123456789";
const AUTH = { authorization: `Bearer ${KEY}` };
/** A slot of 512 tokens; no token of stories260K covers more than 8 characters: prompts over 4,096 characters can never fit. */
const CONTEXT_SIZE = 512;
const BODY_LIMIT = 64 * 1024;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ slots: 1, contextSize: CONTEXT_SIZE }, { apiKey: KEY, maxQueue: 1, bodyLimit: BODY_LIMIT });
});
afterAll(() => t.close());

const chat = (body: unknown, headers: Record<string, string> = AUTH) => postJson(`${t.url}/v1/chat/completions`, body, headers);
const hello = { messages: [{ role: "user", content: "Hello" }], max_tokens: 4 };

/** An OpenAI-style error body: every field present, the message saying something. */
function expectError(
  response: { status: number; body: any },
  status: number,
  fields: { code?: string; param?: string | null; type?: string } = {},
) {
  expect(response.status).toBe(status);
  expect(Object.keys(response.body)).toEqual(["error"]);
  expect(Object.keys(response.body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(typeof response.body.error.message).toBe("string");
  expect(response.body.error.message.length).toBeGreaterThan(10);
  expect(response.body.error).toMatchObject(fields);
}

describe("400: bodies the server cannot use", () => {
  test.each([
    ["not JSON", "{ messages: [", { code: "invalid_body" }],
    ["not an object", [1, 2], { code: "invalid_body" }],
    ["no messages", { model: "x" }, { param: "messages" }],
    ["empty messages", { messages: [] }, { param: "messages" }],
    ["a tool message that answers no tool call", { messages: [{ role: "tool", content: "42" }] }, { param: "messages[0].tool_call_id" }],
    ["content that is a number", { messages: [{ role: "user", content: 42 }] }, { param: "messages[0].content" }],
    [
      "an image part",
      { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] },
      { param: "messages[0].content[0]" },
    ],
    [
      "a system message after the conversation started",
      {
        messages: [
          { role: "user", content: "a" },
          { role: "system", content: "b" },
          { role: "user", content: "c" },
        ],
      },
      { param: "messages[1].role" },
    ],
    [
      "an assistant message last",
      {
        messages: [
          { role: "user", content: "a" },
          { role: "assistant", content: "b" },
        ],
      },
      { param: "messages" },
    ],
    ["n: 129", { ...hello, n: 129 }, { param: "n" }],
    ["n: 0", { ...hello, n: 0 }, { param: "n" }],
    ["top_logprobs without logprobs", { ...hello, top_logprobs: 2 }, { param: "top_logprobs" }],
    ["top_logprobs 21", { ...hello, logprobs: true, top_logprobs: 21 }, { param: "top_logprobs" }],
    ['logprobs: "yes"', { ...hello, logprobs: "yes" }, { param: "logprobs" }],
    ["a logit_bias key that is no token id", { ...hello, logit_bias: { dragon: -100 } }, { param: "logit_bias" }],
    ["a logit_bias of 101", { ...hello, logit_bias: { "5": 101 } }, { param: "logit_bias" }],
    ["a logit_bias id past the vocabulary", { ...hello, logit_bias: { "50256": -100 } }, { type: "invalid_request_error" }],
    ["the deprecated functions", { ...hello, functions: [{ name: "f" }] }, { param: "functions", code: "unsupported_parameter" }],
    ["a tool that is no function", { ...hello, tools: [{ type: "web_search" }] }, { param: "tools[0].type" }],
    [
      "a tool_choice not among tools",
      { ...hello, tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } },
      { param: "tool_choice.function.name" },
    ],
    ["n: 2 with tools", { ...hello, n: 2, tools: [{ type: "function", function: { name: "f" } }] }, { param: "n" }],
    ["logprobs with tools", { ...hello, logprobs: true, tools: [{ type: "function", function: { name: "f" } }] }, { param: "logprobs" }],
    ["temperature 3", { ...hello, temperature: 3 }, { param: "temperature" }],
    ["max_tokens 0", { ...hello, max_tokens: 0 }, { param: "max_tokens" }],
    ["five stop strings", { ...hello, stop: ["a", "b", "c", "d", "e"] }, { param: "stop" }],
    ["an unknown response_format", { ...hello, response_format: { type: "xml" } }, { param: "response_format.type" }],
    [
      "a json_schema without a schema",
      { ...hello, response_format: { type: "json_schema", json_schema: { name: "x" } } },
      { param: "response_format.json_schema.schema" },
    ],
    ['stream: "yes"', { ...hello, stream: "yes" }, { param: "stream" }],
    ["a user that is not a string", { ...hello, user: 42 }, { param: "user" }],
  ])("%s", async (_, body, fields) => {
    expectError(await chat(body), 400, { type: "invalid_request_error", ...fields });
  });

  test('a session id too long, and two X-Session-Id headers (Node would join them into a third id, "one, two")', async () => {
    expectError(await chat(hello, { ...AUTH, "x-session-id": "x".repeat(300) }), 400, { code: "invalid_session_id" });
    // fetch would send one header "one, two"; node:http sends the two headers a client may send.
    const twice = await rawPost("/v1/chat/completions", JSON.stringify(hello), {
      ...AUTH,
      "content-type": "application/json",
      "x-session-id": ["one", "two"],
    });
    expectError(twice, 400, { code: "invalid_session_id" });
    expect(twice.body.error.message).toContain("2 X-Session-Id headers");
  });

  test('a body with a __proto__ key is refused as such, not called "not valid JSON"', async () => {
    const body = '{"__proto__": {"admin": true}, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}';
    const refused = await chat(body);
    expectError(refused, 400, { code: "invalid_body" });
    expect(refused.body.error.message).toContain('"__proto__" in body');
    expect(refused.body.error.message).not.toContain("not valid JSON");
    const nested = await chat({
      messages: [JSON.parse('{"role": "user", "content": "Hi", "constructor": {"prototype": {}}}')],
      max_tokens: 4,
    });
    expect(nested.body.error.message).toContain('"constructor.prototype" in body.messages[0]');
    // Still told apart: a body that is not JSON.
    expect((await chat("{ messages: [")).body.error.message).toContain("not valid JSON");
  });

  test("a json_schema with a type that is no JSON type is refused, naming it and where it is", async () => {
    const at = (schema: object) => chat({ ...hello, response_format: { type: "json_schema", json_schema: { name: "x", schema } } });
    const top = await at({ type: "frobnicate" });
    expectError(top, 400, { param: "response_format.json_schema.schema" });
    expect(top.body.error.message).toContain('"frobnicate"');
    const deep = await at({ type: "object", properties: { pet: { type: "array", items: { type: ["string", "kitten"] } } } });
    expectError(deep, 400, { param: "response_format.json_schema.schema" });
    expect(deep.body.error.message).toContain("response_format.json_schema.schema.properties.pet.items.type");
    expect((await at({ type: "object", properties: { name: { type: ["string", "null"] } } })).status).toBe(200);
  });

  test("POST /v1/completions: a prompt of token ids, and echo", async () => {
    expectError(await postJson(`${t.url}/v1/completions`, { prompt: [1, 2, 3] }, AUTH), 400, { param: "prompt" });
    expectError(await postJson(`${t.url}/v1/completions`, { prompt: "a", echo: true }, AUTH), 400, { param: "echo" });
    expectError(await postJson(`${t.url}/v1/completions`, { prompt: "a", logprobs: 21 }, AUTH), 400, { param: "logprobs" });
    expectError(await postJson(`${t.url}/v1/completions`, { prompt: "a", n: 2, best_of: 3 }, AUTH), 400, { param: "best_of" });
  });

  test("a body in another media type is a 415; plain text is a 400", async () => {
    expectError(await chat("<messages/>", { ...AUTH, "content-type": "application/xml" }), 415, { code: "unsupported_media_type" });
    expectError(await chat("hello", { ...AUTH, "content-type": "text/plain" }), 400, { code: "invalid_body" });
  });

  test("the openai client raises a BadRequestError", async () => {
    const error = await t.client.chat.completions
      .create({ model: "m", messages: [{ role: "user", content: "a" }], n: 129 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("n");
  });
});

/** A POST with node:http, for what fetch cannot send (a header twice: an array of values). */
function rawPost(route: string, body: string, headers: Record<string, string | string[]>): Promise<{ status: number; body: any }> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, method: "POST", path: route }, (response) => {
      let text = "";
      response.on("data", (data: Buffer) => (text += data.toString()));
      response.on("end", () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: the test sees the text
        }
        resolve({ status: response.statusCode!, body: parsed });
      });
    });
    for (const [name, value] of Object.entries(headers)) request.setHeader(name, value);
    request.on("error", reject);
    request.end(body);
  });
}

describe("401: the API key", () => {
  test("a wrong key and no key are refused; /health and /metrics need none", async () => {
    const wrong = await openaiClient(t.url, "wrong-key")
      .chat.completions.create({ model: "m", messages: [{ role: "user", content: "a" }] })
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((wrong as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe("invalid_api_key");
    expectError(await chat(hello, {}), 401, { code: "missing_api_key", type: "authentication_error" });
    expectError(await chat(hello, { authorization: `Bearer ${KEY}x` }), 401, { code: "invalid_api_key" });
    const models = await fetch(`${t.url}/v1/models`);
    expect(models.status).toBe(401);
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
    expect((await fetch(`${t.url}/metrics`)).status).toBe(200);
    expect((await chat(hello)).status).toBe(200);
  });

  test("the scheme is case-insensitive (bearer, BEARER); a 401 says which scheme to use in WWW-Authenticate", async () => {
    for (const scheme of ["bearer", "BEARER", "Bearer"])
      expect((await chat(hello, { authorization: `${scheme} ${KEY}` })).status).toBe(200);
    const missing = await chat(hello, {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
    const wrong = await chat(hello, { authorization: "bearer nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer\b.*error="invalid_token"/);
  });
});

describe("404", () => {
  test("an unknown route and an unknown model", async () => {
    const response = await fetch(`${t.url}/v1/embeddings`, { headers: AUTH });
    expectError({ status: response.status, body: await response.json() }, 404, { code: "not_found" });
    const error = await t.client.models.retrieve("gpt-4").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("413: prompts too large", () => {
  const maxPromptLength = () => t.parent.modelInfo!.maxPromptLength;

  test("a prompt longer than a slot can ever hold is refused before it is tokenized", async () => {
    expect(maxPromptLength()).toBeLessThan(BODY_LIMIT / 2);
    const prompt = "x".repeat(maxPromptLength() + 1);
    expectError(await chat({ messages: [{ role: "user", content: prompt }] }), 413, { code: "context_length_exceeded" });
    expectError(
      await chat({
        messages: [
          { role: "system", content: prompt },
          { role: "user", content: "Hi" },
        ],
      }),
      413,
      { code: "context_length_exceeded" },
    );
    expectError(await postJson(`${t.url}/v1/completions`, { prompt }, AUTH), 413, { code: "context_length_exceeded" });
    const error = await t.client.chat.completions
      .create({ model: "m", messages: [{ role: "user", content: prompt }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
  });

  test("a chat turn within that length but more tokens than the slot holds", async () => {
    const words = "cat dog sun ".repeat(Math.floor(maxPromptLength() / 12));
    expect(words.length).toBeLessThanOrEqual(maxPromptLength());
    expectError(await chat({ messages: [{ role: "user", content: words }], max_tokens: 4 }), 413, { code: "context_length_exceeded" });
  });

  test("more messages than maxMessages (default 256) is refused at once, naming the limit and its flag", async () => {
    const messages = Array.from({ length: 257 }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: "a" }));
    const refused = await chat({ messages, max_tokens: 4 });
    expectError(refused, 413, { code: "too_many_messages", param: "messages" });
    expect(refused.body.error.message).toContain("at most 256");
    expect(refused.body.error.message).toContain("--max-messages");
    expect((await chat({ messages: messages.slice(1), max_tokens: 4 })).status).toBe(200);
  });

  test("a body over the server's limit", async () => {
    expectError(await chat({ messages: [{ role: "user", content: "x".repeat(BODY_LIMIT) }] }), 413, { code: "request_too_large" });
  });
});

describe("429: a bounded queue", () => {
  test("with one slot generating and one request waiting, the next is refused at once; the waiting one is served", async () => {
    const long = new AbortController();
    const running = fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "A long story." }], max_tokens: 100_000, stream: true }),
      signal: long.signal,
    });
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_slots{state="generating"}') === 1,
      10_000,
      "the first request to generate",
    );
    const waiting = chat(hello);
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_queue_depth{queue="server"}') === 1,
      10_000,
      "the second request to wait",
    );
    const refused = await chat(hello);
    expectError(refused, 429, { code: "queue_full", type: "rate_limit_error" });
    expect(refused.headers.get("retry-after")).toBe("1");
    long.abort();
    await running.then((response) => response.body?.cancel()).catch(() => {});
    expect((await waiting).status).toBe(200);
  });
});

describe("503: a model still loading", () => {
  test("health says loading and completions are refused until init() resolves", async () => {
    const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ slots: 1 })));
    const server = new LlamaServer(parent, { log: () => {} });
    const { url } = await server.listen({ port: 0 });
    try {
      const health = await fetch(`${url}/health`);
      expect([health.status, await health.json()]).toEqual([503, { status: "loading" }]);
      const refused = await postJson(`${url}/v1/chat/completions`, hello);
      expectError(refused, 503, { code: "model_loading", type: "server_error" });
      expect(refused.headers.get("retry-after")).toBe("1");
      await parent.init();
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await postJson(`${url}/v1/chat/completions`, hello)).status).toBe(200);
    } finally {
      await server.close();
      await parent.dispose();
    }
  });
});

test("after all of that the server still answers, and counted every status", async () => {
  const completion = await t.client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "Hello" }], max_tokens: 4 });
  expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
  const metrics = await readMetrics(t.url);
  for (const status of [400, 401, 413, 415, 429])
    expect(metric(metrics, `llama_scope_http_requests_total{route="/v1/chat/completions",status="${status}"}`)).toBeGreaterThan(0);
});
