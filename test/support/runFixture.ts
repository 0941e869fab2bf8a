import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

export interface FixtureRun {
  code: number | null;
  /** Set when the fixture had to be killed: it did not exit on its own in time. */
  signal: NodeJS.Signals | null;
  /** The JSON object the fixture printed last. */
  report: unknown;
}

/**
 * Runs a compiled fixture in its own Node process, with `env` added to this process's
 * environment; kills it if it has not exited after `timeoutMs`.
 */
export async function runFixture(name: string, { timeoutMs = 30_000, env = {} }: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<FixtureRun> {
  const child = spawn(process.execPath, [path.join(fixtures, `${name}.js`)], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env, NODE_OPTIONS: "" },
  });
  let output = "";
  child.stdout.on("data", (data: Buffer) => (output += data.toString()));
  const timeout = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
  clearTimeout(timeout);
  const last = output.trim().split("\n").at(-1);
  return { code, signal, report: last ? JSON.parse(last) : undefined };
}
