// Runs under its own isolations.
// Replicas as a service runs them: three `llama-scope serve` processes sharing sessions through
// one real redis-server, each request sent to any of them. A session's client sends only its new
// message each turn, so a replica that did not have the session's turns would answer otherwise.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { LlamaParent } from "../../src/index.js";
import { startCli, type Cli } from "../support/cliProcess.js";
import { startHaproxy } from "../support/haproxy.js";
import { startParent } from "../support/parents.js";
import { seededRandom } from "../support/randomText.js";
import { startRedisServer, type RedisServer } from "../support/redisServer.js";
import { metric, readMetrics, waitFor } from "../support/servers.js";
import { testModelPath } from "../support/testModel.js";

const CONTEXT_SIZE = 1024;
const SYSTEM = "You are a storyteller. Keep it short.";
const GREEDY = { max_tokens: 8, temperature: 0 };
const NAMES = ["Lily", "Ben", "Mia", "Max", "Sam", "Zoe", "Tim", "Amy", "Leo", "Eva"];
const SUBJECTS = ["a cat", "a dog", "the sea", "a tree", "the moon", "a ball"];

/** Session `i`'s six user messages: distinct sessions, some sharing their first message. */
function messagesOf(i: number): string[] {
  const name = NAMES[i % NAMES.length]!;
  return [0, 1, 2, 3, 4, 5].map((turn) => `${name} asks about ${SUBJECTS[(i + turn) % SUBJECTS.length]!}.`);
}

let redis: RedisServer;
let replicas: Cli[];
/** The reference: each conversation on one chat scope of its own, alone. */
let control: LlamaParent;

async function reference(messages: readonly string[], maxTokens = GREEDY.max_tokens): Promise<string[]> {
  const scope = control.getScope({ mode: "chat", systemPrompt: SYSTEM });
  try {
    const replies: string[] = [];
    for (const message of messages) replies.push((await scope.generate(message, { maxTokens, temperature: 0 })).text);
    return replies;
  } finally {
    await scope.dispose();
  }
}

interface Turn {
  status: number;
  text: string;
  /** When its first piece of text and its end came (streamed turns). */
  first?: number;
  end?: number;
}

