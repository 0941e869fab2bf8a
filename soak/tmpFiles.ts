import { readdirSync } from "node:fs";
import os from "node:os";

/**
 * Scratch and spill directories a parent makes in the OS temporary directory:
 * `llama-scope-<pid>-XXXXXX` (the engine's state scratch) and `llama-scope-swap-<pid>-XXXXXX`
 * (the spill file's, removed as soon as the file is open). The pid is the maker's.
 */
const OWNED = /^llama-scope-(?:swap-)?(\d+)-/;

/** Every `llama-scope-*` entry in the OS temporary directory now. */
export function llamaScopeEntries(): string[] {
  return readdirSync(os.tmpdir()).filter((name) => name.startsWith("llama-scope-"));
}

/**
 * Entries of `after` that were not in `before` and were made by one of `pids` (this process and
 * its engine processes): others on the machine may run llama-scope at the same time.
 */
export function leftBehind(before: readonly string[], after: readonly string[], pids: ReadonlySet<number>): string[] {
  const earlier = new Set(before);
  return after.filter((name) => {
    const owner = OWNED.exec(name)?.[1];
    return !earlier.has(name) && owner !== undefined && pids.has(Number(owner));
  });
}
