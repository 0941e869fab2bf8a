import type { EngineDeath, RunningEngine } from "./RunningEngine.js";
import type { Isolation } from "./Isolation.js";
import { ProcessEngine } from "./ProcessEngine.js";
import { ThreadEngine } from "./ThreadEngine.js";

/** Starts an engine of the given isolation; `died` is called (maybe more than once) if it ends unasked. */
export function startEngine(isolation: Isolation, died: EngineDeath): RunningEngine {
  return isolation === "process" ? new ProcessEngine(died) : new ThreadEngine(died);
}
