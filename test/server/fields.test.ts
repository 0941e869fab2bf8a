// OpenAI's fields about its platform rather than the reply (store, metadata, service_tier, …):
// accepted with their documented values and ignored, the reply the same as without them; a value
// of the wrong type is a 400 naming the field; web_search_options, which asks for what only
// OpenAI's platform has, is refused (docs/server.md lists every field).
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { postJson, startTestServer, type TestServer } from "../support/servers.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ slots: 1 }, { maxStatelessScopes: 0 });
});
afterAll(() => t.close());

const CHAT = { messages: [{ role: "user", content: "Tell me about a cat." }], max_tokens: 8, temperature: 0 };
const COMPLETION = { prompt: "Once upon a time", max_tokens: 8, temperature: 0 };

const IGNORED = {
  store: true,
  metadata: { app: "tests" },
  service_tier: "auto",
  prompt_cache_key: "tests",
  safety_identifier: "user-1",
  reasoning_effort: "low",
  verbosity: "high",
  user: "alice",
  stream_options: { include_usage: true, include_obfuscation: false },
};

test("chat: the platform's fields are accepted and change nothing", async () => {
  const plain = await postJson(`${t.url}/v1/chat/completions`, CHAT);
  const withFields = await postJson(`${t.url}/v1/chat/completions`, { ...CHAT, ...IGNORED });
  expect([plain.status, withFields.status]).toEqual([200, 200]);
  expect(withFields.body.choices[0].message.content).toBe(plain.body.choices[0].message.content);
});

test("completions: user and stream_options are accepted and change nothing", async () => {
  const plain = await postJson(`${t.url}/v1/completions`, COMPLETION);
  const withFields = await postJson(`${t.url}/v1/completions`, { ...COMPLETION, user: "alice", stream_options: { include_usage: true } });
  expect([plain.status, withFields.status]).toEqual([200, 200]);
  expect(withFields.body.choices[0].text).toBe(plain.body.choices[0].text);
});

test.each([
  ["store", "yes", "store"],
  ["metadata", { app: 1 }, "metadata"],
  ["metadata", ["a"], "metadata"],
  ["service_tier", 1, "service_tier"],
  ["prompt_cache_key", {}, "prompt_cache_key"],
  ["safety_identifier", 7, "safety_identifier"],
  ["reasoning_effort", "extreme", "reasoning_effort"],
  ["verbosity", "loud", "verbosity"],
  ["stream_options", "usage", "stream_options"],
  ["stream_options", { include_usage: "yes" }, "stream_options.include_usage"],
])("chat: %s = %j is a 400 naming %s", async (field, value, param) => {
  const { status, body } = await postJson(`${t.url}/v1/chat/completions`, { ...CHAT, [field]: value });
  expect(status).toBe(400);
  expect(body.error).toMatchObject({ type: "invalid_request_error", param, code: "invalid_value" });
});

test("chat: web_search_options is refused: the server cannot search the web", async () => {
  const { status, body } = await postJson(`${t.url}/v1/chat/completions`, { ...CHAT, web_search_options: {} });
  expect(status).toBe(400);
  expect(body.error).toMatchObject({ param: "web_search_options", code: "unsupported_parameter" });
  expect(body.error.message).toMatch(/cannot search the web/);
});
