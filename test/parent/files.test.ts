// What llama-scope leaves on disk, and what it will not touch there: planted symlinks are never
// followed, a process killed with frozen scopes on disk leaves none of their bytes behind, and
// the next parent (or a Llama loaded directly) removes what a dead process left, and only that.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "@jest/globals";
import { Llama } from "../../src/index.js";
import { CONVERSATIONS, manyConversations, runTurn, type Conversation } from "../support/conversations.js";
import { scratchDirOf, startParent } from "../support/parents.js";
import { runFixture } from "../support/runFixture.js";
import { testLoadOptions } from "../support/testModel.js";

const OPTIONS = { maxTokens: 16 };
let base: string;
beforeEach(async () => (base = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-files-"))));
afterEach(() => rm(base, { recursive: true, force: true }));

/** Every regular file (or symlink) under `directory`, recursively. */
async function filesUnder(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(full)));
    else found.push(full);
  }
  return found;
}

/** The pid of a process that has exited: nothing runs under it now. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ["-e", ""]);
  if (pid === undefined) throw new Error("Could not run a short-lived process.");
  return pid;
}

describe("planted symlinks", () => {
  /** Symlinks named like every scratch and spill file the library ever used, all to one file outside. */
  async function plant(directory: string, target: string): Promise<string[]> {
    const names = Array.from({ length: 64 }, (_, i) => [`state-${i}.bin`, `frozen-${i}.llstate`, `frozen-${i}.spill`]).flat();
    names.push("frozen.spill", "owner.pid");
    await mkdir(directory, { recursive: true });
    await Promise.all(names.map((name) => symlink(target, path.join(directory, name))));
    return names;
  }

  test("are never followed: saves, loads, freezes, spills and restores leave the file they point to unchanged", async () => {
    const target = path.join(base, "outside", "precious.txt");
    await mkdir(path.dirname(target));
    await writeFile(target, "precious\n");
    const stateDir = path.join(base, "state");
    const swapDir = path.join(base, "swap");
    const planted = { state: await plant(stateDir, target), swap: await plant(swapDir, target) };

    // The direct engine, with the caller's stateDir.
    const llama = await Llama.load(testLoadOptions({ slots: 2, stateDir }));
    const [alice, bob] = CONVERSATIONS as [Conversation, Conversation];
    await runTurn(llama, alice, 0, OPTIONS);
    const state = await llama.saveState();
    await runTurn(llama, bob, 0, OPTIONS);
    await llama.loadState(state);
    await llama.saveState();
    await llama.dispose();

    // A parent with the same stateDir and every freeze spilled.
    const parent = await startParent({ slots: 1, stateDir, swap: { maxRamBytes: 0, dir: swapDir } });
    try {
      const conversations = manyConversations(3);
      const scopes = conversations.map(() => parent.getScope());
      for (let turn = 0; turn < 2; turn++)
        for (const [i, scope] of scopes.entries()) await scope.sendPrompt(conversations[i]!.turns[turn]!, OPTIONS);
      expect(parent.stats().frozenBytes.disk).toBeGreaterThan(0);
      const revived = parent.getScope({ state: await scopes[0]!.saveState() });
      await revived.sendPrompt("\nThen", OPTIONS);
      await parent.getScope({ state }).sendPrompt("\nThen", OPTIONS);
    } finally {
      await parent.dispose();
    }

    expect(await readFile(target, "utf8")).toBe("precious\n");
    for (const [directory, names] of [
      [stateDir, planted.state],
      [swapDir, planted.swap],
    ] as const) {
      expect((await readdir(directory)).sort()).toEqual([...names].sort()); // ours are gone, the planted ones untouched
      for (const name of names) expect(await readlink(path.join(directory, name))).toBe(target);
    }
  });
});

