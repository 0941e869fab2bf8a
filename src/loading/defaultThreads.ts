import os from "node:os";

/**
 * The thread count used when the caller gives none: half the machine's cores, at least one.
 *
 * Why not all cores: llama.cpp threads spin while they wait for each other, so with more threads
 * than *free* cores a decode step waits on descheduled threads. We measured generation over 50×
 * slower that way on a 2-core machine that also ran the Node.js event loop. Half the cores leaves
 * room for the event loop, a worker thread and the rest of the process.
 */
export function defaultThreads(): number {
  return Math.max(1, Math.floor(os.availableParallelism() / 2));
}
