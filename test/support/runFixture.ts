import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

export interface FixtureRun {
  code: number | null;
  /** Set when the script had to be killed: it did not exit on its own in time. */
  signal: NodeJS.Signals | null;
  /** The JSON object the script printed last. */
  report: unknown;
  /** When the process exited, as `performance.timeOrigin + performance.now()`. */
  exitedAt: number;
}

export interface RunOptions {
  /** Arguments after the script's path. */
  args?: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Kill the process if it has not exited by then. Default 30 s. */
  timeoutMs?: number;
}

/** Runs a compiled script in its own Node process; kills it if it has not exited after `timeoutMs`. */
export async function runScript(file: string, { args = [], env = {}, timeoutMs = 30_000 }: RunOptions = {}): Promise<FixtureRun> {
  const child = spawn(process.execPath, [file, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env, NODE_OPTIONS: "" },
  });
  let output = "";
  child.stdout.on("data", (data: Buffer) => (output += data.toString()));
  const timeout = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
  const exitedAt = performance.timeOrigin + performance.now();
  clearTimeout(timeout);
  const last = output.trim().split("\n").at(-1);
  return { code, signal, report: last ? JSON.parse(last) : undefined, exitedAt };
}

/** Runs a fixture of `test/fixtures/` (compiled) with {@link runScript}. */
export function runFixture(name: string, options?: RunOptions): Promise<FixtureRun> {
  return runScript(path.join(fixtures, `${name}.js`), options);
}
