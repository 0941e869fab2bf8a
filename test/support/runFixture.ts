import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

export interface FixtureRun {
  code: number | null;
  /** Set when the script had to be killed: it did not exit on its own in time. */
  signal: NodeJS.Signals | null;
  /** The JSON object the script printed last (unless run with `json: false`). */
  report: unknown;
  /** Everything the script wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr, with `captureStderr`; otherwise "" (stderr is passed through). */
  stderr: string;
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
  /** Node options before the script's path, e.g. `--enable-source-maps`. */
  nodeArgs?: string[];
  /** Whether the last line of stdout is a JSON report to parse, as fixtures print. Default true. */
  json?: boolean;
  /** Collect stderr into `stderr` instead of passing it through, e.g. to put it in a failure message. */
  captureStderr?: boolean;
  /**
   * Caps the process's address space (`ulimit -v`), so a runaway native allocation fails inside
   * the child instead of waking the OOM killer.
   */
  memoryLimitMb?: number;
  /**
   * Called once with the first JSON line the script prints while it still runs, for a script that
   * reports and then waits to be killed: inspect it, then `child.kill(...)`. If it throws, the
   * script is killed and `runScript` rejects with that error once it has exited.
   */
  onReport?: (report: unknown, child: ChildProcess) => void | Promise<void>;
}

/** Runs a compiled script in its own Node process; kills it if it has not exited after `timeoutMs`. */
export async function runScript(
  file: string,
  { args = [], env = {}, timeoutMs = 30_000, nodeArgs = [], json = true, captureStderr = false, memoryLimitMb, onReport }: RunOptions = {},
): Promise<FixtureRun> {
  const command = [process.execPath, ...nodeArgs, file, ...args];
  const limited = memoryLimitMb === undefined ? command : ["bash", "-c", `ulimit -v ${memoryLimitMb * 1024} && exec "$0" "$@"`, ...command];
  const child = spawn(limited[0]!, limited.slice(1), {
    stdio: ["ignore", "pipe", captureStderr ? "pipe" : "inherit"],
    env: { ...process.env, ...env, NODE_OPTIONS: "" },
  });
  let output = "";
  let errors = "";
  let reported: Promise<void> | undefined;
  let reportFailure: { error: unknown } | undefined;
  child.stdout!.on("data", (data: Buffer) => {
    output += data.toString(); // piped above
    const line =
      onReport === undefined || reported !== undefined
        ? undefined
        : output
            .split("\n")
            .slice(0, -1)
            .find((l) => l.startsWith("{"));
    if (line !== undefined)
      reported = (async () => onReport!(JSON.parse(line), child))().catch((error: unknown) => {
        reportFailure = { error };
        child.kill("SIGKILL");
      });
  });
  child.stderr?.on("data", (data: Buffer) => (errors += data.toString())); // piped with captureStderr
  // "close" comes after "exit", once stdout and stderr are fully read: the output is complete only then.
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const timeout = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("exit", (c, s) => resolve([c, s])),
  );
  const exitedAt = performance.timeOrigin + performance.now();
  clearTimeout(timeout);
  await closed;
  await reported;
  if (reportFailure !== undefined) throw reportFailure.error;
  const last = json ? output.trim().split("\n").at(-1) : undefined;
  return { code, signal, report: last ? JSON.parse(last) : undefined, stdout: output, stderr: errors, exitedAt };
}

/** Runs a fixture of `test/fixtures/` (compiled) with {@link runScript}. */
export function runFixture(name: string, options?: RunOptions): Promise<FixtureRun> {
  return runScript(path.join(fixtures, `${name}.js`), options);
}
