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
  test("during the largest allowed prompt: 20 runs, one line (one native call) and many lines (pieces)", async () => {
    const delays = Array.from({ length: 10 }, (_, i) => i * 5);
    await disposeRuns("prompt", delays, ["DisposedError", "ContextOverflowError"]);
    await disposeRuns("prompt-lines", delays, ["DisposedError", "ContextOverflowError"]);
  });

  test("during generation: 20 runs", async () => {
    await disposeRuns(
      "generate",
      Array.from({ length: 20 }, (_, i) => 5 + i * 10),
      ["DisposedError"],
    );
  });

  test("while the worker loads the model: 4 runs", async () => {
    await disposeRuns("load", [0, 100, 250, 400], ["DisposedError"]);
  });
});
