import { createHash } from "node:crypto";
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { SerialQueue } from "../../shared/SerialQueue.js";

const FILE_PREFIX = "session-";
const FILE_SUFFIX = ".llstate";
const REJECTED_SUFFIX = ".rejected";

/** How much of the disk the saved sessions may take. */
export interface StateDirectoryBounds {
  /** Files kept at most (saved sessions and set-aside `.rejected` ones together). */
  maxFiles: number;
  /** Bytes those files may take together. */
  maxBytes: number;
}

/**
 * The state directory's session files, kept within `bounds`: every save that takes it past a
 * bound removes the oldest files (by when they were written) until it is back within it, so
 * clients that invent session ids cannot fill the disk. The files are indexed once at `open()`
 * and the index is kept as files are written and removed, so a save costs no directory scan.
 * Files are named by a hash of the session id, so no id can name another path.
 */
export class StateDirectory {
  /** Every file this directory counts, oldest first (a Map keeps insertion order), with its size. */
  private readonly files = new Map<string, number>();
  private bytes = 0;
  /** Removals run one after another, so two saves never remove the same file twice. */
  private readonly removals = new SerialQueue();

  constructor(
    readonly dir: string,
    private readonly bounds: StateDirectoryBounds,
    private readonly log: (line: string) => void,
  ) {}

  /** Indexes the files there (oldest first), removes half-written ones, and prunes to the bounds. */
  async open(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const found: { name: string; bytes: number; time: number }[] = [];
    for (const name of names) {
      if (!name.startsWith(FILE_PREFIX)) continue;
      const file = path.join(this.dir, name);
      // A save that a crash interrupted: never renamed into place, it is no session's.
      if (name.endsWith(`${FILE_SUFFIX}.tmp`)) await rm(file, { force: true });
      else if (name.endsWith(FILE_SUFFIX) || name.endsWith(REJECTED_SUFFIX)) {
        const info = await stat(file).catch(() => undefined);
        if (info !== undefined) found.push({ name, bytes: info.size, time: info.mtimeMs });
      }
    }
    for (const { name, bytes } of found.sort((a, b) => a.time - b.time)) this.index(name, bytes);
    await this.prune();
  }

  /** Saved sessions not set aside. */
  get sessionFiles(): number {
    let count = 0;
    for (const name of this.files.keys()) if (name.endsWith(FILE_SUFFIX)) count++;
    return count;
  }

  /** Whether a session has a saved state here. */
  has(id: string): boolean {
    return this.files.has(nameOf(id));
  }

  /** A session's saved state, or undefined when there is none. */
  async read(id: string): Promise<Uint8Array | undefined> {
    return readFile(path.join(this.dir, nameOf(id))).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
  }

  /** Writes a session's state, replacing the one saved before, then prunes to the bounds. */
  async write(id: string, state: Uint8Array): Promise<void> {
    const name = nameOf(id);
    const file = path.join(this.dir, name);
    // Written whole, then renamed: a stop mid-write never leaves a torn state behind.
    await writeFile(`${file}.tmp`, state, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    this.unindex(name);
    this.index(name, state.byteLength);
    await this.prune();
  }

  /** Sets a session's file aside as `….rejected` (for the operator to look at); returns its path. */
  async reject(id: string): Promise<string> {
    const name = nameOf(id);
    const file = path.join(this.dir, name);
    const size = this.files.get(name) ?? 0;
    await rename(file, `${file}${REJECTED_SUFFIX}`).catch(() => {});
    this.unindex(name);
    // It replaces any older one of this session; as the newest file it is pruned last.
    this.unindex(`${name}${REJECTED_SUFFIX}`);
    this.index(`${name}${REJECTED_SUFFIX}`, size);
    await this.prune();
    return `${file}${REJECTED_SUFFIX}`;
  }

  private index(name: string, bytes: number): void {
    this.files.set(name, bytes);
    this.bytes += bytes;
  }

  private unindex(name: string): void {
    const bytes = this.files.get(name);
    if (bytes === undefined) return;
    this.files.delete(name);
    this.bytes -= bytes;
  }

  /** Removes the oldest files while there are more than `maxFiles` or they take more than `maxBytes`. */
  private prune(): Promise<void> {
    return this.removals.run(async () => {
      while (this.files.size > this.bounds.maxFiles || this.bytes > this.bounds.maxBytes) {
        const [oldest] = this.files.keys();
        if (oldest === undefined) break;
        this.unindex(oldest);
        await rm(path.join(this.dir, oldest), { force: true }).catch((error: Error) =>
          this.log(`could not remove ${oldest} from the state directory: ${error.message}`),
        );
      }
    });
  }
}

/** The file of a session: named by a hash of its id, so no id can name another path. */
function nameOf(id: string): string {
  return `${FILE_PREFIX}${createHash("sha256").update(id).digest("hex")}${FILE_SUFFIX}`;
}
