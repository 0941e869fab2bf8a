// Runs under its own isolations.
// `llama-scope serve` as a user runs it: a real child process running the CLI, configured by
// flags and LLAMA_SCOPE_* variables. SIGTERM saves every session to the state directory; the
// next start revives a session at its next request, and it continues exactly where it stopped.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { GenerationResult, LlamaParent } from "../../src/index.js";
import { startParent } from "../support/parents.js";
import { CLI, startCli } from "../support/cliProcess.js";
import { metric, openaiClient, readMetrics, waitFor } from "../support/servers.js";
import { testModelPath } from "../support/testModel.js";

const CONTEXT_SIZE = 1024;
const SYSTEM = "You are a storyteller. Keep it short.";
const TURNS = ["Tell me about a cat.", "What did the cat eat?", "Where did it sleep?"];
const GREEDY = { max_tokens: 16, temperature: 0 };

/** Runs the CLI to its end (for --help and usage errors). */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NODE_OPTIONS: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

let stateDir: string;
let control: LlamaParent;
beforeAll(async () => {
  stateDir = path.join(await mkdtemp(path.join(os.tmpdir(), "llama-scope-cli-")), "sessions"); // made by the CLI
  control = await startParent({ slots: 1, contextSize: CONTEXT_SIZE, isolation: "thread" });
});
afterAll(async () => {
  await control.dispose();
  await rm(path.dirname(stateDir), { recursive: true, force: true });
});

