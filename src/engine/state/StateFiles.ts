import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/**
 * node-llama-cpp saves and loads sequence state only through files, so state bytes pass through
 * short-lived files in a private temporary directory, created on first use and removed on dispose.
 * A directory given by the caller is used as is and left in place.
 */
export class StateFiles {
  private directory: Promise<string> | undefined;
  private counter = 0;

  constructor(private readonly givenDirectory?: string) {}

  /** Runs `use` with a fresh file path; the file is deleted afterwards, whatever happens. */
  async withFile<T>(use: (filePath: string) => Promise<T>): Promise<T> {
    this.directory ??= this.givenDirectory === undefined ? mkdtemp(path.join(os.tmpdir(), "llama-scope-")) : Promise.resolve(this.givenDirectory);
    const filePath = path.join(await this.directory, `state-${this.counter++}.bin`);
    try {
      return await use(filePath);
    } finally {
      await rm(filePath, { force: true });
    }
  }

  async dispose(): Promise<void> {
    const directory = this.directory;
    this.directory = undefined;
    if (directory !== undefined && this.givenDirectory === undefined) await rm(await directory, { recursive: true, force: true });
  }
}
