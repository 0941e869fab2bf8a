import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
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
    const process_ = spawn(process.execPath, [child, modelPath, String(threads)], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    process_.stdout.on("data", (data: Buffer) => (output += data.toString()));
    const exitedAt = await new Promise<number>((resolve, reject) =>
      process_.on("exit", (code) => (code === 0 ? resolve(performance.timeOrigin + performance.now()) : reject(new Error(`startup child exited with ${code}`)))),
    );
    const report = JSON.parse(output.trim().split("\n").at(-1)!) as { initMs: number; workerLoadMs: number; disposeMs: number; disposeStart: number };
    runs.push({ ...report, exitMs: exitedAt - report.disposeStart });
  }
  return {
    initMs: median(runs.map((r) => r.initMs)),
    workerModelLoadMs: median(runs.map((r) => r.workerLoadMs)),
    disposeMs: median(runs.map((r) => r.disposeMs)),
    disposeToExitMs: median(runs.map((r) => r.exitMs)),
  };
}
