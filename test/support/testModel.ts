import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LlamaLoadOptions } from "../../src/index.js";

/**
 * The one place tests, benchmarks and the demo find their models.
 *
 * `LLAMA_SCOPE_MODEL` (and `LLAMA_SCOPE_OTHER_MODEL` for the "different model" checks) override
 * the defaults in `../shared/models/`. A missing model is an error with directions, never a skip.
 */
export function testModelPath(): string {
  return findModel("LLAMA_SCOPE_MODEL", "stories260K.gguf");
}

/** A second model with other weights and shapes, for "state from another model" checks. */
export function otherModelPath(): string {
  return findModel("LLAMA_SCOPE_OTHER_MODEL", "llama-2-tiny-random.gguf");
}

/** Settings that are fast and deterministic on a small CPU-only machine. */
export function testLoadOptions(overrides: Partial<LlamaLoadOptions> = {}): LlamaLoadOptions {
  return { modelPath: testModelPath(), gpu: false, build: "never", logLevel: "error", threads: 1, ...overrides };
}

export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "llama-scope") return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("Cannot find the llama-scope project root above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

function findModel(variable: string, fileName: string): string {
  const fromEnv = process.env[variable];
  const modelPath = fromEnv ?? path.resolve(projectRoot(), "..", "shared", "models", fileName);
  if (!existsSync(modelPath))
    throw new Error(
      `Test model not found at ${modelPath}` +
        (fromEnv
          ? ` (from ${variable}).`
          : `. Put ${fileName} in ../shared/models/ beside the project, or set ${variable} to a GGUF file.`) +
        ` ${fileName === "stories260K.gguf" ? "stories260K.gguf is ggml-org/models tinyllamas/stories260K.gguf on Hugging Face." : "llama-2-tiny-random.gguf is aladar/llama-2-tiny-random-GGUF on Hugging Face."}`,
    );
  return modelPath;
}
