// Which model the benchmarks run on: `npm run bench -- --model sized` (or a path), a path as the
// first argument as before, or LLAMA_SCOPE_BENCH_MODEL; otherwise the test model.
import { testModelPath } from "../test/support/testModel.js";
import { ensureSizedModel } from "./sizedModel.js";

export interface BenchModel {
  path: string;
  /** How it was chosen, for the report's first line. */
  source: string;
  /** The generated sized model (its budgets and default rounds differ). */
  sized: boolean;
}

export function benchModel(args: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): BenchModel {
  const flag = modelFlag(args);
  const positional = args.filter((arg, i) => !arg.startsWith("--") && args[i - 1] !== "--model");
  if (positional.length > 1 || (flag !== undefined && positional.length > 0))
    throw new Error(`Name one model: --model sized, --model path/to/model.gguf or a path, not ${args.join(" ")}.`);
  const [choice, from] =
    flag !== undefined
      ? [flag, "--model"]
      : positional[0] !== undefined
        ? [positional[0], "argument"]
        : [env.LLAMA_SCOPE_BENCH_MODEL, "LLAMA_SCOPE_BENCH_MODEL"];
  if (choice === undefined || choice === "") return { path: testModelPath(), source: "the test model", sized: false };
  if (choice !== "sized") return { path: choice, source: `from ${from}`, sized: false };
  const sized = ensureSizedModel();
  return {
    path: sized.path,
    source: `the sized model from ${from}${sized.made ? `, made in ${sized.seconds.toFixed(1)} s` : ""}`,
    sized: true,
  };
}

function modelFlag(args: readonly string[]): string | undefined {
  const index = args.findIndex((arg) => arg === "--model" || arg.startsWith("--model="));
  if (index === -1) return undefined;
  const arg = args[index]!;
  const value = arg === "--model" ? args[index + 1] : arg.slice("--model=".length);
  if (value === undefined || value === "" || value.startsWith("--"))
    throw new Error("--model takes a value: sized, or a path to a GGUF file.");
  return value;
}
