import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  AbortError,
  DisposedError,
  InvalidArgumentError,
  Llama,
  LlamaLoad,
  LlamaParent,
  ModelLoadError,
  type LoadProgress,
  type ParentLoadOptions,
} from "../../src/index.js";
import { serveTestModel, type ModelServer } from "../support/modelServer.js";
import { testIsolation } from "../support/parents.js";
import { runFixture } from "../support/runFixture.js";
import { testLoadOptions, testModelPath } from "../support/testModel.js";

/** Every test's downloads go to a directory of its own in here, removed at the end. */
let cacheRoot: string;
let server: ModelServer;
/** The reference reply: the local model file on the direct engine. */
let expectedReply: string;
const PROMPT = "Once upon a time";

beforeAll(async () => {
  cacheRoot = mkdtempSync(path.join(os.tmpdir(), "llama-scope-test-cache-"));
  server = await serveTestModel();
  const llama = await Llama.load(testLoadOptions({ slots: 1 }));
  llama.createSlot("ref");
  llama.setSlot("ref");
  llama.setPrompt(PROMPT);
  expectedReply = await llama.generateCompleteText({ maxTokens: 24 });
  await llama.dispose();
});
afterAll(async () => {
  await server.close();
  rmSync(cacheRoot, { recursive: true, force: true });
});

function newCacheDir(): string {
  return mkdtempSync(path.join(cacheRoot, "cache-"));
}

function newParent(overrides: Partial<ParentLoadOptions>): LlamaParent {
  return new LlamaParent(new LlamaLoad(testLoadOptions({ isolation: testIsolation(), slots: 1, ...overrides })));
}

/** The events of one phase rise, stay below 1 until the last, which is 1 and covers the whole file. */
function expectPhaseRisesToOne(events: LoadProgress[], totalBytes: number): void {
  expect(events.length).toBeGreaterThan(1);
  const ratios = events.map((event) => event.ratio);
  for (let i = 1; i < ratios.length; i++) expect(ratios[i]!).toBeGreaterThan(ratios[i - 1]!);
  expect(ratios.filter((ratio) => ratio >= 1)).toEqual([1]);
  expect(events.at(-1)).toEqual({ phase: events[0]!.phase, ratio: 1, bytes: totalBytes, totalBytes });
  for (const event of events) expect(event.bytes).toBeLessThanOrEqual(totalBytes);
}

describe("a model from a URL", () => {
  test("is downloaded into modelCacheDir and loaded: loadProgress rises to 1 for the download, then for the load, then ready", async () => {
    const cacheDir = newCacheDir();
    const parent = newParent({ modelPath: server.url, modelCacheDir: cacheDir });
    const seen: (LoadProgress | "ready")[] = [];
    parent.on("loadProgress", (progress) => seen.push(progress));
    parent.on("ready", () => seen.push("ready"));
    try {
      const info = await parent.init();
      expect(seen.at(-1)).toBe("ready");
      const events = seen.slice(0, -1) as LoadProgress[];
      const downloads = events.filter((event) => event.phase === "download");
      const loads = events.filter((event) => event.phase === "load");
      expect(events).toEqual([...downloads, ...loads]);
      expectPhaseRisesToOne(downloads, server.bytes);
      expectPhaseRisesToOne(loads, server.bytes);
      // The engine loaded the downloaded copy, which is the served file byte for byte.
      expect(path.dirname(info.modelPath)).toBe(cacheDir);
      expect(readFileSync(info.modelPath).equals(readFileSync(testModelPath()))).toBe(true);
      expect(await parent.getScope().sendPrompt(PROMPT, { maxTokens: 24 })).toBe(expectedReply);
    } finally {
      await parent.dispose();
    }
  });

  test("already in the cache is not downloaded again: load progress only", async () => {
    const cacheDir = newCacheDir();
    const first = newParent({ modelPath: server.url, modelCacheDir: cacheDir });
    await first.init();
    await first.dispose();
    const second = newParent({ modelPath: server.url, modelCacheDir: cacheDir });
    const events: LoadProgress[] = [];
    second.on("loadProgress", (progress) => events.push(progress));
    try {
      await second.init();
      expect(events.length).toBeGreaterThan(1);
      expect(events.every((event) => event.phase === "load")).toBe(true);
      expect(events.at(-1)!.ratio).toBe(1);
      expect(readdirSync(cacheDir)).toEqual([path.basename(testModelPath())]);
    } finally {
      await second.dispose();
    }
  });

  test("that the server refuses: ModelLoadError naming it and saying what to do; the parent is disposed", async () => {
    const refusing = await serveTestModel({ status: 404 });
    const parent = newParent({ modelPath: refusing.url, modelCacheDir: newCacheDir() });
    try {
      const failure = parent.init();
      await expect(failure).rejects.toThrow(ModelLoadError);
      await expect(failure).rejects.toThrow(`Could not download the model "${refusing.url}"`);
      await expect(failure).rejects.toThrow("or pass the path of a local GGUF file");
      expect(parent.disposed).toBe(true);
    } finally {
      await refusing.close();
    }
  });
});

