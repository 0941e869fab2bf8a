import { expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "disposeThenExit.js");

test("after dispose() the process exits on its own and leaves no temporary files", async () => {
  const child = spawn(process.execPath, [fixture], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NODE_OPTIONS: "" } });
  let output = "";
  child.stdout.on("data", (data: Buffer) => (output += data.toString()));
  const timeout = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
  clearTimeout(timeout);
  expect(signal).toBeNull(); // killed = it hung on an open handle
  expect(code).toBe(0);
  expect(JSON.parse(output.trim().split("\n").at(-1)!)).toEqual({ running: "rejected", leftovers: [] });
});
