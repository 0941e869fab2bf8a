import { constants } from "node:fs";
import { open, rmdir, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { SerialQueue } from "../../shared/SerialQueue.js";
import { makeOwnedDirectory } from "../../shared/ownedDirectories.js";
import { RegionAllocator, type Region } from "./RegionAllocator.js";

/**
 * The one file a parent spills frozen conversations into, as regions (offset, length) handed out
 * by a {@link RegionAllocator}: thousands of frozen scopes take one file descriptor.
 *
 * Nothing on disk has a name that leads to it. It is created on first use in a private directory
 * this process makes (mode 0700, pid-named, see `ownedDirectories`), exclusively and without
 * following a symlink (mode 0600), and unlinked, with its directory, right after it is opened.
 * So a tmp cleaner cannot remove it underneath, and when the process ends, however it ends, the
 * kernel frees it with the last descriptor. (A kill in the instant between mkdtemp and rmdir
 * leaves the pid-named directory, which the next parent removes.)
 *
 * Allocation and release are synchronous, so the caller's bookkeeping is; only I/O is awaited.
 * The caller must not release a region while I/O on it is in flight.
 */
export class SpillFile {
  private opening: Promise<FileHandle> | undefined;
  private readonly regions = new RegionAllocator();
  /** Truncations of a freed tail, in order; a write waits for those issued before it. */
  private readonly truncations = new SerialQueue();
  private closed = false;
  private createdPath: string | undefined;

  constructor(private readonly parent: string) {}

  /** Where the file was created, once it has been (it is unlinked by then). For tests. */
  get createdAt(): string | undefined {
    return this.createdPath;
  }

  /** The open file, once opened. For tests that break it on purpose. */
  get handle(): Promise<FileHandle> | undefined {
    return this.opening;
  }

  /** A region for `bytes` bytes, not overlapping any other. */
  allocate(bytes: number): Region {
    return this.regions.allocate(bytes);
  }

  /** Gives a region back, once no I/O on it is in flight; a freed tail of the file is cut off. */
  release(region: Region): void {
    const end = this.regions.end;
    this.regions.release(region);
    if (this.regions.end >= end || this.opening === undefined) return;
    const opening = this.opening;
    // The length is read when the truncation runs: it then covers every region allocated so far.
    // A failed truncation only leaves the file longer than it need be.
    this.truncations.run(() => opening.then((handle) => handle.truncate(this.regions.end))).catch(() => {});
  }

  /** Writes all of `bytes` at the start of `region` (opening the file on first use). */
  async write(region: Region, bytes: Uint8Array): Promise<void> {
    const handle = await this.open();
    // A truncation issued before this region was allocated may have used a shorter length.
    await this.truncations.idle();
    for (let done = 0; done < bytes.byteLength;) {
      const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, region.offset + done);
      if (bytesWritten === 0) throw new Error("The spill file accepted no bytes.");
      done += bytesWritten;
    }
  }

  /** Reads exactly `length` bytes from the start of `region`; a file that ends before fails. */
  async read(region: Region, length: number): Promise<Uint8Array> {
    if (this.opening === undefined) throw new Error("Nothing was written to the spill file.");
    const handle = await this.opening;
    const bytes = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const { bytesRead } = await handle.read(bytes, done, length - done, region.offset + done);
      if (bytesRead === 0) throw new Error(`The spill file ended ${length - done} bytes early.`);
      done += bytesRead;
    }
    return bytes;
  }

  /** Closes the file, which frees it (it has no name). Call once no I/O is in flight. */
  async close(): Promise<void> {
    this.closed = true;
    await this.truncations.idle();
    const handle = await this.opening?.catch(() => undefined);
    await handle?.close().catch(() => {});
  }

  private open(): Promise<FileHandle> {
    if (this.closed) return Promise.reject(new Error("The spill file is closed."));
    if (this.opening === undefined) {
      const opening = this.create();
      this.opening = opening;
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined; // the next write tries again
      });
    }
    return this.opening;
  }

  private async create(): Promise<FileHandle> {
    const directory = await makeOwnedDirectory(this.parent, "swap");
    const file = path.join(directory, "frozen.spill");
    let handle: FileHandle | undefined;
    try {
      // O_NOFOLLOW is not defined on Windows, where symlinks need privileges anyway.
      handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | (constants.O_NOFOLLOW ?? 0), 0o600);
      await unlink(file);
      this.createdPath = file;
      return handle;
    } catch (error) {
      await handle?.close().catch(() => {});
      await unlink(file).catch(() => {});
      throw error;
    } finally {
      await rmdir(directory).catch(() => {});
    }
  }
}
