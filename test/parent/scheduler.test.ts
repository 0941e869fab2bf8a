// The slot scheduler's decisions in cases the real engine cannot be made to produce on demand
// (a freeze or restore that fails, a dispose in the middle of a move). The worker here is a
// stand-in that records what it is told; the engine itself is covered by parent.swap.test.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "@jest/globals";
import { DisposedError, SlotCapacityError, StateLostError } from "../../src/index.js";
import { FrozenStore } from "../../src/parent/frozen/FrozenStore.js";
import { SlotScheduler, type SlotWorker } from "../../src/parent/slots/SlotScheduler.js";

class RecordingWorker implements SlotWorker {
  readonly log: string[] = [];
  readonly slots = new Set<string>();
  failFreeze = false;
  failRestore = false;
  /** When set, restores wait for it: a restore in progress. */
  restoreGate: Promise<void> | undefined;

  async freeze(id: string): Promise<Uint8Array | null> {
    this.log.push(`freeze ${id}`);
    if (this.failFreeze) throw new Error("freeze failed");
    if (!this.slots.delete(id)) return null;
    return new TextEncoder().encode(`state of ${id}`);
  }

  async restore(id: string, state: Uint8Array): Promise<void> {
    this.log.push(`restore ${id} ${new TextDecoder().decode(state)}`);
    await this.restoreGate;
    if (this.failRestore) throw new Error("restore failed");
    this.take(id);
  }

  async rebuild(id: string): Promise<void> {
    this.log.push(`rebuild ${id}`);
    this.take(id);
  }

  async free(id: string): Promise<boolean> {
    this.log.push(`free ${id}`);
    return this.slots.delete(id);
  }

  /** What a prompt does in the real worker: create the scope's slot if it has none. */
  take(id: string): void {
    if (!this.slots.has(id) && this.slots.size >= 2) throw new Error(`no slot left for ${id}`);
    this.slots.add(id);
  }
}

function setUp(options: { slots?: number; swapping?: boolean; store?: FrozenStore } = {}) {
  const worker = new RecordingWorker();
  const store = options.store ?? new FrozenStore(Number.MAX_SAFE_INTEGER);
  const events: string[] = [];
  const scheduler = new SlotScheduler(options.slots ?? 2, options.swapping ?? true, store, worker, {
    frozen: (id) => events.push(`frozen ${id}`),
    restored: (id) => events.push(`restored ${id}`),
  });
  /** A call that holds the scope's slot until `finish` is called. */
  const hold = (id: string) => {
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    const call = scheduler.withSlot(id, async () => {
      worker.take(id);
      await done;
      return id;
    });
    return { call, finish };
  };
  const prompt = (id: string) => scheduler.withSlot(id, async () => (worker.take(id), id));
  return { worker, store, events, scheduler, hold, prompt };
}

