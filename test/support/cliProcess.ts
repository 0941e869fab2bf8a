import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { waitFor } from "./servers.js";
import { projectRoot } from "./testModel.js";

/** The built CLI, as `npx llama-scope` runs it. */
export const CLI = path.join(projectRoot(), "dist", "cli", "main.js");

/** A `llama-scope serve` child process. */
export interface Cli {
  child: ChildProcess;
  url: string;
  /** Its stdout and stderr so far. */
  output: () => string;
  /** Resolves with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** Starts `llama-scope serve` with `args`; resolves once it listens and its model is loaded. */
export async function startCli(args: string[], env: Record<string, string> = {}): Promise<Cli> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: { ...process.env, NODE_OPTIONS: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (data: Buffer) => (output += data.toString()));
  child.stderr.on("data", (data: Buffer) => (output += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await waitFor(
    () => /listening on (http:\/\/\S+)/.test(output) || child.exitCode !== null,
    30_000,
    `the CLI to listen; it said:\n${output}`,
  );
  const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
  if (url === undefined) throw new Error(`The CLI exited: ${output}`);
  await waitFor(async () => (await fetch(`${url}/health`)).status === 200, 30_000, "the model to load");
  return { child, url, output: () => output, exited };
}
