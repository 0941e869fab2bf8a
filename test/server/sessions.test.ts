// maxSessions: past it the server ends the least recently used idle session, written to the state
// directory when there is one (and revived exactly at its next request), else gone. The state
// directory stays within its bounds (maxSavedSessions, maxStateBytes), oldest files removed
// first. Only X-Session-Id names a session: the `user` field never joins conversations, and any
// printable `user` works.
import { afterEach, describe, expect, test } from "@jest/globals";
import { createHash } from "node:crypto";
import net from "node:net";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { GenerationResult, LlamaParent } from "../../src/index.js";
import { InvalidArgumentError } from "../../src/index.js";
import { LlamaServer, type ServerOptions } from "../../src/server/index.js";
import { startParent } from "../support/parents.js";
import { metric, readMetrics, startTestServer, waitFor, type TestServer } from "../support/servers.js";

const SYSTEM = "You are a storyteller. Keep it short.";
const TURNS = ["Tell me about a cat.", "What did the cat eat?"];
const GREEDY = { max_tokens: 16, temperature: 0 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(maxSessions: number, stateDir?: string, options: ServerOptions = {}): Promise<TestServer> {
  const t = await startTestServer({ slots: 2 }, { maxSessions, ...(stateDir === undefined ? {} : { stateDir }), ...options });
  cleanups.push(() => t.close());
  return t;
}

async function stateDirectory(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-sessions-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A session's file in the state directory (named by the hash of its id). */
function fileOf(id: string): string {
  return `session-${createHash("sha256").update(id).digest("hex")}.llstate`;
}

async function sessionFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(".llstate")).sort();
}

/**
 * A POST over a plain socket, its head written as the bytes given (a client such as curl sends a
 * UTF-8 header as its bytes; Node's and fetch's clients refuse to). Resolves with the status, the
 * response's headers (each byte one Latin-1 character, as Node reads them) and its body's text.
 */
