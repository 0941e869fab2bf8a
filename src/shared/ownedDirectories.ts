import { mkdtempSync } from "node:fs";
import { lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Directories llama-scope makes for itself: `scratch` for the files node-llama-cpp saves and loads
 * states through, `swap` for the moment a spill file is created in (see `SpillFile`).
 *
 * The owner's pid is part of the name (`llama-scope-<pid>-XXXXXX`, `llama-scope-swap-<pid>-XXXXXX`,
 * the suffix from mkdtemp), so the record exists from the instant the directory does: a process
 * killed at any moment leaves a directory that says whose it was, and the next one to start in
 * the same place removes it once that process is gone ({@link removeStaleDirectories}).
 * mkdtemp makes the directory with mode 0700 and a name no one can guess beforehand, so nothing
 * can be planted in it.
 */
export type DirectoryKind = "scratch" | "swap";

const PREFIXES: Record<DirectoryKind, string> = { scratch: "llama-scope-", swap: "llama-scope-swap-" };

/** Exactly what mkdtemp makes from a kind's prefix, capturing the pid; nothing else is ever touched. */
const NAMES: Record<DirectoryKind, RegExp> = {
  scratch: /^llama-scope-(\d{1,10})-[A-Za-z0-9]{6}$/,
  swap: /^llama-scope-swap-(\d{1,10})-[A-Za-z0-9]{6}$/,
};

/** A new private directory of `kind` inside `parent`, owned by this process. */
export function makeOwnedDirectory(parent: string, kind: DirectoryKind): Promise<string> {
  return mkdtemp(path.join(parent, `${PREFIXES[kind]}${process.pid}-`));
}

/** {@link makeOwnedDirectory}, for callers that must have the directory before they go on. */
export function makeOwnedDirectorySync(parent: string, kind: DirectoryKind): string {
  return mkdtempSync(path.join(parent, `${PREFIXES[kind]}${process.pid}-`));
}

/** The pid recorded in the name of a directory of `kind`, or undefined when the name is not one of ours. */
export function ownerOf(name: string, kind: DirectoryKind): number | undefined {
  const match = NAMES[kind].exec(name);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Removes the directories of `kind` in `parent` whose owner process is dead, left by a process
 * that was killed before it could remove them; returns their paths. A directory whose owner is
 * alive (or may be: any answer but ESRCH), a name that is not ours, a symlink, or a directory of
 * another user is left alone. Best effort: never rejects.
 */
export async function removeStaleDirectories(parent: string, kind: DirectoryKind): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      const owner = ownerOf(name, kind);
      if (owner === undefined || isAlive(owner)) return;
      const directory = path.join(parent, name);
      try {
        const stats = await lstat(directory);
        if (!stats.isDirectory() || (process.getuid !== undefined && stats.uid !== process.getuid())) return;
        await rm(directory, { recursive: true, force: true });
        removed.push(directory);
      } catch {
        // gone already (another process swept it), or not removable: leave it
      }
    }),
  );
  return removed;
}

/** Whether `pid` may be a running process: only ESRCH ("no such process") says it is not. */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
