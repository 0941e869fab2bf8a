import path from "node:path";
import { fileURLToPath } from "node:url";
import { runScript } from "../test/support/runFixture.js";
import { median } from "./support.js";

export interface StartupResult {
  initMs: number;
  workerModelLoadMs: number;
  disposeMs: number;
  disposeToExitMs: number;
}

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "startupChild.js");

/** `init()` to ready, and `dispose()` to the process having exited, each in a fresh process. */
export async function measureStartup(modelPath: string, threads: number, rounds: number): Promise<StartupResult> {
  const runs: Array<{ initMs: number; workerLoadMs: number; disposeMs: number; exitMs: number }> = [];
  for (let round = 0; round < rounds; round++) {
    const run = await runScript(child, { args: [modelPath, String(threads)], timeoutMs: 60_000 });
    if (run.code !== 0)
      throw new Error(`The startup child ${run.signal === null ? `exited with ${run.code}` : "did not exit on its own and was killed"}.`);
    const report = run.report as { initMs: number; workerLoadMs: number; disposeMs: number; disposeStart: number };
    runs.push({ ...report, exitMs: run.exitedAt - report.disposeStart });
  }
  return {
    initMs: median(runs.map((r) => r.initMs)),
    workerModelLoadMs: median(runs.map((r) => r.workerLoadMs)),
    disposeMs: median(runs.map((r) => r.disposeMs)),
    disposeToExitMs: median(runs.map((r) => r.exitMs)),
  };
}