function rawPost(url: string, body: string, sessionId: Buffer): Promise<{ status: number; headers: Map<string, string>; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nX-Session-Id: `;
    // Written, not ended: a client that half-closes its socket has gone away, to the server.
    socket.write(Buffer.concat([Buffer.from(head, "latin1"), sessionId, Buffer.from(`\r\n\r\n${body}`, "utf8")]));
    let received = Buffer.alloc(0);
    socket.on("error", reject);
    socket.on("data", (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const response = received.toString("latin1");
      const end = response.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [top = "", ...lines] = response.slice(0, end).split("\r\n");
      const headers = new Map(
        lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      const text = response.slice(end + 4);
      // Whole once its length is there, or (chunked, as a stream is sent) once the last chunk is.
      const length = headers.get("content-length");
      if (length !== undefined ? Buffer.byteLength(text, "latin1") < Number(length) : !text.endsWith("0\r\n\r\n")) return;
      socket.destroy();
      resolve({ status: Number(top.split(" ")[1]), headers, text });
    });
  });
}

/** One request of session `id` sending only its new message (and the system prompt with the first). */
async function turn(t: TestServer, id: string, index: number): Promise<{ text: string; promptTokens: number }> {
  const messages: ChatCompletionMessageParam[] = [
    ...(index === 0 ? [{ role: "system" as const, content: SYSTEM }] : []),
    { role: "user", content: TURNS[index]! },
  ];
  const completion = await t.client.chat.completions.create(
    { model: "stories260K", messages, ...GREEDY },
    { headers: { "X-Session-Id": id } },
  );
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

  test("a revived session's file stays until a newer save replaces it: a server killed afterwards still has the session", async () => {
    const dir = await stateDirectory();
    const t = await server(1, dir);
    const expected = await library(t.parent, TURNS, SYSTEM);
    await turn(t, "a", 0);
    await turn(t, "b", 0); // a is written
    await waitFor(async () => (await sessionFiles(dir)).length === 1, 5000, "a's state written");
    expect((await turn(t, "a", 1)).text).toBe(expected[1]!.text); // revived; b is written
    await waitFor(async () => (await sessionFiles(dir)).length === 2, 5000, "b's state written");
    expect(await sessionFiles(dir)).toEqual([fileOf("a"), fileOf("b")].sort());
    // As after kill -9: nothing saved again. The next server revives a as it was revived here.
    const next = await server(1, dir);
    const again = await turn(next, "a", 1);
    expect(again.text).toBe(expected[1]!.text);
    expect(again.promptTokens).toBe(expected[1]!.promptTokenCount);
  });

  test("maxSavedSessions bounds the files: 12 invented ids leave the newest 3, oldest removed first", async () => {
    const dir = await stateDirectory();
    const t = await server(1, dir, { maxSavedSessions: 3 });
    const ids = Array.from({ length: 12 }, (_, i) => `invented-${i}`);
    for (const id of ids) await turn(t, id, 0);
    await waitFor(async () => metric(await readMetrics(t.url), "llama_scope_sessions_evicted_total") === 11, 5000, "11 evictions");
    await waitFor(async () => (await sessionFiles(dir)).length <= 3, 5000, "the directory pruned");
    // The newest three written: ids 8, 9 and 10 (11 is live).
    expect(await sessionFiles(dir)).toEqual(ids.slice(8, 11).map(fileOf).sort());
    expect(metric(await readMetrics(t.url), 'llama_scope_sessions{state="stored"}')).toBe(3);
  });

  test("maxStateBytes bounds the bytes the files take", async () => {
    const dir = await stateDirectory();
    const probe = await server(1, dir);
    await turn(probe, "probe", 0);
    await turn(probe, "probe-2", 0);
    await waitFor(async () => (await sessionFiles(dir)).length === 1, 5000, "a file written");
    const size = (await stat(path.join(dir, fileOf("probe")))).size;
    await probe.close();
    cleanups.pop();
    const maxStateBytes = Math.floor(size * 2.5);
    const t = await server(1, dir, { maxStateBytes });
    for (const id of ["x1", "x2", "x3", "x4", "x5"]) await turn(t, id, 0);
    await waitFor(async () => metric(await readMetrics(t.url), "llama_scope_sessions_evicted_total") === 4, 5000, "4 evictions");
    const files = await sessionFiles(dir);
    let bytes = 0;
    for (const name of files) bytes += (await stat(path.join(dir, name))).size;
    expect(bytes).toBeLessThanOrEqual(maxStateBytes);
    expect(files).toEqual([fileOf("x3"), fileOf("x4")].sort());
  });

  test("set-aside .rejected files and half-written .tmp files count too: the directory never holds more than maxSavedSessions", async () => {
    const dir = await stateDirectory();
    // Five damaged saves, oldest first, and a save a crash interrupted.
    const damaged = ["d1", "d2", "d3", "d4", "d5"];
    for (const [i, id] of damaged.entries()) {
      const file = path.join(dir, fileOf(id));
      await writeFile(file, "not a state");
      await utimes(file, 1_000_000 + i, 1_000_000 + i);
    }
    await writeFile(path.join(dir, `${fileOf("torn")}.tmp`), "half");
    const t = await server(10, dir, { maxSavedSessions: 3 });
    // At start: the two oldest removed, the torn one too.
    expect((await readdir(dir)).sort()).toEqual(damaged.slice(2).map(fileOf).sort());
    // Each request of a damaged session sets its file aside; the session starts anew.
    for (const id of damaged.slice(2)) expect((await turn(t, id, 0)).text.length).toBeGreaterThan(0);
    expect((await readdir(dir)).sort()).toEqual(
      damaged
        .slice(2)
        .map((id) => `${fileOf(id)}.rejected`)
        .sort(),
    );
    // New saves push the oldest .rejected files out.
    await t.close();
    cleanups.pop();
    const files = await readdir(dir);
    expect(files).toHaveLength(3);
    expect(files.filter((name) => name.endsWith(".llstate"))).toHaveLength(3);
  });

  test("maxSessions must be a whole number of at least 1", async () => {
    const parent = await startParent({ slots: 1 });
    cleanups.push(() => parent.dispose());
    for (const maxSessions of [0, 1.5, -1, Number.NaN])
      expect(() => new LlamaServer(parent, { maxSessions })).toThrow(InvalidArgumentError);
  });
});

describe("the user field", () => {
  test("never joins conversations: two one-message conversations of one user are two conversations", async () => {
    const t = await server(10);
    const [first] = await library(t.parent, [TURNS[0]!]);
    const [second] = await library(t.parent, [TURNS[1]!]);
    const before = await readMetrics(t.url);
    const ask = (content: string) =>
      t.client.chat.completions.create({
        model: "stories260K",
        messages: [{ role: "user", content }],
        user: "alice@example.com",
        ...GREEDY,
      });
    const a = await ask(TURNS[0]!);
    const b = await ask(TURNS[1]!);
    expect([a.choices[0]!.message.content, a.usage!.prompt_tokens]).toEqual([first!.text, first!.promptTokenCount]);
    expect([b.choices[0]!.message.content, b.usage!.prompt_tokens]).toEqual([second!.text, second!.promptTokenCount]);
    const after = await readMetrics(t.url);
    const count = (session: string) =>
      metric(after, `llama_scope_completions_total{endpoint="chat",session="${session}"}`) -
      metric(before, `llama_scope_completions_total{endpoint="chat",session="${session}"}`);
    expect([count("none"), count("started"), count("continued")]).toEqual([2, 0, 0]);
    expect(metric(after, 'llama_scope_sessions{state="live"}')).toBe(0);
  });

  test.each([["日本-🦙"], ["a\u2028b"], ["zoë"]])("any printable user works, whole and streamed: %j", async (user) => {
    const t = await server(10);
    const messages: ChatCompletionMessageParam[] = [{ role: "user", content: TURNS[0]! }];
    const whole = await t.client.chat.completions.create({ model: "m", messages, user, ...GREEDY });
    expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0);
    // A client that gives up after 20 s: a stream that never starts fails the test instead of hanging it.
    const stream = await t.client.chat.completions.create({ model: "m", messages, user, stream: true, ...GREEDY }, { timeout: 20_000 });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe(whole.choices[0]!.message.content);
    await waitFor(async () => metric(await readMetrics(t.url), "llama_scope_requests_in_flight") === 0, 5000, "no request left in flight");
  });

  test("an X-Session-Id of UTF-8 bytes names a session, whole and streamed; only printable ASCII ids are echoed", async () => {
    const t = await server(10);
    const id = Buffer.from("日本-🦙", "utf8");
    const before = await readMetrics(t.url);
    for (const [i, stream] of [false, true].entries()) {
      const messages = [{ role: "user", content: TURNS[i]! }];
      const response = await rawPost(t.url, JSON.stringify({ messages, stream, ...GREEDY }), id);
      expect(response.status).toBe(200);
      expect(response.headers.has("x-session-id")).toBe(false);
      expect(response.text).toContain(stream ? "data: [DONE]" : '"chat.completion"');
    }
    const after = await readMetrics(t.url);
    expect(
      metric(after, 'llama_scope_completions_total{endpoint="chat",session="continued"}') -
        metric(before, 'llama_scope_completions_total{endpoint="chat",session="continued"}'),
    ).toBe(1);
    const ascii = await rawPost(t.url, JSON.stringify({ messages: [{ role: "user", content: "Hi" }], ...GREEDY }), Buffer.from("Zoe 1"));
    expect(ascii.headers.get("x-session-id")).toBe("Zoe 1");
    expect(metric(await readMetrics(t.url), 'llama_scope_sessions{state="live"}')).toBe(2);
  });
});
