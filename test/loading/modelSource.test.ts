import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { InvalidArgumentError, Llama, type LlamaLoadOptions, type LoadProgress } from "../../src/index.js";
import { isModelUri } from "../../src/loading/modelSource.js";
import { serveTestModel, type ModelServer } from "../support/modelServer.js";
import { testLoadOptions, testModelPath } from "../support/testModel.js";

let cacheRoot: string;
let server: ModelServer;
beforeAll(async () => {
  cacheRoot = mkdtempSync(path.join(os.tmpdir(), "llama-scope-test-cache-"));
  server = await serveTestModel();
});
afterAll(async () => {
  await server.close();
  rmSync(cacheRoot, { recursive: true, force: true });
});

async function replyOf(llama: Llama): Promise<string> {
  llama.createSlot("s");
  llama.setSlot("s");
  llama.setPrompt("Once upon a time");
  return llama.generateCompleteText({ maxTokens: 24 });
}

async function withLoaded<T>(
  options: Partial<LlamaLoadOptions>,
  control: Parameters<typeof Llama.load>[1],
  use: (llama: Llama) => Promise<T>,
): Promise<T> {
  const llama = await Llama.load(testLoadOptions({ slots: 1, ...options }), control);
  try {
    return await use(llama);
  } finally {
    await llama.dispose();
  }
}

test("Llama.load takes a model URL: downloaded into modelCacheDir with onProgress, then loaded; it replies as the local file does", async () => {
  const cacheDir = mkdtempSync(path.join(cacheRoot, "cache-"));
  const events: LoadProgress[] = [];
  const fromUrl = await withLoaded(
    { modelPath: server.url, modelCacheDir: cacheDir },
    { onProgress: (progress) => events.push(progress) },
    async (llama) => {
      expect(llama.modelPath).toBe(path.join(cacheDir, path.basename(testModelPath())));
      return replyOf(llama);
    },
  );
  expect(fromUrl).toBe(await withLoaded({}, {}, replyOf));
  // The download's events, then the load's, each ending with one event of ratio 1.
  const firstLoad = events.findIndex((event) => event.phase === "load");
  expect(firstLoad).toBeGreaterThan(0);
  expect(events.slice(0, firstLoad).every((event) => event.phase === "download")).toBe(true);
  expect(events.slice(firstLoad).every((event) => event.phase === "load")).toBe(true);
  const lastOfEach = events.filter((event) => event.ratio === 1);
  expect(lastOfEach).toEqual([
    { phase: "download", ratio: 1, bytes: server.bytes, totalBytes: server.bytes },
    { phase: "load", ratio: 1, bytes: server.bytes, totalBytes: server.bytes },
  ]);
  expect(events.at(-1)).toEqual(lastOfEach[1]);
});

test("Llama.load aborted while downloading rejects with the signal's reason and leaves no model file", async () => {
  const stalling = await serveTestModel({ stallAfter: 64 * 1024 });
  const cacheDir = mkdtempSync(path.join(cacheRoot, "cache-"));
  const controller = new AbortController();
  const reason = new Error("stop");
  try {
    const load = Llama.load(testLoadOptions({ modelPath: stalling.url, modelCacheDir: cacheDir }), {
      signal: controller.signal,
      onProgress: () => controller.abort(reason),
    });
    await expect(load).rejects.toBe(reason);
    expect(readdirSync(cacheDir).filter((name) => name.endsWith(".gguf"))).toEqual([]);
  } finally {
    await stalling.close();
  }
});

test("a relative modelPath is a file relative to the working directory, as anywhere in Node", async () => {
  const relative = path.relative(process.cwd(), testModelPath());
  expect(path.isAbsolute(relative)).toBe(false);
  await withLoaded({ modelPath: relative }, {}, async (llama) => expect(llama.modelPath).toBe(testModelPath()));
});

test("which model paths are URIs to download", () => {
  for (const uri of [
    "hf:ggml-org/models/tinyllamas/stories260K.gguf",
    "hf:user/repo:Q4_K_M",
    "huggingface:user/repo",
    "hf.co/user/repo",
    "https://example.com/m.gguf",
    "HTTP://example.com/m.gguf",
  ])
    expect([uri, isModelUri(uri)]).toEqual([uri, true]);
  for (const file of ["model.gguf", "./hf:odd.gguf", "/models/https.gguf", "models/hf/x.gguf", "C:\\models\\x.gguf"])
    expect([file, isModelUri(file)]).toEqual([file, false]);
});

describe("load options and controls refused with what to do", () => {
  test.each([
    ["onLoadProgress as a load option", { onLoadProgress: () => {} }, undefined, "Llama.load(options, { onProgress })"],
    ["a modelCacheDir that is a file", { modelCacheDir: testModelPath() }, undefined, "is not a directory"],
    ["an onProgress that is not a function", {}, { onProgress: 1 }, "onProgress must be a function"],
    ["an unknown control", {}, { onLoadProgress: () => {} }, 'Unknown Llama.load control option "onLoadProgress"'],
  ])("%s", async (_, options, control, says) => {
    const load = Llama.load(testLoadOptions(options as Partial<LlamaLoadOptions>), control as Parameters<typeof Llama.load>[1]);
    await expect(load).rejects.toThrow(InvalidArgumentError);
    await expect(load).rejects.toThrow(says);
  });
});