/** One turn of a session on a replica: the system prompt with the first message, then the new message only. */
async function send(target: { url: string }, session: string, message: string, first: boolean, options: object = GREEDY): Promise<Turn> {
  const messages = [...(first ? [{ role: "system", content: SYSTEM }] : []), { role: "user", content: message }];
  const response = await fetch(`${target.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-session-id": session },
    body: JSON.stringify({ messages, ...options }),
  });
  if (!(options as { stream?: boolean }).stream) {
    const body = (await response.json()) as { choices?: { message: { content: string } }[] };
    return { status: response.status, text: body.choices?.[0]?.message.content ?? JSON.stringify(body) };
  }
  let text = "";
  let firstAt: number | undefined;
  const decoder = new TextDecoder();
  for await (const bytes of response.body!) {
    firstAt ??= Date.now();
    for (const line of decoder.decode(bytes as Uint8Array, { stream: true }).split("\n")) {
      if (!line.startsWith("data: {")) continue;
      const delta = (JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content;
      text += delta ?? "";
    }
  }
  return { status: response.status, text, first: firstAt!, end: Date.now() };
}

async function sharedCount(event: string): Promise<number> {
  let sum = 0;
  for (const replica of replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null))
    sum += metric(await readMetrics(replica.url), `llama_scope_store_sessions_total{event="${event}"}`);
  return sum;
}

async function healthOf(replica: Cli): Promise<{ status: string; store?: { connected: boolean } }> {
  return (await (await fetch(`${replica.url}/health`)).json()) as { status: string; store?: { connected: boolean } };
}

/** Waits until every replica says its store is connected again. */
async function allConnected(): Promise<void> {
  await waitFor(
    async () => (await Promise.all(replicas.map(healthOf))).every((health) => health.status === "ok"),
    20_000,
    "the replicas to reconnect",
  );
}

beforeAll(async () => {
  redis = await startRedisServer({ appendonly: true }); // a restarted Redis has every write it acknowledged
  const args = ["--model", testModelPath(), "--port", "0", "--slots", "1", "--threads", "1", "--context-size", String(CONTEXT_SIZE)];
  [control, ...replicas] = await Promise.all([
    startParent({ slots: 1, contextSize: CONTEXT_SIZE, isolation: "thread" }),
    ...[0, 1, 2].map(() => startCli([...args, "--redis", redis.url])),
  ]);
});
afterAll(async () => {
  for (const replica of replicas ?? []) replica.child.kill("SIGKILL");
  await Promise.all((replicas ?? []).map((replica) => replica.exited));
  await control?.dispose();
  await redis?.stop();
});

describe("replicas sharing sessions through Redis", () => {
  test("30 sessions × 6 turns, each turn on a random replica: every reply is the conversation's on one scope", async () => {
    const sessions = Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, messages: messagesOf(i) }));
    const expected = new Map<string, string[]>();
    for (const session of sessions) expected.set(session.id, await reference(session.messages));
    const random = seededRandom(22);
    const plans = sessions.map((session) => session.messages.map(() => Math.floor(random() * replicas.length)));
    const got = new Map<string, string[]>();
    // Six sessions at a time; each session's turns in order, as one client sends them.
    const queue = [...sessions.keys()];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const { id, messages } = sessions[next]!;
          const replies: string[] = [];
          for (const [turn, message] of messages.entries()) {
            const answer = await send(replicas[plans[next]![turn]!]!, id, message, turn === 0);
            expect(answer.status).toBe(200);
            replies.push(answer.text);
          }
          got.set(id, replies);
        }
      }),
    );
    for (const { id } of sessions) expect([id, got.get(id)]).toEqual([id, expected.get(id)]);
    // Turns moved between replicas through the store; none was refused or lost to a conflict.
    expect(await sharedCount("loaded")).toBeGreaterThan(30);
    expect(await sharedCount("saved")).toBe(180);
    expect([await sharedCount("conflict"), await sharedCount("busy"), await sharedCount("degraded")]).toEqual([0, 0, 0]);
  });

  test("two replicas racing on one session: its turns run one after the other, never interleaved", async () => {
    const [a, b, c] = replicas as [Cli, Cli, Cli];
    const opening = "Tell me about a fox.";
    await send(a, "race", opening, true);
    const long = { ...GREEDY, max_tokens: 48, stream: true };
    const [fromA, fromB] = await Promise.all([
      send(a, "race", "What did the fox see?", false, long),
      send(b, "race", "Where did it go?", false, long),
    ]);
    expect([fromA.status, fromB.status]).toEqual([200, 200]);
    const [earlier, later] = fromA.first! < fromB.first! ? [fromA, fromB] : [fromB, fromA];
    expect(later.first!).toBeGreaterThanOrEqual(earlier.end! - 5);
    // The conversation holds both turns, in the order they ran.
    const order = earlier === fromA ? ["What did the fox see?", "Where did it go?"] : ["Where did it go?", "What did the fox see?"];
    const closing = await send(c, "race", "The end.", false);
    // The racing turns generated up to 48 tokens: the reference gives them as many.
    const scope = control.getScope({ mode: "chat", systemPrompt: SYSTEM });
    try {
      await scope.generate(opening, { maxTokens: 8, temperature: 0 });
      expect((await scope.generate(order[0]!, { maxTokens: 48, temperature: 0 })).text).toBe(earlier.text);
      expect((await scope.generate(order[1]!, { maxTokens: 48, temperature: 0 })).text).toBe(later.text);
      expect(closing.text).toBe((await scope.generate("The end.", { maxTokens: 8, temperature: 0 })).text);
    } finally {
      await scope.dispose();
    }
    expect(await sharedCount("conflict")).toBe(0);
  });

  test("a Redis restart loses no acknowledged turn; Redis stopped for 10 s: sessions still get 200, and are written when it is back", async () => {
    const [a, b, c] = replicas as [Cli, Cli, Cli];
    const messages = messagesOf(3);
    const expected = await reference(messages.slice(0, 5));
    expect((await send(a, "durable", messages[0]!, true)).text).toBe(expected[0]);
    expect((await send(b, "durable", messages[1]!, false)).text).toBe(expected[1]);
    await redis.restart();
    await allConnected();
    expect((await send(c, "durable", messages[2]!, false)).text).toBe(expected[2]);

    await redis.halt();
    const stoppedAt = Date.now();
    let savedBefore = 0;
    try {
      await waitFor(async () => (await healthOf(a)).status === "degraded", 10_000, "a replica to report the store down");
      expect((await healthOf(a)).store).toMatchObject({ connected: false });
      // A new session, and a turn of an existing one, on a replica that has it.
      const fresh = messagesOf(4);
      const offline = await send(a, "offline", fresh[0]!, true);
      expect(offline).toMatchObject({ status: 200, text: (await reference(fresh.slice(0, 1)))[0] });
      expect((await send(c, "durable", messages[3]!, false)).text).toBe(expected[3]);
      expect(metric(await readMetrics(c.url), "llama_scope_store_connected")).toBe(0);
      savedBefore = metric(await readMetrics(c.url), 'llama_scope_store_sessions_total{event="saved"}');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
    } finally {
      await redis.resume();
    }
    await allConnected();
    // The turn made while Redis was down reaches it by itself: another replica continues from it.
    await waitFor(
      async () => metric(await readMetrics(c.url), 'llama_scope_store_sessions_total{event="saved"}') > savedBefore,
      10_000,
      "the catch-up",
    );
    expect((await send(b, "durable", messages[4]!, false)).text).toBe(expected[4]);
  });

  test("behind haproxy with the example config: each session stays on one replica, and every reply is its conversation's", async () => {
    const proxy = await startHaproxy(replicas.map((replica) => replica.url));
    try {
      const sessions = Array.from({ length: 8 }, (_, i) => ({ id: `lb${i}`, messages: messagesOf(i + 11).slice(0, 4) }));
      const loadedBefore = await sharedCount("loaded");
      for (const { id, messages } of sessions) {
        const expected = await reference(messages);
        const replies: string[] = [];
        for (const [turn, message] of messages.entries()) replies.push((await send(proxy, id, message, turn === 0)).text);
        expect([id, replies]).toEqual([id, expected]);
      }
      // Hashing the session id kept each session on its replica: no turn loaded one from Redis.
      expect(await sharedCount("loaded")).toBe(loadedBefore);
    } finally {
      await proxy.stop();
    }
  });

  test("kill -9 of a replica during a generation: every completed turn survives, and the session goes on elsewhere", async () => {
    const [a, b, victim] = replicas as [Cli, Cli, Cli];
    const messages = messagesOf(7);
    const expected = await reference(messages.slice(0, 4));
    expect((await send(a, "survivor", messages[0]!, true)).text).toBe(expected[0]);
    expect((await send(victim, "survivor", messages[1]!, false)).text).toBe(expected[1]);
    expect((await send(victim, "survivor", messages[2]!, false)).text).toBe(expected[2]);
    // A long reply on the victim, killed once it has started.
    const response = await fetch(`${victim.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-session-id": "survivor" },
      body: JSON.stringify({ messages: [{ role: "user", content: messages[3] }], max_tokens: 100_000, stream: true }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    victim.child.kill("SIGKILL");
    await victim.exited;
    await reader.read().catch(() => {});
    // The client sends the turn again, to another replica: the two completed turns on the victim are there.
    const again = await send(b, "survivor", messages[3]!, false);
    expect(again).toMatchObject({ status: 200, text: expected[3] });
  });
});