test("dispose() while the model downloads stops the download: init rejects with DisposedError, no model file is left", async () => {
  const stalling = await serveTestModel({ stallAfter: 64 * 1024 });
  const cacheDir = newCacheDir();
  const parent = newParent({ modelPath: stalling.url, modelCacheDir: cacheDir });
  parent.on("loadProgress", () => void parent.dispose());
  try {
    await expect(parent.init()).rejects.toThrow(DisposedError);
    expect(parent.engine.pid).toBeUndefined(); // no engine was started
    expect(readdirSync(cacheDir).filter((name) => name.endsWith(".gguf"))).toEqual([]);
  } finally {
    await stalling.close();
  }
});

describe("init({ signal })", () => {
  test("aborted already: rejects with AbortError at once, downloads and starts nothing, and disposes the parent", async () => {
    const parent = newParent({ modelPath: server.url, modelCacheDir: newCacheDir() });
    const events: LoadProgress[] = [];
    parent.on("loadProgress", (progress) => events.push(progress));
    const requests = server.requests;
    const reason = new Error("changed my mind");
    const failure = parent.init({ signal: AbortSignal.abort(reason) });
    await expect(failure).rejects.toThrow(AbortError);
    await expect(failure).rejects.toMatchObject({ name: "AbortError", code: "ABORT_ERR", cause: reason });
    expect(events).toEqual([]);
    expect(server.requests).toBe(requests);
    expect(parent.engine.pid).toBeUndefined();
    expect(parent.disposed).toBe(true);
  });

  test("aborted while the model downloads: AbortError, and no model file is left in the cache", async () => {
    const stalling = await serveTestModel({ stallAfter: 64 * 1024 });
    const cacheDir = newCacheDir();
    const parent = newParent({ modelPath: stalling.url, modelCacheDir: cacheDir });
    const controller = new AbortController();
    parent.on("loadProgress", ({ phase }) => phase === "download" && controller.abort());
    try {
      await expect(parent.init({ signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
      expect(parent.disposed).toBe(true);
      expect(parent.engine.pid).toBeUndefined(); // no engine was started
      expect(readdirSync(cacheDir).filter((name) => name.endsWith(".gguf"))).toEqual([]);
    } finally {
      await stalling.close();
    }
  });

  test("aborted while the engine loads the model: AbortError once the engine has ended", async () => {
    const parent = newParent({});
    const controller = new AbortController();
    let ended: (() => boolean) | undefined;
    parent.on("loadProgress", ({ phase }) => {
      if (phase !== "load" || controller.signal.aborted) return;
      ended = watchEngine(parent);
      controller.abort();
    });
    await expect(parent.init({ signal: controller.signal })).rejects.toThrow(AbortError);
    expect(parent.disposed).toBe(true);
    expect(ended?.()).toBe(true);
  });

  test("with a bad signal: InvalidArgumentError, nothing started, and init() still works", async () => {
    const parent = newParent({});
    try {
      await expect(parent.init({ signal: { aborted: false } as AbortSignal })).rejects.toThrow(InvalidArgumentError);
      await expect(parent.init({ singal: AbortSignal.abort() } as object)).rejects.toThrow(
        'Unknown init option "singal": did you mean "signal"?',
      );
      expect(parent.disposed).toBe(false);
      expect((await parent.init()).slots).toBe(1);
    } finally {
      await parent.dispose();
    }
  });

  test.each(["thread", "process"])(
    "aborted before, while downloading and while loading (%s): the process then exits on its own",
    async (isolation) => {
      const run = await runFixture("initAbortThenExit", { env: { LLAMA_SCOPE_TEST_ISOLATION: isolation } });
      expect(run.signal).toBeNull(); // killed = something was left running
      expect(run.code).toBe(0);
      expect(run.report).toEqual({ before: "AbortError", downloading: "AbortError", loading: "AbortError", cached: [] });
    },
  );
});

/** Says, when called, whether the parent's engine running now (a worker thread or a child process) has ended. */
function watchEngine(parent: LlamaParent): () => boolean {
  const worker: Worker | undefined = parent.worker;
  if (worker !== undefined) {
    let exited = false;
    worker.once("exit", () => (exited = true));
    return () => exited;
  }
  const pid = parent.engine.pid!;
  return () => {
    try {
      process.kill(pid, 0); // signal 0: only asks whether the process exists
      return false;
    } catch {
      return true;
    }
  };
}
