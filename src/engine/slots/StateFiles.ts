import { constants } from "node:fs";
import { lstat, open, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { makeOwnedDirectory, removeStaleDirectories } from "../../shared/ownedDirectories.js";

/**
 * node-llama-cpp saves and loads sequence state only through files, so state bytes pass through
 * short-lived files. They are always in a private directory this class makes itself (mode 0700,
 * an unguessable name with this process's pid, see `ownedDirectories`) inside `parent` (the
 * caller's `stateDir`, or the OS temporary directory), created on first use and removed on
 * dispose; the caller's directory itself is never written to or removed. Nobody else can create
 * anything in the private directory, which is what protects the path llama.cpp writes a save to;
 * files we write ourselves are also opened exclusively (`wx`: an existing file or a symlink
 * fails), and saved files are read without following a symlink.
 */
export class StateFiles {
  private directory: Promise<string> | undefined;
  private counter = 0;

  constructor(private readonly parent: string = os.tmpdir()) {}

  /** Removes private directories of dead processes left in `parent` (see `removeStaleDirectories`). */
  static removeStale(parent: string = os.tmpdir()): Promise<string[]> {
    return removeStaleDirectories(parent, "scratch");
  }

  /** Runs `save` on a fresh path (llama.cpp writes the file) and returns the file's bytes. */
  capture(save: (filePath: string) => Promise<unknown>): Promise<Uint8Array> {
    return this.withFile(async (filePath) => {
      await save(filePath);
      return readFile(filePath, { flag: constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) });
    });
  }

  /** Writes `bytes` (or its parts, one after another) to a new file and runs `load` on its path (llama.cpp reads it). */
  provide(bytes: Uint8Array | readonly Uint8Array[], load: (filePath: string) => Promise<unknown>): Promise<void> {
    return this.withFile(async (filePath) => {
      if (bytes instanceof Uint8Array) await writeFile(filePath, bytes, { flag: "wx", mode: 0o600 });
      else {
        const file = await open(filePath, "wx", 0o600);
        try {
          // writev may write less than asked: the rest goes on from where it stopped.
          const rest = bytes.filter((part) => part.byteLength > 0);
          while (rest.length > 0) {
            let { bytesWritten } = await file.writev(rest);
            while (rest.length > 0 && bytesWritten >= rest[0]!.byteLength) bytesWritten -= rest.shift()!.byteLength;
            if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
          }
        } finally {
          await file.close();
        }
      }
      await load(filePath);
    });
  }

  /** Removes the private directory (never `parent`). */
  async dispose(): Promise<void> {
    const directory = this.directory;
    this.directory = undefined;
    const made = await directory?.catch(() => undefined);
    if (made !== undefined) await rm(made, { recursive: true, force: true });
  }

  /** Runs `use` with a fresh file path; the file is deleted afterwards, whatever happens. */
  private async withFile<T>(use: (filePath: string) => Promise<T>): Promise<T> {
    const filePath = path.join(await this.privateDirectory(), `state-${this.counter++}.bin`);
    try {
      return await use(filePath);
    } finally {
      await rm(filePath, { force: true });
    }
  }

  /**
   * The private directory, made on first use, and made again if something (a tmp cleaner) removed
   * it meanwhile: one lstat per save or load, next to llama.cpp writing the whole KV cache.
   */
  private async privateDirectory(): Promise<string> {
    const current = this.directory;
    if (current !== undefined) {
      const directory = await current.catch(() => undefined);
      if (directory !== undefined && (await isDirectory(directory))) return directory;
      if (this.directory !== current) return this.privateDirectory(); // another call made a new one meanwhile
    }
    const made = makeOwnedDirectory(this.parent, "scratch");
    this.directory = made;
    made.catch(() => {
      if (this.directory === made) this.directory = undefined; // the next call tries again
    });
    return made;
  }
}

async function isDirectory(directory: string): Promise<boolean> {
  try {
    return (await lstat(directory)).isDirectory();
  } catch {
    return false;
  }
}
