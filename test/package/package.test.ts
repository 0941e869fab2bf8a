// The package as npm publishes it: `npm pack`ed, unpacked into a consumer project's node_modules
// (its dependencies linked from this project's, so it works offline), then used as a user would:
// type-checked by TypeScript 5 and 7 with skipLibCheck off, imported, and required from CommonJS.
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { projectRoot } from "../support/testModel.js";

const run = promisify(execFile);
const root = projectRoot();
const compilers = {
  "TypeScript 5": path.join(root, "node_modules", "typescript", "bin", "tsc"),
  "TypeScript 7": path.join(root, "node_modules", "typescript7", "bin", "tsc"),
};

/** What a user writes against the public API, types and values, with the strictest settings. */
const CONSUMER_SOURCE = `
import {
  AbortError, Llama, LlamaLoad, LlamaParent, LlamaScope, ModelLoadError, readStateMeta,
  type ChatHistoryItem, type GenerationResult, type InitOptions, type JsonSchema, type LlamaLoadOptions,
  type LoadProgress, type ModelReady, type ModelTokenizer, type ParentLoadOptions, type PromptStream, type Token,
} from "llama-scope";

export async function main(modelPath: string): Promise<void> {
  const options: ParentLoadOptions = { modelPath, modelCacheDir: "models", slots: 2, isolation: "process", swap: { maxRamBytes: 1 << 20 } };
  const parent = new LlamaParent(new LlamaLoad(options));
  parent.on("loadProgress", (progress: LoadProgress) => console.log(progress.phase, progress.ratio, progress.bytes, progress.totalBytes));
  parent.on("engineRestarted", ({ attempt }) => console.log(attempt));
  const init: InitOptions = { signal: AbortSignal.timeout(60_000) };
  let ready: ModelReady;
  try {
    ready = await parent.init(init);
  } catch (error) {
    if (error instanceof AbortError || error instanceof ModelLoadError) console.log(error.name, error.message);
    throw error;
  }
  console.log(ready.modelPath, ready.contextSize, parent.engine.isolation);
  const earlier: ChatHistoryItem[] = [{ type: "user", text: "Hello" }, { type: "model", response: ["Hi!"] }];
  const scope: LlamaScope = parent.getScope({ mode: "chat", systemPrompt: "Be brief.", history: earlier });
  const schema: JsonSchema = { type: "object", properties: { name: { $ref: "#/$defs/name" }, age: { type: "integer" } }, $defs: { name: { type: "string", maxLength: 20 } } };
  const stream: PromptStream = scope.streamPrompt("Hi", { maxTokens: 8, jsonSchema: schema });
  for await (const chunk of stream) console.log(chunk);
  const result: GenerationResult = await stream.result;
  const history: ChatHistoryItem[] = await scope.getChatHistory();
  for (const item of history) console.log(item.type === "model" ? item.response.join("") : item.text);
  const fork = await scope.fork();
  console.log(result.finishReason, history.length, readStateMeta(await fork.saveState()), parent.stats().prefixCache.hits);
  // @ts-expect-error scopes come from parent.getScope(): the constructor is private
  new LlamaScope();
  await parent.dispose();

  const direct: LlamaLoadOptions = { modelPath, contextShift: { size: 64 } };
  const llama = await Llama.load(direct, { onProgress: ({ ratio }) => console.log(ratio), signal: AbortSignal.timeout(60_000) });
  llama.createSlot("a", { contextShift: { strategy: ({ size }) => [{ start: 1, end: 1 + size }] } });
  llama.setSlot("a");
  const model: ModelTokenizer = llama.model;
  const start: Token[] = model.tokens.bos === null ? [] : [model.tokens.bos];
  llama.setPromptTokens([...start, ...model.tokenize("Once")]);
  console.log(await llama.generateCompleteText({ maxTokens: 4 }), llama.modelPath);
  const tokens: Token[] = llama.historyTokens("a");
  console.log(model.detokenize(tokens, false), tokens.filter((token) => model.isEogToken(token) || model.isSpecialToken(token)).length);
  // @ts-expect-error a token is a model's token id, not any number
  llama.setPromptTokens([1, 2]);
  await llama.dispose();
}
`;

