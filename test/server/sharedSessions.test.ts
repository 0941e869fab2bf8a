// Sessions shared through a conversation store, in process: two LlamaServers with one Redis, for
// what the replicas' test (three serve processes) does not reach: a 409 after the lease wait,
// `durability: "async"`, and the store's metrics.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { startRedisServer, type RedisServer } from "../support/redisServer.js";
import { metric, postJson, readMetrics, startTestServer, type TestServer } from "../support/servers.js";

const SYSTEM = "You are a storyteller. Keep it short.";
const GREEDY = { max_tokens: 8, temperature: 0 };

let redis: RedisServer;
let a: TestServer;
let b: TestServer;

function turn(server: TestServer, session: string, content: string, first = false) {
  const messages = [...(first ? [{ role: "system", content: SYSTEM }] : []), { role: "user", content }];
  return postJson(`${server.url}/v1/chat/completions`, { messages, ...GREEDY }, { "x-session-id": session });
}

beforeAll(async () => {
  redis = await startRedisServer();
  const load = { slots: 2, store: { redis: redis.url } };
  [a, b] = await Promise.all([
    startTestServer(load, { sessionLeaseWaitMs: 200 }),
    startTestServer({ ...load, store: { redis: redis.url } }, { sessionLeaseWaitMs: 200, durability: "async" }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
});

describe("sessions shared through Redis, in process", () => {
  test("a session held elsewhere past sessionLeaseWaitMs gets a 409 that says why; its turn then runs", async () => {
    expect((await turn(a, "held", "Tell me about a cat.", true)).status).toBe(200);
    const lease = await a.parent.conversations!.lease("held");
    try {
      const refused = await turn(b, "held", "What did it eat?");
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: "session_busy", message: expect.stringContaining("another replica") });
    } finally {
      await lease.release();
    }
    expect((await turn(b, "held", "What did it eat?")).status).toBe(200);
    expect(metric(await readMetrics(b.url), 'llama_scope_store_sessions_total{event="busy"}')).toBe(1);
  });

  test('durability "async": the turn is written just after its response, and the other replica continues it', async () => {
    const first = await turn(b, "later", "Tell me about a dog.", true);
    expect(first.status).toBe(200);
    // Written once the session's turn is over, after its response: the session's lease, held until
    // then, makes the other replica's turn wait for the write.
    const next = await turn(a, "later", "Where did it sleep?");
    expect(next.status).toBe(200);
    // The same conversation on one server: the second turn's reply is the same.
    const alone = await startTestServer({ slots: 1 });
    try {
      await turn(alone, "one", "Tell me about a dog.", true);
      const reference = await turn(alone, "one", "Where did it sleep?");
      expect(next.body.choices[0].message.content).toBe(reference.body.choices[0].message.content);
    } finally {
      await alone.close();
    }
    const metrics = await readMetrics(a.url);
    expect(metric(metrics, "llama_scope_store_connected")).toBe(1);
    expect(metric(metrics, 'llama_scope_store_sessions_total{event="loaded"}')).toBeGreaterThanOrEqual(1);
    expect(metric(metrics, "llama_scope_store_bytes_written_total")).toBeGreaterThan(0);
    const health = (await (await fetch(`${a.url}/health`)).json()) as { status: string; store: { connected: boolean } };
    expect(health).toMatchObject({ status: "ok", store: { connected: true } });
  });
});