describe("a process killed with frozen scopes", () => {
  test("leaves none of their bytes on disk; the next parent removes the dead process's directories and only those", async () => {
    const stateDir = path.join(base, "state");
    const swapDir = path.join(base, "swap");
    await Promise.all([mkdir(stateDir), mkdir(swapDir)]);
    interface Report {
      pid: number;
      scratchDir: string;
      spillFile: string;
      stats: { scopes: { frozen: number }; frozenBytes: { ram: number; disk: number } };
      probes: string[];
    }
    let report: Report | undefined;
    const run = await runFixture("spillThenWait", {
      env: { LLAMA_SCOPE_DIR: base },
      onReport: async (printed, child) => {
        report = printed as Report;
        // Alive, with two scopes spilled: their bytes are in a file no name leads to.
        expect(report.stats).toMatchObject({ scopes: { frozen: 2 }, frozenBytes: { ram: 0 } });
        expect(report.stats.frozenBytes.disk).toBeGreaterThan(0);
        expect(path.dirname(path.dirname(report.spillFile))).toBe(swapDir);
        expect(await readdir(swapDir)).toEqual([]);
        if (existsSync(`/proc/${report.pid}/fd`)) {
          const fds = await readdir(`/proc/${report.pid}/fd`);
          const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${report!.pid}/fd/${fd}`).catch(() => "")));
          expect(targets).toContain(`${report.spillFile} (deleted)`);
        }
        expect(path.basename(report.scratchDir)).toMatch(new RegExp(`^llama-scope-${report.pid}-`));
        expect(existsSync(report.scratchDir)).toBe(true);
        child.kill("SIGKILL");
      },
    });
    expect(run.signal).toBe("SIGKILL");
    const { pid, scratchDir, probes } = report!;

    // Nothing of the conversations is left: no file at all where the spill and scratch files were.
    expect(probes).toHaveLength(2);
    for (const probe of probes) expect(/[^0]/.test(probe)).toBe(true);
    const left = await filesUnder(base);
    for (const file of left) {
      const content = (await readFile(file)).toString("hex");
      for (const probe of probes) expect(content.includes(probe)).toBe(false);
    }
    expect(left).toEqual([]);
    expect(await readdir(swapDir)).toEqual([]);
    expect(existsSync(scratchDir)).toBe(true); // the kill left its (empty) scratch directory

    // Beside it: a live process's directory, one without a recorded owner, a spill directory of
    // the dead process (as a kill in the instant the spill file is opened leaves it), and
    // a file named like a dead process's directory.
    const live = path.join(stateDir, `llama-scope-${process.ppid}-aaaaaa`);
    const ownerless = path.join(stateDir, "llama-scope-bbbbbb");
    const deadSpill = path.join(swapDir, `llama-scope-swap-${pid}-cccccc`);
    const notADirectory = path.join(stateDir, `llama-scope-${pid}-dddddd`);
    await Promise.all([live, ownerless, deadSpill].map((directory) => mkdir(directory)));
    await writeFile(path.join(deadSpill, "frozen.spill"), "left by a kill");
    await writeFile(notADirectory, "not ours");

    const next = await startParent({ slots: 1, stateDir, swap: { dir: swapDir } });
    try {
      expect(existsSync(scratchDir)).toBe(false);
      expect(existsSync(deadSpill)).toBe(false);
      for (const kept of [live, ownerless, notADirectory]) expect(existsSync(kept)).toBe(true);
      expect((await lstat(notADirectory)).isFile()).toBe(true);
      const own = scratchDirOf(next)!;
      expect(path.dirname(own)).toBe(stateDir);
      expect(path.basename(own)).toMatch(new RegExp(`^llama-scope-${process.pid}-`));
    } finally {
      await next.dispose();
    }
    expect((await readdir(stateDir)).sort()).toEqual([path.basename(notADirectory), path.basename(live), path.basename(ownerless)].sort());
  });

  test("a Llama loaded directly removes dead processes' scratch directories in its stateDir, and only those", async () => {
    const dead = path.join(base, `llama-scope-${deadPid()}-eeeeee`);
    const deadSwapKind = path.join(base, `llama-scope-swap-${deadPid()}-ffffff`);
    const live = path.join(base, `llama-scope-${process.ppid}-gggggg`);
    for (const directory of [dead, deadSwapKind, live]) await mkdir(directory);
    await writeFile(path.join(dead, "state-0.bin"), "a conversation");
    const llama = await Llama.load(testLoadOptions({ slots: 1, stateDir: base }));
    await llama.dispose();
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(deadSwapKind)).toBe(true); // another kind: a parent's, removed by a parent
    expect(existsSync(live)).toBe(true);
  });
});