let work: string;
/** The unpacked tarball: what a user's node_modules/llama-scope holds. */
let installed: string;
let consumer: string;
let packedFiles: string[];
/** The package's `dependencies`: what `npm install llama-scope` installs beside it. */
let libraryDependencies: string[];
/** The declaration files of the package's entry points (`exports` with a `types` condition). */
let entryTypes: string[];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), "llama-scope-test-package-"));
  // --ignore-scripts: pack the dist/ that npm test built, without rebuilding it under running tests.
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: root });
  const [{ filename, files }] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  packedFiles = files.map((file) => file.path);
  await run("tar", ["xzf", path.join(work, filename), "-C", work]);
  consumer = path.join(work, "consumer");
  installed = path.join(consumer, "node_modules", "llama-scope");
  mkdirSync(path.join(consumer, "node_modules", "@types"), { recursive: true });
  renameSync(path.join(work, "package"), installed);
  // The dependencies as npm would install them beside the package (node-llama-cpp's own ones
  // resolve from their real place, in this project's node_modules), and the optional peer
  // dependencies that a server user installs (fastify).
  const manifest = JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    exports: Record<string, string | { types?: string }>;
  };
  const { dependencies, exports } = manifest;
  libraryDependencies = Object.keys(dependencies);
  for (const name of [...Object.keys(dependencies), ...Object.keys(manifest.peerDependencies), "@types/node"])
    symlinkSync(path.join(root, "node_modules", name), path.join(consumer, "node_modules", name), "dir");
  // Every entry point is checked, including ones index.ts does not use (a subpath added later).
  const entries = Object.entries(exports).flatMap(([subpath, target]) =>
    typeof target === "object" && target.types !== undefined
      ? [{ specifier: path.posix.join("llama-scope", subpath), types: target.types }]
      : [],
  );
  entryTypes = entries.map(({ types }) => path.join(installed, types));
  writeFileSync(
    path.join(consumer, "entries.ts"),
    entries.map(({ specifier }, i) => `export * as entry${i} from "${specifier}";\n`).join(""),
  );
  writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  writeFileSync(
    path.join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022"], // no DOM: Node types only, as a server project has
        types: ["node"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        noEmit: true,
      },
      files: ["index.ts", "entries.ts"],
    }),
  );
  writeFileSync(path.join(consumer, "index.ts"), CONSUMER_SOURCE);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(Object.entries(compilers))("%s type-checks a consumer of the packed package with skipLibCheck: false", (name, tsc) => {
  test("no error at all, and none of node-llama-cpp's declarations loaded (they have errors of their own)", async () => {
    const { stdout: version } = await run(process.execPath, [tsc, "--version"]);
    expect(version).toMatch(name === "TypeScript 5" ? /Version 5\./ : /Version 7\./);
    const output = await run(process.execPath, [tsc, "-p", consumer, "--pretty", "false", "--listFiles"]).then(
      ({ stdout }) => stdout,
      (error: { stdout: string }) => error.stdout,
    );
    expect(output.split("\n").filter((line) => /error TS\d+/.test(line))).toEqual([]);
    // What was checked: the consumer, against the unpacked package's declarations and nothing of
    // node-llama-cpp's (3.22.1's have two errors under skipLibCheck: false: a `tempDir` its
    // LlamaOptions lacks, and async-retry's types, which it does not install).
    const checked = output
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => path.resolve(consumer, line.trim()));
    expect(entryTypes).toContain(path.join(installed, "dist", "index.d.ts"));
    expect(checked).toEqual(expect.arrayContaining([path.join(consumer, "index.ts"), path.join(consumer, "entries.ts"), ...entryTypes]));
    expect(checked.filter((file) => file.includes(`${path.sep}node-llama-cpp${path.sep}`))).toEqual([]);
  });
});

describe("the tarball", () => {
  test("imports as ES modules; require() from CommonJS says how to load it instead", async () => {
    writeFileSync(
      path.join(consumer, "imports.mjs"),
      'const { LlamaParent, Llama, AbortError } = await import("llama-scope");\nconsole.log([LlamaParent, Llama, AbortError].map((f) => typeof f).join());\n',
    );
    const { stdout } = await run(process.execPath, ["imports.mjs"], { cwd: consumer });
    expect(stdout.trim()).toBe("function,function,function");

    writeFileSync(path.join(consumer, "requires.cjs"), 'require("llama-scope");\n');
    const required = await run(process.execPath, ["requires.cjs"], { cwd: consumer }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(required.code).toBe(1);
    expect(required.stderr).toContain("llama-scope is an ES module package and cannot be loaded with require()");
    expect(required.stderr).toContain('await import("llama-scope")');
    expect(required.stderr).not.toContain("ERR_PACKAGE_PATH_NOT_EXPORTED");
  });

  test("a library user's install has no fastify: the library imports, and `serve` says in one line what to install", async () => {
    expect(libraryDependencies).not.toContain("fastify");
    const project = path.join(work, "library-user");
    cpSync(installed, path.join(project, "node_modules", "llama-scope"), { recursive: true });
    for (const name of libraryDependencies)
      symlinkSync(path.join(root, "node_modules", name), path.join(project, "node_modules", name), "dir");
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "library-user", private: true, type: "module" }));
    writeFileSync(
      path.join(project, "imports.mjs"),
      'const { LlamaParent } = await import("llama-scope");\nconsole.log(typeof LlamaParent);\n',
    );
    const { stdout } = await run(process.execPath, ["imports.mjs"], { cwd: project });
    expect(stdout.trim()).toBe("function");

    const cli = path.join(project, "node_modules", "llama-scope", "dist", "cli", "main.js");
    const served = await run(process.execPath, [cli, "serve", "--model", "model.gguf"], { cwd: project }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(served.code).toBe(1);
    expect(served.stderr.trim().split("\n")).toEqual([expect.stringContaining("npm install fastify")]);
    // The flags are read before the server is imported: help needs no fastify.
    const help = await run(process.execPath, [cli, "serve", "--help"], { cwd: project });
    expect(help.stdout).toContain("--model");
  });

  test("holds the license, the docs the README links to, and the sources every source map names", () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining(["LICENSE", "README.md", "package.json", "require.cjs", "dist/index.js", "dist/index.d.ts"]),
    );
    expect(readFileSync(path.join(installed, "LICENSE"), "utf8")).toMatch(/^MIT License/);
    expect(readdirSync(path.join(installed, "docs")).sort()).toEqual(readdirSync(path.join(root, "docs")).sort());
    expect(packedFiles.filter((file) => /^(test|build|bench|examples)\//.test(file))).toEqual([]);
    const readme = readFileSync(path.join(installed, "README.md"), "utf8");
    const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#]+)/g)].map((match) => match[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect([link, packedFiles.includes(path.normalize(link))]).toEqual([link, true]);
    const maps = packedFiles.filter((file) => file.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(path.join(installed, map), "utf8")) as { sources: string[] };
      for (const source of sources) {
        const file = path.normalize(path.join(path.dirname(map), source));
        expect([map, file, packedFiles.includes(file)]).toEqual([map, file, true]);
      }
    }
  });
});
