import type { Remote } from "comlink";
import type { WorkerApi } from "../../protocol/index.js";
import type { Isolation } from "./Isolation.js";

/**
 * One running engine (the worker side of the protocol) in a worker thread or a child process.
 * The parent talks to both through the same typed Comlink API.
 */
export interface RunningEngine {
  readonly isolation: Isolation;
  readonly api: Remote<WorkerApi>;
  /** The process the engine runs in (the parent's own for a thread). */
  readonly pid: number | undefined;
  /** The worker thread's id; undefined for a process. */
  readonly threadId: number | undefined;
  /** Settles once the engine has ended, however it ended. */
  readonly exited: Promise<void>;
  /**
   * Ends the engine without cutting into native work: it is told to stop, frees the model and
   * ends by itself; only an engine that is stuck is ended by force.
   */
  stop(): Promise<void>;
}

/** Why an engine ended when nobody asked it to: a sentence part ("was killed by SIGKILL") and the error, if any. */
export type EngineDeath = (how: string, cause?: Error) => void;
