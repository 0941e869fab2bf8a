import { expect, test } from "@jest/globals";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { stopWorker, type StopRequests } from "../../src/parent/supervisor/stopWorker.js";

const target = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "stopWorkerTarget.js");
const TIMING = { graceMs: 300, answerMs: 200, maxMs: 1500 };

/** A worker of stopWorkerTarget with `behaviour`, and how it is asked to stop and to answer. */
function startTarget(behaviour: "ends" | "busy" | "lingers"): { worker: Worker; exited: Promise<number>; requests: StopRequests } {
  const worker = new Worker(target, { workerData: behaviour });
  const exited = new Promise<number>((resolve) => worker.once("exit", resolve));
  const requests: StopRequests = {
    stop: async () => worker.postMessage("stop"),
    alive: () =>
      new Promise<void>((resolve) => {
        worker.once("message", () => resolve());
        worker.postMessage("alive");
      }),
  };
  return { worker, exited, requests };
}

test("a worker that ends by itself is never terminated", async () => {
  const { worker, exited, requests } = startTarget("ends");
  expect(await stopWorker(worker, exited, requests, TIMING)).toBe("ended");
  expect(await exited).toBe(0); // terminate() would make it 1
});

test("a worker that no longer answers is terminated after the grace time", async () => {
  const { worker, exited, requests } = startTarget("busy");
  const start = performance.now();
  expect(await stopWorker(worker, exited, requests, TIMING)).toBe("terminated");
  await exited;
  const elapsed = performance.now() - start;
  expect(elapsed).toBeGreaterThanOrEqual(TIMING.graceMs + TIMING.answerMs - 10);
  expect(elapsed).toBeLessThan(TIMING.maxMs);
});

test("a worker that answers but never ends gets more time, up to the maximum", async () => {
  const { worker, exited, requests } = startTarget("lingers");
  const start = performance.now();
  expect(await stopWorker(worker, exited, requests, TIMING)).toBe("terminated");
  await exited;
  expect(performance.now() - start).toBeGreaterThanOrEqual(TIMING.maxMs - 10);
});
