// Where frozen bytes are kept: the region allocator, and the FrozenStore's memory and its one
// unlinked spill file (no model involved; parent.swap.test and parent.files.test use the engine).
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "@jest/globals";
import { StateLostError } from "../../src/index.js";
import { FrozenStore } from "../../src/parent/frozen/FrozenStore.js";
import { RegionAllocator } from "../../src/parent/frozen/RegionAllocator.js";

describe("RegionAllocator", () => {
  test("first fit from the free list, else at the end; lengths rounded up to the granule", () => {
    const regions = new RegionAllocator(10);
    const a = regions.allocate(10);
    const b = regions.allocate(25);
    const c = regions.allocate(1);
    expect([a, b, c]).toEqual([
      { offset: 0, length: 10 },
      { offset: 10, length: 30 },
      { offset: 40, length: 10 },
    ]);
    regions.release(b);
    expect(regions.allocate(15)).toEqual({ offset: 10, length: 20 }); // the first free region that fits, split
    expect(regions.allocate(20)).toEqual({ offset: 50, length: 20 }); // the 10 left at 30 is too small
    expect(regions.allocate(5)).toEqual({ offset: 30, length: 10 });
    expect(regions.freeRegions).toEqual([]);
    expect(regions.end).toBe(70);
  });

  test("released neighbours merge, and a free tail shrinks the end", () => {
    const regions = new RegionAllocator(10);
    const [a, b, c, d] = [10, 10, 10, 10].map((bytes) => regions.allocate(bytes)) as [never, never, never, never];
    regions.release(a);
    regions.release(c);
    expect(regions.freeRegions).toEqual([
      { offset: 0, length: 10 },
      { offset: 20, length: 10 },
    ]);
    regions.release(b); // merges with both
    expect(regions.freeRegions).toEqual([{ offset: 0, length: 30 }]);
    expect(regions.allocate(30)).toEqual({ offset: 0, length: 30 });
    regions.release({ offset: 0, length: 30 });
    regions.release(d); // the tail: everything is free, the end goes back to 0
    expect(regions.freeRegions).toEqual([]);
    expect(regions.end).toBe(0);
  });
});

describe("FrozenStore", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-store-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

  test("spills past maxRamBytes into one unlinked file: nothing in the directory, counted in bytes.disk", async () => {
    const store = new FrozenStore(10, dir);
    expect(store.put("a", filled(8, 1))).toBe("ram");
    expect(store.put("b", filled(8, 2))).toBe("disk");
    expect(store.bytes).toEqual({ ram: 8, disk: 8 });
    expect(await store.read("b")).toEqual(filled(8, 2));
    const createdAt = store.spillFile.createdAt!;
    expect(path.dirname(path.dirname(createdAt))).toBe(dir);
    expect(path.basename(path.dirname(createdAt))).toMatch(new RegExp(`^llama-scope-swap-${process.pid}-`));
    expect(existsSync(createdAt)).toBe(false);
    expect(await readdir(dir)).toEqual([]); // file and private directory removed right after the open
    await store.delete("a");
    expect(store.put("c", filled(4, 3))).toBe("ram");
    expect(store.bytes).toEqual({ ram: 4, disk: 8 });
    await store.dispose();
    expect(store.count).toBe(0);
    expect(store.bytes).toEqual({ ram: 0, disk: 0 });
  });

  test("a file that cannot be created leaves the bytes in memory: nothing is lost", async () => {
    const store = new FrozenStore(0, path.join(dir, "no-such-dir", "deeper"));
    const bytes = new Uint8Array([1, 2, 3]);
    expect(store.put("a", bytes)).toBe("disk");
    expect(await store.read("a")).toEqual(bytes);
    expect(store.bytes).toEqual({ ram: 3, disk: 0 });
    expect(store.storageOf("a")).toBe("ram");
    await store.dispose();
  });

  test("regions are reused, and a read returns exactly the bytes put, never what the region held before", async () => {
    const store = new FrozenStore(0, dir);
    store.put("long", filled(10_000, 0xaa));
    store.put("other", filled(3_000, 0xbb));
    await store.read("other");
    await store.delete("long");
    store.put("short", filled(10, 0x01)); // in the region "long" had
    expect(await store.read("short")).toEqual(filled(10, 0x01));
    expect(await store.read("other")).toEqual(filled(3_000, 0xbb));

    // Many scopes coming and going: the file stays as large as the most held at once.
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const held = new Map<string, Uint8Array>();
    for (let round = 0; round < 300; round++) {
      const id = `scope-${Math.floor(random() * 8)}`;
      if (held.has(id) && random() < 0.3) {
        await store.delete(id);
        held.delete(id);
      } else {
        const bytes = filled(1 + Math.floor(random() * 20_000), round % 251);
        store.put(id, bytes);
        held.set(id, bytes);
      }
    }
    for (const [id, bytes] of held) expect(await store.read(id)).toEqual(bytes);
    const { size } = await (await store.spillFile.handle)!.stat();
    expect(size).toBeLessThanOrEqual(12 * 24_576); // 8 scopes of at most 20 KB (in 4 KiB granules), and slack for fragments
    await store.dispose();
  });

  test("a region being read is not reused until the read ends", async () => {
    const store = new FrozenStore(0, dir);
    store.put("a", filled(50_000, 0x11));
    await store.read("a");
    const reading = store.read("a");
    const deleted = store.delete("a");
    store.put("b", filled(50_000, 0x22)); // must not land where a is being read
    expect(await reading).toEqual(filled(50_000, 0x11));
    await deleted;
    expect(await store.read("b")).toEqual(filled(50_000, 0x22));
    await store.dispose();
  });

  test("thousands of spilled scopes take one file descriptor", async () => {
    const fds = "/proc/self/fd";
    const count = async () => (existsSync(fds) ? (await readdir(fds)).length : 0);
    const store = new FrozenStore(0, dir);
    const before = await count();
    for (let i = 0; i < 2000; i++) store.put(`scope-${i}`, filled(100, i % 256));
    await Promise.all([0, 999, 1999].map(async (i) => expect(await store.read(`scope-${i}`)).toEqual(filled(100, i % 256))));
    expect(store.bytes).toEqual({ ram: 0, disk: 200_000 });
    expect(await count()).toBeLessThanOrEqual(before + 1);
    await store.dispose();
  });

  test("bytes that cannot be read back fail with StateLostError, never a raw fs error", async () => {
    const store = new FrozenStore(0, dir);
    store.put("a", filled(100, 1));
    await store.read("a");
    await (await store.spillFile.handle)!.close(); // broken underneath
    const failure = await store.read("a").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StateLostError);
    expect((failure as Error).message).toMatch(/scope a could not be read back .*lost.*parent\.getScope\(\)/);
    expect((failure as Error).cause).toBeDefined();
    expect(store.put("b", filled(100, 2))).toBe("disk"); // cannot be written: kept in memory
    expect(await store.read("b")).toEqual(filled(100, 2));
    expect(store.storageOf("b")).toBe("ram");
    await store.dispose();
  });
});
