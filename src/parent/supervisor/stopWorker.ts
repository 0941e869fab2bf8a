import type { Worker } from "node:worker_threads";

/** How long {@link stopWorker} waits before it decides that a worker is stuck. */
export interface StopTiming {
  /**
   * How long a worker that was told to stop may take to end before it is asked whether it is
   * alive, and again after each answer.
   */
  graceMs: number;
  /** How long an alive worker has to answer. */
  answerMs: number;
  /** After this long, a worker that still has not ended is terminated even though it answers. */
  maxMs: number;
}

/**
 * The defaults. A worker told to stop waits for the native calls in progress to return: one
 * decode batch, one piece of a long prompt's tokenizing (milliseconds; without piecewise
 * tokenizing, one prompt of the guard's maximum length, seconds at most), a state being saved or
 * loaded, or a model load being aborted. On the test model that is a few milliseconds; for a
 * large model on a slow CPU, one batch can take seconds. A minute is many times that. A worker
 * that has not ended by then but answers within five seconds is still waiting for llama.cpp, and
 * terminating it would abort the process, so it gets more time, up to ten minutes in all: a
 * worker that takes longer is deadlocked in native code, and only then is it terminated. A worker
 * that does not answer is stuck in JavaScript (or in one native call longer than any the guards
 * allow) and is terminated at once.
 */
export const STOP_TIMING: StopTiming = { graceMs: 60_000, answerMs: 5_000, maxMs: 600_000 };

/** What {@link stopWorker} asks of the worker. */
export interface StopRequests {
  /** Tells the worker to stop: it frees everything and then ends by itself. */
  stop(): Promise<unknown>;
  /** Resolves as soon as the worker's event loop is free. */
  alive(): Promise<unknown>;
}

/**
 * Ends a worker thread without cutting into native work: terminating a thread while
 * node-llama-cpp is inside llama.cpp aborts the whole process (`terminate called after throwing
 * an instance of 'Napi::Error'`). The worker is told to stop and ends by itself; only a worker
 * that is stuck (see {@link STOP_TIMING}) is terminated. `exited` settles when the worker has
 * ended. Resolves with how it ended.
 */
export async function stopWorker(
  worker: Worker,
  exited: Promise<unknown>,
  requests: StopRequests,
  timing: StopTiming = STOP_TIMING,
): Promise<"ended" | "terminated"> {
  requests.stop().catch(() => {}); // a failure still ends the worker; waiting for the end covers it
  const started = performance.now();
  for (;;) {
    if (await settlesWithin(exited, timing.graceMs)) return "ended";
    const answered = await settlesWithin(requests.alive(), timing.answerMs, { fulfilledOnly: true });
    if (!answered || performance.now() - started >= timing.maxMs) break;
  }
  await worker.terminate();
  return "terminated";
}

/** Whether `promise` settles (or, with `fulfilledOnly`, resolves) within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number, { fulfilledOnly = false } = {}): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = promise.then(
    () => true,
    () => !fulfilledOnly,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
