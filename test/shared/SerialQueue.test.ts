import { describe, expect, test } from "@jest/globals";
import { SerialQueue } from "../../src/shared/SerialQueue.js";

/** A promise and the functions that settle it, for tasks the test finishes by hand. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("SerialQueue", () => {
  test("runs tasks one at a time, in the order they were added, each resolving with its own result", async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((gate, i) =>
      queue.run(async () => {
        log.push(`start ${i}`);
        await gate.promise;
        log.push(`end ${i}`);
        return i * 10;
      }),
    );
    await settle();
    expect(log).toEqual(["start 0"]);
    // The third task's gate opening first changes nothing: it has not started.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(log).toEqual(["start 0"]);
    gates[0]!.resolve();
    expect(await Promise.all(results)).toEqual([0, 10, 20]);
    expect(log).toEqual(["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
  });

  test("a failed task rejects its own call only; the next one still runs", async () => {
    const queue = new SerialQueue();
    const failure = new Error("task failed");
    const failed = queue.run(() => Promise.reject(failure));
    const next = queue.run(async () => "ran");
    await expect(failed).rejects.toBe(failure);
    await expect(next).resolves.toBe("ran");
  });

  test("a task that throws synchronously is a rejection of its call, not of the queue", async () => {
    const queue = new SerialQueue();
    const thrown = queue.run(() => {
      throw new Error("at once");
    });
    await expect(thrown).rejects.toThrow("at once");
    await expect(queue.run(async () => 1)).resolves.toBe(1);
  });

  test("idle() waits for every task added before it, failed ones included, and never rejects", async () => {
    const queue = new SerialQueue();
    const gate = deferred();
    let done = false;
    void queue.run(() => gate.promise.then(() => (done = true)));
    const failing = queue.run(() => Promise.reject(new Error("no")));
    failing.catch(() => {});
    let idle = false;
    const waited = queue.idle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(false);
    gate.resolve();
    await waited;
    expect(done).toBe(true);
    await expect(queue.idle()).resolves.toBeUndefined();
  });

  test("idle() on a new queue resolves at once", async () => {
    await expect(new SerialQueue().idle()).resolves.toBeUndefined();
  });
});
