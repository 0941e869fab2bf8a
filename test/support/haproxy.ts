import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { debianExecutable } from "./debianPackage.js";
import { freePort } from "./redisServer.js";
import { projectRoot } from "./testModel.js";

/** A haproxy of the test's own, running docs/replicas/haproxy.cfg. */
export interface Haproxy {
  url: string;
  stop(): Promise<void>;
}

/**
 * Runs the example config as it is, with its ports changed: it listens on a free loopback port and
 * balances over `backends` (the URLs of `serve` replicas, as many as the example names). Debian's
 * package is installed first when it is missing and this user may, as for redis-server.
 */
export async function startHaproxy(backends: readonly string[]): Promise<Haproxy> {
  const executable = debianExecutable({
    command: "haproxy",
    debianPath: "/usr/sbin/haproxy",
    debianPackage: "haproxy",
    service: "haproxy",
  });
  const example = await readFile(path.join(projectRoot(), "docs", "replicas", "haproxy.cfg"), "utf8");
  const servers = [...example.matchAll(/^(\s*server \S+ )127\.0\.0\.1:\d+/gm)];
  if (servers.length !== backends.length)
    throw new Error(`docs/replicas/haproxy.cfg names ${servers.length} servers, not the ${backends.length} replicas the test started.`);
  const port = await freePort();
  let index = 0;
  const config = example
    .replace(/^(\s*bind )127\.0\.0\.1:\d+/m, `$1127.0.0.1:${port}`)
    .replace(/^(\s*server \S+ )127\.0\.0\.1:\d+/gm, (_, head: string) => `${head}${new URL(backends[index++]!).host}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-haproxy-"));
  const file = path.join(dir, "haproxy.cfg");
  await writeFile(file, config);
  // -db: in the foreground, as the test's child.
  const child: ChildProcess = spawn(executable, ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (data: Buffer) => (output += data.toString()));
  child.stderr!.on("data", (data: Buffer) => (output += data.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Ready once it answers through to a replica whose health check passed.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`haproxy exited with code ${child.exitCode}:\n${output}`);
    }
    const status = await fetch(`${url}/health`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not pass a request to a replica within 20 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
