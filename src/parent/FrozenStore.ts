import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** Where a frozen conversation's bytes are. */
export type FrozenStorage = "ram" | "disk";

type Frozen =
  | { storage: "ram"; bytes: Uint8Array }
  | { storage: "disk"; size: number; file: string; written: Promise<void> };

/**
 * Frozen conversations, by scope id, in the parent thread: they outlive the worker. Bytes stay in
 * memory while the total fits `maxRamBytes`; a freeze that does not fit goes to a file in a
 * private directory, created on first use and removed by {@link dispose}.
 *
 * Bookkeeping is synchronous (sizes are right the moment `put` returns); only file I/O is awaited.
 */
export class FrozenStore {
  private readonly entries = new Map<string, Frozen>();
  private ramBytes = 0;
  private diskBytes = 0;
  private directory: Promise<string> | undefined;
  private fileCounter = 0;

  constructor(
    private readonly maxRamBytes: number,
    private readonly parentDir: string = os.tmpdir(),
  ) {}

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get count(): number {
    return this.entries.size;
  }

  get bytes(): { ram: number; disk: number } {
    return { ram: this.ramBytes, disk: this.diskBytes };
  }

  /** Where `id`'s bytes are (a file that failed to write counts as memory once that is known). */
  storageOf(id: string): FrozenStorage {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new Error(`No frozen state for scope ${id}.`);
    return entry.storage;
  }

  /** The directory spilled files go to, once one has been written. */
  async spillDirectory(): Promise<string | undefined> {
    return this.directory?.catch(() => undefined);
  }

  /**
   * Keeps `bytes` for `id` (replacing what it had) and says where. A file that cannot be written
   * leaves the bytes in memory: over budget, but nothing lost.
   */
  put(id: string, bytes: Uint8Array): FrozenStorage {
    this.delete(id);
    if (this.ramBytes + bytes.byteLength <= this.maxRamBytes) {
      this.keepInRam(id, bytes);
      return "ram";
    }
    const file = this.nextFile();
    const entry: Frozen = { storage: "disk", size: bytes.byteLength, file: "", written: Promise.resolve() };
    entry.written = file
      .then((filePath) => {
        entry.file = filePath;
        return writeFile(filePath, bytes, { mode: 0o600 });
      })
      .catch(() => {
        if (this.entries.get(id) !== entry) return;
        this.diskBytes -= entry.size;
        this.keepInRam(id, bytes);
      });
    this.entries.set(id, entry);
    this.diskBytes += entry.size;
    return "disk";
  }

  /** The bytes kept for `id`. */
  async read(id: string): Promise<Uint8Array> {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new Error(`No frozen state for scope ${id}.`);
    if (entry.storage === "ram") return entry.bytes;
    await entry.written;
    const current = this.entries.get(id);
    if (current !== entry) return this.read(id); // the write failed and the bytes moved to memory
    return new Uint8Array(await readFile(entry.file));
  }

  /** Forgets `id`'s bytes and removes its file. Never rejects: a file that will not go is left to `dispose`. */
  delete(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (entry === undefined) return Promise.resolve();
    this.entries.delete(id);
    if (entry.storage === "ram") {
      this.ramBytes -= entry.bytes.byteLength;
      return Promise.resolve();
    }
    this.diskBytes -= entry.size;
    return entry.written.then(() => (entry.file === "" ? undefined : rm(entry.file, { force: true }).catch(() => {})));
  }

  /** Forgets everything and removes the spill directory. */
  async dispose(): Promise<void> {
    const writes = [...this.entries.values()].map((entry) => (entry.storage === "disk" ? entry.written : undefined));
    this.entries.clear();
    this.ramBytes = this.diskBytes = 0;
    await Promise.all(writes);
    const directory = await this.spillDirectory();
    this.directory = undefined;
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  }

  private keepInRam(id: string, bytes: Uint8Array): void {
    this.entries.set(id, { storage: "ram", bytes });
    this.ramBytes += bytes.byteLength;
  }

  private nextFile(): Promise<string> {
    this.directory ??= mkdtemp(path.join(this.parentDir, "llama-scope-swap-"));
    const name = `frozen-${this.fileCounter++}.llstate`;
    return this.directory.then((directory) => path.join(directory, name));
  }
}