describe("llama-scope serve", () => {
  test("--help lists every flag with its environment variable; a bad flag exits with 2 and says what to do", async () => {
    const help = await runCli(["serve", "--help"]);
    expect(help.code).toBe(0);
    for (const [flag, variable] of [
      ["--model", "LLAMA_SCOPE_MODEL"],
      ["--slots", "LLAMA_SCOPE_SLOTS"],
      ["--port", "LLAMA_SCOPE_PORT"],
      ["--host", "LLAMA_SCOPE_HOST"],
      ["--context-size", "LLAMA_SCOPE_CONTEXT_SIZE"],
      ["--threads", "LLAMA_SCOPE_THREADS"],
      ["--isolation", "LLAMA_SCOPE_ISOLATION"],
      ["--max-ram", "LLAMA_SCOPE_MAX_RAM"],
      ["--api-key", "LLAMA_SCOPE_API_KEY"],
      ["--state-dir", "LLAMA_SCOPE_STATE_DIR"],
      ["--max-queue", "LLAMA_SCOPE_MAX_QUEUE"],
      ["--max-sessions", "LLAMA_SCOPE_MAX_SESSIONS"],
      ["--max-session-queue", "LLAMA_SCOPE_MAX_SESSION_QUEUE"],
      ["--max-messages", "LLAMA_SCOPE_MAX_MESSAGES"],
      ["--max-saved-sessions", "LLAMA_SCOPE_MAX_SAVED_SESSIONS"],
      ["--max-state-size", "LLAMA_SCOPE_MAX_STATE_SIZE"],
      ["--embeddings", "LLAMA_SCOPE_EMBEDDINGS"],
      ["--embedding-model", "LLAMA_SCOPE_EMBEDDING_MODEL"],
      ["--redis", "LLAMA_SCOPE_REDIS"],
      ["--durability", "LLAMA_SCOPE_DURABILITY"],
    ] as const)
      expect(help.stdout).toMatch(new RegExp(`--${flag.slice(2)} [\\s\\S]*?\\[${variable}\\]`));
    const bad = await runCli(["serve", "--model", testModelPath(), "--slots", "many"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--slots must be a whole number from 1 to");
    const noRoom = await runCli(["serve", "--model", testModelPath(), "--max-state-size", "0"]);
    expect(noRoom.code).toBe(2);
    expect(noRoom.stderr).toContain("--max-state-size must be a size");
    const noEmbeddings = await runCli(["serve", "--model", testModelPath(), "--embeddings", "maybe"]);
    expect(noEmbeddings.code).toBe(2);
    expect(noEmbeddings.stderr).toContain('--embeddings must be "on" or "off"');
    const noRedis = await runCli(["serve", "--model", testModelPath(), "--redis", "localhost:6379"]);
    expect(noRedis.code).toBe(2);
    expect(noRedis.stderr).toContain("--redis must be a Redis URL");
    const unknown = await runCli(["serve", "--modle", "x"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--help");
  });

  test("a session continues after SIGTERM and a restart, as if the server had never stopped", async () => {
    // What one chat scope replies to the three turns: the expected replies.
    const scope = control.getScope({ mode: "chat", systemPrompt: SYSTEM });
    const expected: GenerationResult[] = [];
    for (const turn of TURNS) expected.push(await scope.generate(turn, { maxTokens: GREEDY.max_tokens, temperature: 0 }));
    await scope.dispose();

    // Flags and environment variables mixed: the flag wins where both are given.
    const env = { LLAMA_SCOPE_STATE_DIR: stateDir, LLAMA_SCOPE_SLOTS: "2", LLAMA_SCOPE_PORT: "8", LLAMA_SCOPE_THREADS: "1" };
    const args = ["--model", testModelPath(), "--port", "0", "--context-size", String(CONTEXT_SIZE)];
    const first = await startCli(args, env);
    const client = openaiClient(first.url);
    const alice = { headers: { "X-Session-Id": "alice" } };
    const opening = await client.chat.completions.create(
      {
        model: "m",
        messages: [
          { role: "system", content: SYSTEM },
          { role: "user", content: TURNS[0]! },
        ],
        ...GREEDY,
      },
      alice,
    );
    expect(opening.choices[0]!.message.content).toBe(expected[0]!.text);
    const second = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: TURNS[1]! }], ...GREEDY }, alice);
    expect(second.choices[0]!.message.content).toBe(expected[1]!.text);
    await client.chat.completions.create(
      { model: "m", messages: [{ role: "user", content: "Hello" }], ...GREEDY },
      { headers: { "X-Session-Id": "bob" } },
    );
    expect(metric(await readMetrics(first.url), 'llama_scope_slots{state="total"}')).toBe(2);

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain("saved 2 sessions");
    // llama.cpp's load warnings ("bad special token") are not shown at the default log level.
    expect(first.output()).not.toContain("[node-llama-cpp]");
    expect((await readdir(stateDir)).filter((name) => name.endsWith(".llstate"))).toHaveLength(2);

    const restarted = await startCli(args, env);
    try {
      expect(metric(await readMetrics(restarted.url), 'llama_scope_sessions{state="stored"}')).toBe(2);
      const third = await openaiClient(restarted.url).chat.completions.create(
        { model: "m", messages: [{ role: "user", content: TURNS[2]! }], ...GREEDY },
        alice,
      );
      expect(third.choices[0]!.message.content).toBe(expected[2]!.text);
      // Revived from its state: only the new turn was evaluated.
      expect(third.usage!.prompt_tokens).toBe(expected[2]!.promptTokenCount);
      const metrics = await readMetrics(restarted.url);
      expect(metric(metrics, "llama_scope_sessions_revived_total")).toBe(1);
      expect(metric(metrics, 'llama_scope_sessions{state="stored"}')).toBe(1);
      expect(metric(metrics, 'llama_scope_completions_total{endpoint="chat",session="continued"}')).toBe(1);
    } finally {
      restarted.child.kill("SIGTERM");
      expect(await restarted.exited).toBe(0);
    }
    // Bob was never revived: his file stays; Alice's was written again.
    expect((await readdir(stateDir)).filter((name) => name.endsWith(".llstate"))).toHaveLength(2);
  });

  test("SIGTERM while a 5,001-message request and a long streamed reply are in flight: the process exits 0", async () => {
    const cli = await startCli([
      "--model",
      testModelPath(),
      "--port",
      "0",
      "--slots",
      "2",
      "--context-size",
      String(CONTEXT_SIZE),
      "--threads",
      "1",
    ]);
    const messages = Array.from({ length: 5001 }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: "a" }));
    const post = (body: object, sessionId: string) =>
      fetch(`${cli.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-session-id": sessionId },
        body: JSON.stringify(body),
      })
        .then(async (response) => ({ status: response.status, text: await response.text() }))
        .catch((error: Error) => ({ status: 0, text: error.message }));
    try {
      const many = post({ messages, max_tokens: 4 }, "many");
      const long = post({ messages: [{ role: "user", content: "A long story." }], max_tokens: 100_000, stream: true }, "long");
      await waitFor(
        async () => metric(await readMetrics(cli.url), 'llama_scope_slots{state="generating"}') >= 1,
        20_000,
        "a generation to start",
      );
      const signalled = Date.now();
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(0);
      // Within the 10 s grace for requests in flight, and well before the 60 s limit.
      expect(Date.now() - signalled).toBeLessThan(30_000);
      expect(cli.output()).not.toContain("terminate called");
      expect((await many).status).toBe(413);
      expect((await long).status).toBe(200);
    } finally {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill("SIGKILL");
    }
  });
});
