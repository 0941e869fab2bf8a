import os from "node:os";
import { StateLostError } from "../../shared/errors/index.js";
import type { Region } from "./RegionAllocator.js";
import { SpillFile } from "./SpillFile.js";

/** Where a frozen conversation's bytes are. */
export type FrozenStorage = "ram" | "disk";

interface OnDisk {
  storage: "disk";
  /** The exact byte count; the region may be longer. */
  size: number;
  region: Region;
  spill: SpillFile;
  /** Settles (never rejects) once the write ended. */
  written: Promise<void>;
  /** The bytes, when the write failed: they are kept in memory instead (and the region freed). */
  unwritten?: Uint8Array;
  /** Every I/O on the region (the write, then reads); never rejects. The region is freed only after it. */
  io: Promise<unknown>;
}

type Frozen = { storage: "ram"; bytes: Uint8Array } | OnDisk;

/**
 * Frozen conversations, by scope id, in the parent thread: they outlive the worker. Bytes stay in
 * memory while the total fits `maxRamBytes`; a freeze that does not fit goes to a region of one
 * unlinked spill file (see {@link SpillFile}), opened in a private directory inside `parentDir` on
 * first use and closed by {@link dispose}.
 *
 * Bookkeeping is synchronous (sizes are right the moment `put` returns); only file I/O is awaited.
 */
export class FrozenStore {
  private readonly entries = new Map<string, Frozen>();
  private ramBytes = 0;
  private diskBytes = 0;
  private spill: SpillFile;

  constructor(
    private readonly maxRamBytes: number,
    private readonly parentDir: string = os.tmpdir(),
  ) {
    this.spill = new SpillFile(parentDir);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get count(): number {
    return this.entries.size;
  }

  get bytes(): { ram: number; disk: number } {
    return { ram: this.ramBytes, disk: this.diskBytes };
  }

  /** The spill file frozen bytes beyond `maxRamBytes` go to. For tests. */
  get spillFile(): SpillFile {
    return this.spill;
  }

  /** Where `id`'s bytes are (a write that failed counts as memory once that is known). */
  storageOf(id: string): FrozenStorage {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new Error(`No frozen state for scope ${id}.`);
    return entry.storage;
  }

  /**
   * Keeps `bytes` for `id` (replacing what it had) and says where. A write that fails leaves the
   * bytes in memory: over budget, but nothing lost.
   */
  put(id: string, bytes: Uint8Array): FrozenStorage {
    void this.delete(id);
    if (this.ramBytes + bytes.byteLength <= this.maxRamBytes) {
      this.keepInRam(id, bytes);
      return "ram";
    }
    const spill = this.spill;
    const region = spill.allocate(bytes.byteLength);
    const entry: OnDisk = { storage: "disk", size: bytes.byteLength, region, spill, written: Promise.resolve(), io: Promise.resolve() };
    entry.written = spill.write(region, bytes).catch(() => {
      entry.unwritten = bytes; // for reads already waiting
      if (this.entries.get(id) !== entry) return; // deleted meanwhile: `delete` frees the region
      this.diskBytes -= entry.size;
      spill.release(region);
      this.keepInRam(id, bytes);
    });
    entry.io = entry.written;
    this.entries.set(id, entry);
    this.diskBytes += entry.size;
    return "disk";
  }

  /**
   * The bytes kept for `id`, exactly as put.
   * @throws {StateLostError} when they cannot be read back from the spill file.
   */
  async read(id: string): Promise<Uint8Array> {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new Error(`No frozen state for scope ${id}.`);
    if (entry.storage === "ram") return entry.bytes;
    // Registered at once: a delete from now on frees the region only after this read.
    const reading = entry.written.then(() => entry.unwritten ?? entry.spill.read(entry.region, entry.size));
    entry.io = Promise.allSettled([entry.io, reading]).then(() => {}); // not holding the bytes read
    try {
      return await reading;
    } catch (cause) {
      throw new StateLostError(
        `The frozen conversation of scope ${id} could not be read back from the spill file (${cause instanceof Error ? cause.message : String(cause)}); ` +
          `it is lost. Dispose the scope and start a new one with parent.getScope(), or revive a state you saved earlier with parent.getScope({ state }).`,
        { cause },
      );
    }
  }

  /** Forgets `id`'s bytes; a region of the spill file is freed once its I/O has ended. Never rejects. */
  delete(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (entry === undefined) return Promise.resolve();
    this.entries.delete(id);
    if (entry.storage === "ram") {
      this.ramBytes -= entry.bytes.byteLength;
      return Promise.resolve();
    }
    this.diskBytes -= entry.size;
    return entry.io.then(() => entry.spill.release(entry.region));
  }

  /** Forgets everything and closes the spill file, which frees its disk space. */
  async dispose(): Promise<void> {
    const io = [...this.entries.values()].flatMap((entry) => (entry.storage === "disk" ? [entry.io] : []));
    this.entries.clear();
    this.ramBytes = this.diskBytes = 0;
    const spill = this.spill;
    this.spill = new SpillFile(this.parentDir); // a store used again starts a new file
    await Promise.all(io);
    await spill.close();
  }

  private keepInRam(id: string, bytes: Uint8Array): void {
    this.entries.set(id, { storage: "ram", bytes });
    this.ramBytes += bytes.byteLength;
  }
}
