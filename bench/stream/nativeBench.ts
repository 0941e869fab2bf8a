import { spawnSync } from "node:child_process";
import type { LlamaCppTools } from "./llamaCppTools.js";

/**
 * llama.cpp's own generation rate for one sequence, no HTTP and no JavaScript: `llama-bench`'s
 * `tg` test (decode only, no sampling) and `llama-batched-bench` with one sequence (prompt, then
 * decode), both at `threads` on the same model file.
 */
export function nativeRates(
  tools: LlamaCppTools,
  modelPath: string,
  threads: number,
  tokens: number,
  promptTokens: number,
): { benchTg: number; batchedTg: number } {
  const bench = run(tools.bench, ["-m", modelPath, "-t", String(threads), "-p", "0", "-n", String(tokens), "-r", "5", "-o", "json"]);
  const [test] = JSON.parse(bench) as Array<{ avg_ts: number }>;
  const batched = run(tools.batchedBench, [
    "-m",
    modelPath,
    "-t",
    String(threads),
    "-tb",
    String(threads),
    "-c",
    "2048",
    "-npp",
    String(promptTokens),
    "-ntg",
    String(tokens),
    "-npl",
    "1",
    "--output-format",
    "jsonl",
  ]);
  const line = batched.split("\n").find((l) => l.startsWith("{"));
  if (test === undefined || line === undefined)
    throw new Error(`llama-bench or llama-batched-bench printed no result:\n${bench}\n${batched}`);
  return { benchTg: test.avg_ts, batchedTg: (JSON.parse(line) as { speed_tg: number }).speed_tg };
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}):\n${result.stderr}`);
  return result.stdout;
}
