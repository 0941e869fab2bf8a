import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { wrap, type Remote } from "comlink";
import type { WorkerApi } from "../../protocol/index.js";
import { installErrorTransfer } from "../../protocol/transport/errorTransfer.js";
import { processEndpoint } from "../../protocol/transport/processEndpoint.js";
import type { EngineDeath, RunningEngine } from "./RunningEngine.js";

/**
 * How long a child told to stop may take to free the model and exit before it is killed. Killing
 * a child never harms this process (unlike terminating a thread inside native work), so this only
 * bounds how long `dispose()` can wait for a stuck engine.
 */
const STOP_GRACE_MS = 30_000;

/**
 * The engine in a child process (`child_process.fork`, advanced serialization: bytes travel as
 * bytes). A segfault, an abort or an out-of-memory kill in llama.cpp ends that process only.
 */
export class ProcessEngine implements RunningEngine {
  readonly isolation = "process";
  readonly api: Remote<WorkerApi>;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  constructor(died: EngineDeath) {
    this.child = fork(fileURLToPath(new URL("../../worker/process.js", import.meta.url)), [], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [], // not the host's (an inspector port, loaders): the engine is plain JavaScript
    });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    this.child.on("exit", (code, signal) => died(signal === null ? `exited with code ${code}` : `was killed by ${signal}`));
    this.child.on("error", (error) => died(`failed: ${error.message}`, error));
    installErrorTransfer(); // the engine's errors arrive with their code and cause
    this.api = wrap<WorkerApi>(processEndpoint(this.child));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get threadId(): undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.api.dispose().catch(() => {}); // it exits by itself once the model is freed
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        resolve();
      }, STOP_GRACE_MS);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    await this.exited;
  }
}
