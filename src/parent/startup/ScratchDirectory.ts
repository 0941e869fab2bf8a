import { rm } from "node:fs/promises";
import { makeOwnedDirectorySync } from "../../shared/ownedDirectories.js";

/**
 * The engine's state scratch directory (the engine makes its own private one inside it), made by
 * the parent inside `stateDir` or the OS temporary directory: removed once the parent is
 * disposed, even after engine crashes, when the engine could not remove it itself.
 */
export class ScratchDirectory {
  private directory: string | undefined;
  private removal: Promise<void> | undefined;

  /** Makes the directory inside `parentDir` (synchronously, so a dispose() right after always finds it). */
  make(parentDir: string): string {
    this.directory = makeOwnedDirectorySync(parentDir, "scratch");
    return this.directory;
  }

  /** The directory, once made. */
  get path(): string | undefined {
    return this.directory;
  }

  /** Removes it (once; later calls get the same promise). Never rejects. */
  remove(): Promise<void> {
    const directory = this.directory;
    if (directory !== undefined) this.removal ??= rm(directory, { recursive: true, force: true }).catch(() => {});
    return this.removal ?? Promise.resolve();
  }
}
