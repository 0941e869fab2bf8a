// One client cannot hold up the others: a request with thousands of messages is refused before
// any work is done for it, and a session that sends many requests at once waits in its own queue,
// holding one place in the server's admission queue, so other sessions are served after at most
// one of its replies.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { metric, postJson, readMetrics, startTestServer, waitFor, type TestServer } from "../support/servers.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ slots: 1, contextSize: 2048 });
});
afterAll(() => t.close());

const chat = (body: unknown, sessionId: string) => postJson(`${t.url}/v1/chat/completions`, body, { "x-session-id": sessionId });
const hello = { messages: [{ role: "user", content: "Hello" }], max_tokens: 4, temperature: 0 };

/** `count` one-character messages, alternating user and assistant, the last the user's. */
function tinyMessages(count: number): { role: string; content: string }[] {
  return Array.from({ length: count }, (_, i) => ({ role: (count - 1 - i) % 2 === 0 ? "user" : "assistant", content: "a" }));
}

describe("a request with very many messages", () => {
  test("5,001 one-character messages (162 KB) are refused at once with a 413, and another session is not held up", async () => {
    const body = JSON.stringify({ messages: tinyMessages(5001), max_tokens: 4 });
    expect(body.length).toBeGreaterThan(160_000);
    await chat(hello, "other"); // warm
    const started = Date.now();
    const big = chat(body, "big").then((response) => ({ ...response, ms: Date.now() - started }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const otherStarted = Date.now();
    const other = await chat(hello, "other");
    const otherMs = Date.now() - otherStarted;
    expect(other.status).toBe(200);
    expect(otherMs).toBeLessThan(1000);
    const refused = await big;
    expect(refused.status).toBe(413);
    expect(refused.body.error.code).toBe("too_many_messages");
    expect(refused.body.error.message).toContain("--max-messages");
    expect(refused.ms).toBeLessThan(1000);
  });

  test("a conversation of maxMessages messages far longer than a slot is answered, its exchanges that cannot fit left out before rendering", async () => {
    // 256 messages of nearly the longest a slot could hold: some 200 times what it holds. The
    // scope would render the whole conversation again for each exchange it leaves out.
    const words = "cat sat on the mat ";
    const length = Math.floor((t.parent.modelInfo!.maxPromptLength * 0.9) / words.length);
    const messages = tinyMessages(256).map((message, i) => ({
      ...message,
      content: i === 255 ? "And then?" : `${i} ${words.repeat(length)}`,
    }));
    const started = Date.now();
    const answered = await chat({ messages, max_tokens: 4, temperature: 0 }, "long");
    expect(answered.status).toBe(200);
    // What the slot evaluated is what fits: the newest exchanges, not the whole conversation.
    expect(answered.body.usage.prompt_tokens).toBeLessThanOrEqual(2048);
    // About 3 s (evaluating a slot's worth of tokens); rendering it all took over 20 s.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("many requests on one session", () => {
  test("80 requests on one id: its queue takes 8 at a time, the rest get the session's own 429, and three other sessions wait for at most one of its replies", async () => {
    const finished: string[] = [];
    const busy = Array.from({ length: 80 }, () =>
      chat({ messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 160, temperature: 0 }, "busy").then((response) => {
        if (response.status === 200) finished.push("busy");
        return response;
      }),
    );
    // Wait until every busy request but the one running is answered, refused or waiting.
    let refused = 0;
    for (const request of busy) void request.then((response) => response.status === 429 && refused++);
    await waitFor(
      async () => {
        const metrics = await readMetrics(t.url);
        const waiting =
          metric(metrics, 'llama_scope_queue_depth{queue="sessions"}') + metric(metrics, 'llama_scope_queue_depth{queue="server"}');
        return refused + waiting + finished.length === 79;
      },
      20_000,
      "the busy session's requests to queue",
    );
    const sent = finished.length; // busy replies before the other sessions' requests
    const others = ["one", "two", "three"].map((id) =>
      chat(hello, id).then((response) => {
        finished.push(id);
        return response;
      }),
    );
    for (const response of await Promise.all(others)) expect(response.status).toBe(200);
    // Each other session waited for the busy session's reply in progress, and no more of its replies.
    for (const id of ["one", "two", "three"])
      expect(finished.slice(sent, finished.indexOf(id)).filter((who) => who === "busy").length).toBeLessThanOrEqual(1);
    expect(sent).toBeLessThan(9); // and the busy session still had requests waiting when they came

    const responses = await Promise.all(busy);
    const statuses = responses.map((response) => response.status);
    // One running and eight waiting at a time (more were taken as earlier ones were answered).
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(9);
    const tooMany = responses.filter((response) => response.status === 429);
    expect(tooMany.length).toBeGreaterThan(40);
    expect(tooMany.length + statuses.filter((status) => status === 200).length).toBe(80);
    expect(tooMany[0]!.body.error.code).toBe("session_queue_full");
    expect(tooMany[0]!.body.error.message).toContain('Session "busy"');
    expect(tooMany[0]!.headers.get("retry-after")).toBe("1");
  });

  test("a request waiting in its session's queue leaves it when its client goes away", async () => {
    const long = new AbortController();
    const running = fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-session-id": "leaver" },
      body: JSON.stringify({ messages: [{ role: "user", content: "A long story." }], max_tokens: 100_000, stream: true }),
      signal: long.signal,
    });
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_slots{state="generating"}') === 1,
      10_000,
      "the first request to generate",
    );
    const waiter = new AbortController();
    const waiting = fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-session-id": "leaver" },
      body: JSON.stringify(hello),
      signal: waiter.signal,
    }).catch(() => undefined);
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_queue_depth{queue="sessions"}') === 1,
      10_000,
      "the second request to wait",
    );
    waiter.abort();
    await waiting;
    await waitFor(
      async () => metric(await readMetrics(t.url), 'llama_scope_queue_depth{queue="sessions"}') === 0,
      10_000,
      "the waiting request to leave",
    );
    long.abort();
    await running.then((response) => response.body?.cancel()).catch(() => {});
    await waitFor(async () => metric(await readMetrics(t.url), "llama_scope_requests_in_flight") === 0, 10_000, "the requests to end");
    expect((await chat(hello, "leaver")).status).toBe(200);
  });
});
