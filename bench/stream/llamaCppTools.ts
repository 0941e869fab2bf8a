// llama.cpp's own tools (llama-server, llama-bench, llama-batched-bench), built from the very
// llama.cpp source node-llama-cpp bundles, so that llama-scope is compared with llama.cpp as it is
// under it. Built once into .cache/llama.cpp/ (git-ignored) by the bench script that asks for
// them, offline: never at run time and never in `npm test`.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { projectRoot } from "../../test/support/testModel.js";

export interface LlamaCppTools {
  server: string;
  bench: string;
  batchedBench: string;
  /** The llama.cpp release node-llama-cpp bundles (its llama.cpp.info.json tag). */
  release: string;
  /**
   * Whose CPU kernels the tools run: node-llama-cpp's own prebuilt backends (the same binaries
   * llama-scope runs), or kernels compiled here when node-llama-cpp has no prebuilt ones.
   */
  kernels: "node-llama-cpp's prebuilt CPU backends" | "built here (-march=native)";
}

/** Why the tools are not there: a missing build tool, or a build that failed. */
export interface ToolsSkipped {
  skipped: string;
}

const TARGETS = ["llama-server", "llama-bench", "llama-batched-bench"] as const;

/**
 * The tools, built first when needed (a few minutes on 2 cores; the build's output goes to
 * `log`). Returns why not when cmake, a C++ compiler or git is missing, or the build fails.
 */
export function llamaCppTools(log: (line: string) => void = console.log): LlamaCppTools | ToolsSkipped {
  const nodeLlamaCpp = packageRoot(fileURLToPath(import.meta.resolve("node-llama-cpp")));
  const bundle = path.join(nodeLlamaCpp, "llama", "gitRelease.bundle");
  if (!existsSync(bundle)) return { skipped: `node-llama-cpp ships no llama.cpp source bundle at ${bundle}` };
  const { tag } = JSON.parse(readFileSync(path.join(nodeLlamaCpp, "llama", "llama.cpp.info.json"), "utf8")) as { tag: string };
  const prebuilt = prebuiltCpuBackends(nodeLlamaCpp);
  const kernels = prebuilt.length > 0 ? "node-llama-cpp's prebuilt CPU backends" : "built here (-march=native)";
  const root = path.join(projectRoot(), ".cache", "llama.cpp", tag);
  const bin = path.join(root, "build", "bin");
  const tools: LlamaCppTools = {
    server: path.join(bin, "llama-server"),
    bench: path.join(bin, "llama-bench"),
    batchedBench: path.join(bin, "llama-batched-bench"),
    release: tag,
    kernels,
  };
  const stamp = path.join(root, "built.json");
  if (existsSync(stamp) && [tools.server, tools.bench, tools.batchedBench].every((file) => existsSync(file))) return tools;

  for (const [command, why] of [
    ["cmake", "cmake"],
    ["c++", "a C++ compiler (c++)"],
    ["git", "git"],
  ] as const)
    if (spawnSync(command, ["--version"], { stdio: "ignore" }).status !== 0)
      return {
        skipped: `${why} is not installed; install it (Debian: cmake, g++, git) to build llama.cpp's tools from node-llama-cpp's bundle`,
      };

  log(`Building llama.cpp ${tag}'s ${TARGETS.join(", ")} from node-llama-cpp's bundle into ${root} (once; a few minutes)…`);
  const src = path.join(root, "src");
  mkdirSync(root, { recursive: true });
  const steps: Array<[string, string[]]> = [];
  if (!existsSync(path.join(src, "CMakeLists.txt"))) {
    rmSync(src, { recursive: true, force: true });
    steps.push(["git", ["clone", "--quiet", bundle, src]]);
  }
  steps.push(
    [
      "cmake",
      [
        "-S",
        src,
        "-B",
        path.join(root, "build"),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=ON",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        // With node-llama-cpp's CPU backends at hand, the tools load those (backends as
        // dynamic libraries, none built here): the same kernels on both sides of every ratio.
        ...(prebuilt.length > 0 ? ["-DGGML_BACKEND_DL=ON", "-DGGML_CPU=OFF", "-DGGML_NATIVE=OFF"] : ["-DGGML_NATIVE=ON"]),
      ],
    ],
    ["cmake", ["--build", path.join(root, "build"), "--parallel", "2", "--target", ...TARGETS]],
  );
  const output = path.join(root, "build.log");
  writeFileSync(output, "");
  for (const [command, args] of steps) {
    const run = spawnSync(command, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    writeFileSync(output, `$ ${command} ${args.join(" ")}\n${run.stdout}${run.stderr}\n`, { flag: "a" });
    if (run.status !== 0) return { skipped: `\`${command} ${args.slice(0, 2).join(" ")} …\` failed (exit ${run.status}); see ${output}` };
  }
  for (const file of prebuilt) copyFileSync(file, path.join(bin, path.basename(file)));
  writeFileSync(stamp, JSON.stringify({ tag, kernels, at: new Date().toISOString() }, null, 2));
  log(`Built into ${bin} (CPU kernels: ${kernels}).`);
  return tools;
}

/** The folder of the package whose entry point is `entry` (its package.json does not export itself). */
function packageRoot(entry: string): string {
  let dir = path.dirname(entry);
  while (!existsSync(path.join(dir, "package.json"))) dir = path.dirname(dir);
  return dir;
}

/** node-llama-cpp's prebuilt CPU backends for this platform (`libggml-cpu-<variant>.so`), if any. */
function prebuiltCpuBackends(nodeLlamaCpp: string): string[] {
  const scope = path.join(path.dirname(nodeLlamaCpp), "@node-llama-cpp", `${process.platform}-${process.arch}`, "bins");
  if (!existsSync(scope)) return [];
  return readdirSync(scope).flatMap((dir) =>
    readdirSync(path.join(scope, dir))
      .filter((name) => /^libggml-cpu.*\.so$/.test(name))
      .map((name) => path.join(scope, dir, name)),
  );
}
