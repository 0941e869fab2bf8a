import { describe, expect, test } from "@jest/globals";
import { AdmissionQueue } from "../../src/server/AdmissionQueue.js";
import { ApiError } from "../../src/server/ApiError.js";

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Enters and records, in `order`, the label of each request when it is admitted. */
function enterAs(queue: AdmissionQueue, label: string, order: string[], signal = new AbortController().signal): Promise<() => void> {
  return queue.enter(signal).then((release) => {
    order.push(label);
    return release;
  });
}

describe("AdmissionQueue", () => {
  test("admits up to `running` requests at once, without waiting", async () => {
    const queue = new AdmissionQueue(2, 5);
    const order: string[] = [];
    await Promise.all([enterAs(queue, "a", order), enterAs(queue, "b", order)]);
    expect(order).toEqual(["a", "b"]);
    expect(queue.inFlight).toBe(2);
    expect(queue.depth).toBe(0);
  });

  test("the next requests wait, and are admitted first come first served as turns are given back", async () => {
    const queue = new AdmissionQueue(1, 5);
    const order: string[] = [];
    const releaseA = await enterAs(queue, "a", order);
    const b = enterAs(queue, "b", order);
    const c = enterAs(queue, "c", order);
    await settle();
    expect(order).toEqual(["a"]);
    expect(queue.depth).toBe(2);
    releaseA();
    const releaseB = await b;
    expect(order).toEqual(["a", "b"]);
    expect(queue.inFlight).toBe(1);
    expect(queue.depth).toBe(1);
    releaseB();
    (await c)();
    expect(order).toEqual(["a", "b", "c"]);
    expect(queue.inFlight).toBe(0);
  });

  test("a turn given back passes to the first waiter: a newcomer queues behind it", async () => {
    const queue = new AdmissionQueue(1, 5);
    const order: string[] = [];
    const releaseA = await enterAs(queue, "a", order);
    const b = enterAs(queue, "b", order);
    releaseA();
    const late = enterAs(queue, "late", order);
    (await b)();
    (await late)();
    expect(order).toEqual(["a", "b", "late"]);
  });

  test("giving a turn back twice frees one place only", async () => {
    const queue = new AdmissionQueue(1, 5);
    const order: string[] = [];
    const releaseA = await enterAs(queue, "a", order);
    void enterAs(queue, "b", order);
    void enterAs(queue, "c", order);
    releaseA();
    releaseA();
    await settle();
    expect(order).toEqual(["a", "b"]);
    expect(queue.inFlight).toBe(1);
    expect(queue.depth).toBe(1);
  });

  test("past `running` plus `waiting`, a request is refused at once with a 429 queue_full that says to retry", async () => {
    const queue = new AdmissionQueue(1, 1);
    await queue.enter(new AbortController().signal);
    void queue.enter(new AbortController().signal);
    const refused = queue.enter(new AbortController().signal);
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toMatchObject({ status: 429, code: "queue_full", type: "rate_limit_error" });
    await expect(refused).rejects.toThrow(/Retry/);
    expect(queue.depth).toBe(1);
  });

  test("the refusal can be the caller's own", async () => {
    const own = new ApiError(429, "Session x is busy.", { code: "session_queue_full" });
    const queue = new AdmissionQueue(1, 0, () => own);
    await queue.enter(new AbortController().signal);
    await expect(queue.enter(new AbortController().signal)).rejects.toBe(own);
  });

  test("a request whose signal aborted already is refused with the signal's reason and takes no place", async () => {
    const queue = new AdmissionQueue(1, 1);
    const reason = new Error("client gone");
    const entered = Promise.resolve().then(() => queue.enter(AbortSignal.abort(reason)));
    await expect(entered).rejects.toBe(reason);
    expect(queue.inFlight).toBe(0);
  });

  test("a waiter whose signal aborts leaves the queue with the signal's reason; the turn goes to the next one", async () => {
    const queue = new AdmissionQueue(1, 2);
    const order: string[] = [];
    const releaseA = await enterAs(queue, "a", order);
    const leaving = new AbortController();
    const b = enterAs(queue, "b", order, leaving.signal);
    const c = enterAs(queue, "c", order);
    const reason = new Error("client gone");
    leaving.abort(reason);
    await expect(b).rejects.toBe(reason);
    expect(queue.depth).toBe(1);
    releaseA();
    (await c)();
    expect(order).toEqual(["a", "c"]);
    expect(queue.inFlight).toBe(0);
  });
});
