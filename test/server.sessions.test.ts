// maxSessions: past it the server ends the least recently used idle session, written to the state
// directory when there is one (and revived exactly at its next request), else gone.
import { afterEach, describe, expect, test } from "@jest/globals";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { GenerationResult, LlamaParent } from "../src/index.js";
import { InvalidArgumentError } from "../src/index.js";
import { LlamaServer } from "../src/server/index.js";
import { startParent } from "./support/parents.js";
import { metric, readMetrics, startTestServer, waitFor, type TestServer } from "./support/servers.js";

const SYSTEM = "You are a storyteller. Keep it short.";
const TURNS = ["Tell me about a cat.", "What did the cat eat?"];
const GREEDY = { max_tokens: 16, temperature: 0 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(maxSessions: number, stateDir?: string): Promise<TestServer> {
  const t = await startTestServer({ slots: 2 }, { maxSessions, ...(stateDir === undefined ? {} : { stateDir }) });
  cleanups.push(() => t.close());
  return t;
}

/** One request of session `id` sending only its new message (and the system prompt with the first). */
async function turn(t: TestServer, id: string, index: number): Promise<{ text: string; promptTokens: number }> {
  const messages: ChatCompletionMessageParam[] = [...(index === 0 ? [{ role: "system" as const, content: SYSTEM }] : []), { role: "user", content: TURNS[index]! }];
  const completion = await t.client.chat.completions.create({ model: "stories260K", messages, ...GREEDY }, { headers: { "X-Session-Id": id } });
  return { text: completion.choices[0]!.message.content ?? "", promptTokens: completion.usage!.prompt_tokens };
}

/** The library's own chat scope given `turns`: what a session that was never ended replies. */
async function library(parent: LlamaParent, turns: string[], systemPrompt?: string): Promise<GenerationResult[]> {
  const scope = parent.getScope({ mode: "chat", ...(systemPrompt === undefined ? {} : { systemPrompt }) });
  try {
    const results: GenerationResult[] = [];
    for (const text of turns) results.push(await scope.generate(text, { maxTokens: GREEDY.max_tokens, temperature: 0 }));
    return results;
  } finally {
    await scope.dispose();
  }
}

describe("maxSessions", () => {
  test("with a state directory, the least recently used idle session is written there and revived exactly at its next request", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-sessions-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const t = await server(2, dir);
    const expected = await library(t.parent, TURNS, SYSTEM);
    for (const id of ["a", "b", "c"]) expect((await turn(t, id, 0)).text).toBe(expected[0]!.text);
    // c made three: a, used least recently, was ended and written.
    let metrics = await readMetrics(t.url);
    expect(metric(metrics, "llama_scope_sessions_evicted_total")).toBe(1);
    expect(metric(metrics, 'llama_scope_sessions{state="live"}')).toBe(2);
    await waitFor(async () => metric(await readMetrics(t.url), 'llama_scope_sessions{state="stored"}') === 1, 5000, "a's state written");
    expect((await readdir(dir)).filter((name) => name.endsWith(".llstate"))).toHaveLength(1);
    // a comes back: revived from its file, it continues where it stopped, evaluating only the new turn.
    const second = await turn(t, "a", 1);
    expect(second.text).toBe(expected[1]!.text);
    expect(second.promptTokens).toBe(expected[1]!.promptTokenCount);
    metrics = await readMetrics(t.url);
    expect(metric(metrics, "llama_scope_sessions_revived_total")).toBe(1);
    expect(metric(metrics, "llama_scope_sessions_evicted_total")).toBe(2); // b went to make room for a
  });

  test("without one, the ended session's conversation is gone: its next request starts a new one", async () => {
    const t = await server(1);
    await turn(t, "a", 0);
    await turn(t, "b", 0);
    expect(metric(await readMetrics(t.url), "llama_scope_sessions_evicted_total")).toBe(1);
    const [fresh] = await library(t.parent, [TURNS[1]!]);
    const again = await turn(t, "a", 1);
    expect(again.text).toBe(fresh!.text);
    expect(again.promptTokens).toBe(fresh!.promptTokenCount);
  });

  test("maxSessions must be a whole number of at least 1", async () => {
    const parent = await startParent({ slots: 1 });
    cleanups.push(() => parent.dispose());
    for (const maxSessions of [0, 1.5, -1, Number.NaN]) expect(() => new LlamaServer(parent, { maxSessions })).toThrow(InvalidArgumentError);
  });
});
