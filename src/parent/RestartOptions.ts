import { InvalidArgumentError } from "../shared/errors/index.js";
import type { Isolation } from "./supervisor/Isolation.js";

/**
 * Restarting a dead engine. The parent keeps a copy of every scope's history (its token ids and
 * a chat scope's items), starts a new engine, loads the model again and rebuilds each scope at its
 * next call; frozen scopes keep their bytes. An engine that dies too often stops the restarts.
 */
export interface RestartOptions {
  /** At most this many restarts within `windowMs`; one more death leaves the parent failed. Default 3. */
  maxRestarts?: number;
  /** The window of `maxRestarts`, in milliseconds. Default 60,000. */
  windowMs?: number;
}

/** {@link RestartOptions} with defaults; `false` when a dead engine leaves the parent failed. */
export type RestartPolicy = false | { maxRestarts: number; windowMs: number };

const DEFAULTS = { maxRestarts: 3, windowMs: 60_000 };

/** Default: on in process isolation (a native crash is survivable there), off with a thread. */
export function resolveRestartPolicy(restart: RestartOptions | boolean | undefined, isolation: Isolation): RestartPolicy {
  if (restart === undefined) restart = isolation === "process";
  if (restart === false) return false;
  if (restart === true) return { ...DEFAULTS };
  if (restart === null || typeof restart !== "object")
    throw new InvalidArgumentError("restart must be true, false or { maxRestarts, windowMs }.");
  const { maxRestarts = DEFAULTS.maxRestarts, windowMs = DEFAULTS.windowMs } = restart;
  if (!Number.isSafeInteger(maxRestarts) || maxRestarts < 0)
    throw new InvalidArgumentError(`restart.maxRestarts must be a whole number of at least 0, not ${String(maxRestarts)}.`);
  if (typeof windowMs !== "number" || !(windowMs > 0))
    throw new InvalidArgumentError(`restart.windowMs must be a positive number of milliseconds, not ${String(windowMs)}.`);
  return { maxRestarts, windowMs };
}

/** Checks the `isolation` option. */
export function resolveIsolation(isolation: unknown): Isolation {
  if (isolation === undefined) return "thread";
  if (isolation === "thread" || isolation === "process") return isolation;
  throw new InvalidArgumentError(`isolation must be "thread" or "process", not ${String(isolation)}.`);
}
