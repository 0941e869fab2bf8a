import { describe, expect, test } from "@jest/globals";
import { runFixture } from "../support/runFixture.js";

/**
 * `parent.dispose()` while the worker is inside native work, each run in its own process: a
 * worker terminated there would abort the process (`terminate called after throwing an instance
 * of 'Napi::Error'`, SIGABRT), and the run would fail. Runs go one at a time (about a second each):
 * two cores shared by several processes would stretch the timing the runs vary.
 */
async function disposeRuns(mode: string, delays: readonly number[], expected: readonly string[]): Promise<void> {
  for (const delayMs of delays) {
    const run = await runFixture("disposeMidWork", { args: [mode, String(delayMs)], captureStderr: true });
    const context = `${mode}, dispose after ${delayMs} ms: ${run.stderr}`;
    expect({ context, signal: run.signal, code: run.code }).toEqual({ context, signal: null, code: 0 });
    const report = run.report as { disposeMs: number; outcomes: string[] };
    for (const outcome of report.outcomes) expect(expected).toContain(outcome);
    // The worker ended by itself: dispose did not wait out the grace time of a stuck worker.
    expect(report.disposeMs).toBeLessThan(5000);
  }
}

describe("dispose() never aborts the process", () => {
  // Tokenizing the largest prompt the guard lets through takes ~20-40 ms: the delays cover it.
  // The delays span the work at a coarser step than they once did (the suite's time is bounded):
  // what matters is that some land inside the native call, and the spans still cover all of it.
  test("during the largest allowed prompt: 12 runs, one line (one native call) and many lines (pieces)", async () => {
    const delays = Array.from({ length: 6 }, (_, i) => i * 9);
    await disposeRuns("prompt", delays, ["DisposedError", "ContextOverflowError"]);
    await disposeRuns("prompt-lines", delays, ["DisposedError", "ContextOverflowError"]);
  });

  test("during generation: 10 runs", async () => {
    await disposeRuns(
      "generate",
      Array.from({ length: 10 }, (_, i) => 5 + i * 20),
      ["DisposedError"],
    );
  });

  test("while the worker loads the model: 4 runs", async () => {
    await disposeRuns("load", [0, 100, 250, 400], ["DisposedError"]);
  });
});
