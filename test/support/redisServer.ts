import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { debianExecutable } from "./debianPackage.js";

/** Where Debian's `redis-server` package puts the server. */
const DEBIAN_REDIS = "/usr/bin/redis-server";

/** A `redis-server` of the test's own: a loopback port, a directory of its own, removed at `stop()`. */
export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM: it finishes its append-only file) and starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Stops the server, keeping its port and directory for `resume()`: Redis is down meanwhile. */
  halt(): Promise<void>;
  /** Starts a halted server again on its port and directory. */
  resume(): Promise<void>;
  /** Stops the server and removes its directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `redis-server` for a test. No npm package ships the server, so when it is
 * missing it is installed from Debian's packages if this user can (root, or passwordless sudo);
 * otherwise this fails with one line that says what to install. With `appendonly`, every write is
 * on disk before it is acknowledged, so a restarted server has everything it acknowledged.
 */
export async function startRedisServer(options: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const executable = redisExecutable();
  const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-redis-"));
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no"];
  if (options.appendonly === true) args.push("--appendonly", "yes", "--appendfsync", "always");
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(executable, args, { stdio: ["ignore", "pipe", "pipe"] });
    try {
      await ready(child);
      return child;
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
  };
  const terminate = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    await exited;
  };
  let child: ChildProcess;
  try {
    child = await launch();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    restart: async () => {
      await terminate(child);
      child = await launch();
    },
    halt: () => terminate(child),
    resume: async () => {
      child = await launch();
    },
    stop: () =>
      (stopped ??= (async () => {
        await terminate(child);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

/** The server's path, installing Debian's package first when it is missing and this user may. */
function redisExecutable(): string {
  return debianExecutable({ command: "redis-server", debianPath: DEBIAN_REDIS, debianPackage: "redis-server", service: "redis-server" });
}

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once the server says it accepts connections; rejects with its output if it exits first. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
    const onData = (data: Buffer) => {
      output += data.toString();
      if (output.includes("Ready to accept connections")) done();
    };
    const onExit = (code: number | null) => fail(new Error(`redis-server exited with code ${code} before it was ready:\n${output}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.stderr!.off("data", onData);
      child.off("exit", onExit);
      // Its later output is not read: let it drain so the server never blocks on a full pipe.
      child.stdout!.resume();
      child.stderr!.resume();
    };
    const done = () => {
      cleanup();
      resolve();
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
  });
}