describe("SlotScheduler", () => {
  test("the least recently used idle scope is frozen; a busy one never is", async () => {
    const { scheduler, worker, prompt, hold } = setUp();
    for (const id of ["a", "b", "c"]) scheduler.add(id);
    await prompt("a");
    const busyB = hold("b");
    await prompt("c"); // a is idle and least recently used; b is busy
    expect(worker.log).toEqual(["freeze a"]);
    await prompt("a"); // b still busy: c is the only idle scope
    expect(worker.log).toEqual(["freeze a", "freeze c", "restore a state of a"]);
    busyB.finish();
    await busyB.call;
    expect(scheduler.stats()).toMatchObject({
      freezes: 2,
      restores: 1,
      scopes: { resident: 2, frozen: 1 },
      slots: { held: 2, generating: 0 },
    });
  });

  test("with every slot busy, scopes wait in FIFO order; a resident scope does not wait", async () => {
    const { scheduler, worker, hold, prompt } = setUp();
    for (const id of ["a", "b", "c", "d"]) scheduler.add(id);
    const a = hold("a");
    const b = hold("b");
    const c = hold("c");
    const d = prompt("d");
    await new Promise((resolve) => setImmediate(resolve));
    expect(scheduler.stats()).toMatchObject({ queueDepth: 2, slots: { held: 2, generating: 2 } });
    expect(await scheduler.withSlot("a", async () => "a again")).toBe("a again");
    b.finish();
    await b.call;
    await new Promise((resolve) => setImmediate(resolve));
    expect(worker.slots).toEqual(new Set(["a", "c"])); // c, first in the queue, took b's slot
    expect(scheduler.stats().queueDepth).toBe(1);
    a.finish();
    expect(await d).toBe("d");
    expect(worker.log).toEqual(["freeze b", "freeze a"]);
    c.finish();
    await Promise.all([a.call, c.call]);
  });

  test("without swapping, a scope beyond the slots fails with SlotCapacityError", async () => {
    const { scheduler, prompt, worker } = setUp({ swapping: false });
    for (const id of ["a", "b", "c"]) scheduler.add(id);
    await prompt("a");
    await prompt("b");
    await expect(prompt("c")).rejects.toBeInstanceOf(SlotCapacityError);
    expect(worker.log).toEqual([]);
  });

  test("a failed freeze leaves the victim in its slot and fails only the call that needed it", async () => {
    const { scheduler, prompt, worker } = setUp({ slots: 1 });
    for (const id of ["a", "b"]) scheduler.add(id);
    await prompt("a");
    worker.failFreeze = true;
    await expect(prompt("b")).rejects.toThrow("freeze failed");
    expect(scheduler.stats()).toMatchObject({ slots: { held: 1 }, scopes: { resident: 1, frozen: 0 } });
    expect(await prompt("a")).toBe("a");
    worker.failFreeze = false;
    expect(await prompt("b")).toBe("b");
  });

  test("a failed restore keeps the frozen bytes, frees the slot for the next waiter, and can be retried", async () => {
    const { scheduler, prompt, worker, store } = setUp({ slots: 1 });
    for (const id of ["a", "b", "c"]) scheduler.add(id);
    await prompt("a");
    await prompt("b"); // a frozen
    worker.failRestore = true;
    await expect(prompt("a")).rejects.toThrow("restore failed");
    expect(store.has("a")).toBe(true);
    expect(await prompt("c")).toBe("c");
    worker.failRestore = false;
    expect(await prompt("a")).toBe("a");
    expect(store.has("a")).toBe(false);
  });

  test("disposing a scope while it waits, or while it is being restored, fails its calls and frees what it took", async () => {
    const { scheduler, prompt, hold, worker } = setUp({ slots: 1 });
    for (const id of ["a", "b", "c"]) scheduler.add(id);
    const a = hold("a");
    const waiting = prompt("b");
    await new Promise((resolve) => setImmediate(resolve));
    const removal = scheduler.remove("b");
    await expect(waiting).rejects.toBeInstanceOf(DisposedError);
    expect(await removal).toBe(false);
    a.finish();
    await a.call;

    await prompt("c"); // a frozen
    let openGate = () => {};
    worker.restoreGate = new Promise((resolve) => (openGate = resolve));
    const restoring = prompt("a");
    await new Promise((resolve) => setImmediate(resolve));
    expect(worker.log.at(-1)).toBe("restore a state of a"); // c frozen, a's restore under way
    const removeA = scheduler.remove("a");
    openGate();
    await expect(restoring).rejects.toBeInstanceOf(DisposedError);
    expect(await removeA).toBe(true); // the slot the restore gave it
    expect(scheduler.stats()).toMatchObject({ scopes: { total: 1, frozen: 1, resident: 0 }, slots: { held: 0 } });
    expect(worker.slots).toEqual(new Set());
    expect(await prompt("c")).toBe("c");
  });

  test("a frozen scope's bytes can be read after every call fails", async () => {
    const { scheduler, prompt } = setUp({ slots: 1 });
    for (const id of ["a", "b"]) scheduler.add(id);
    await prompt("a");
    await prompt("b");
    scheduler.failAll(new Error("worker gone"));
    expect(new TextDecoder().decode(await scheduler.saveState("a", () => Promise.reject(new Error("unused"))))).toBe("state of a");
    await expect(scheduler.saveState("b", async () => new Uint8Array())).rejects.toThrow("worker gone");
    await expect(prompt("a")).rejects.toThrow("worker gone");
  });

  test("a frozen scope whose spilled bytes cannot be read: its calls and saveState fail with StateLostError, the others go on", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-lost-"));
    try {
      const { scheduler, prompt, store } = setUp({ slots: 1, store: new FrozenStore(0, dir) });
      for (const id of ["a", "b", "c"]) scheduler.add(id);
      await prompt("a");
      await prompt("b"); // a spilled
      expect(store.storageOf("a")).toBe("disk");
      await store.read("a"); // written
      await (await store.spillFile.handle)!.close(); // the file breaks underneath
      await expect(prompt("a")).rejects.toBeInstanceOf(StateLostError);
      await expect(scheduler.saveState("a", () => Promise.reject(new Error("unused")))).rejects.toThrow(
        /could not be read back.*parent\.getScope\(\{ state \}\)/,
      );
      // a's restore froze b first: its bytes could not be written either, so they stayed in memory.
      expect(new TextDecoder().decode(await store.read("b"))).toBe("state of b");
      expect(store.storageOf("b")).toBe("ram");
      expect(await prompt("c")).toBe("c");
      expect(await prompt("b")).toBe("b");
      await expect(prompt("a")).rejects.toBeInstanceOf(StateLostError); // still lost, still named
      await store.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
