import { Worker } from "node:worker_threads";
import { wrap, type Remote } from "comlink";
import type { WorkerApi } from "../../protocol/index.js";
import { installErrorTransfer } from "../../protocol/transport/errorTransfer.js";
import { nodeEndpoint } from "../../protocol/transport/nodeEndpoint.js";
import type { EngineDeath, RunningEngine } from "./RunningEngine.js";
import { stopWorker } from "./stopWorker.js";

/**
 * The engine in a worker thread: no copy between the threads' messages beyond structured
 * cloning, but it shares the process, so a native crash in llama.cpp ends the process too.
 */
export class ThreadEngine implements RunningEngine {
  readonly isolation = "thread";
  readonly api: Remote<WorkerApi>;
  readonly exited: Promise<void>;
  readonly worker: Worker;

  constructor(died: EngineDeath) {
    this.worker = new Worker(new URL("../../worker/thread.js", import.meta.url));
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.on("error", (error) => died(`crashed: ${error.message}`, error));
    this.worker.on("exit", (code) => died(`exited with code ${code}`));
    installErrorTransfer(); // the engine's errors arrive with their code and cause
    this.api = wrap<WorkerApi>(nodeEndpoint(this.worker));
  }

  get pid(): number {
    return process.pid;
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  async stop(): Promise<void> {
    const { api } = this;
    await stopWorker(this.worker, this.exited, { stop: () => api.dispose(), alive: () => api.alive() });
    await this.exited;
  }
}
