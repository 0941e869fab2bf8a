// Writes every ```ts block of README.md and docs/*.md as its own module in test/docs/generated/,
// so `tsc -p tsconfig.dev.json` type-checks it with the project's strict settings and compiles it
// to build/, where test/docs/blocks.test.ts runs it against the test model. `npm test` runs this
// between building the library and building the tests.
//
// Each module keeps its doc's line numbers: line n of README-2.ts is line n of README.md, so a
// tsc error or a stack trace (node --enable-source-maps) points at the doc line. Line 1 holds
// the generated header, the lines up to the opening fence are blank.
//
// A block is written as the doc shows it, with one substitution (MODEL_PATH below). It imports
// from "llama-scope", which resolves to the built package (dist/) through the package.json
// "exports" of this very package (a self-reference, in Node and in TypeScript's NodeNext).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const outDir = path.join(root, "test", "docs", "generated");

/**
 * The only substitution. The docs write `"model.gguf"`, as a user would; the module loads the test
 * model instead (test/support/testModel.ts, which honours LLAMA_SCOPE_MODEL).
 *
 * Load options are run as written, defaults included, unlike the tests' `testLoadOptions`: on a
 * machine without a GPU, `gpu: "auto"` settles on the CPU prebuilt binary in about 0.3 s (the CUDA
 * and Vulkan ones are skipped), and the default thread count is what a user gets.
 */
const MODEL_PATH = {
  literal: /"model\.gguf"/g,
  expression: "testModelPath()",
  import: 'import { testModelPath } from "../../support/testModel.js";',
};

/**
 * A block that names the Redis of the docs' examples gets the test's own redis-server instead
 * (test/docs/blocks.test.ts starts one and passes its URL), as a block's model is the test model.
 */
const REDIS_URL = {
  literal: /"redis:\/\/127\.0\.0\.1:6379"/g,
  expression: "process.env.LLAMA_SCOPE_DOCS_REDIS!",
};

/** An opening fence this script runs. Anything else that looks like TypeScript is refused. */
const TS_FENCE = /^```ts$/;
const TS_LIKE_FENCE = /^\s*(```|~~~)\s*(ts|typescript|tsx|mts)\b/i;
const CLOSING_FENCE = /^```\s*$/;

/** README.md, then docs/*.md in name order: the docs a user reads. */
function docFiles() {
  const docs = readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

/** The ```ts blocks of one doc: `{ line, code }`, `line` being the opening fence's (1-based). */
function blocksOf(doc) {
  const lines = readFileSync(path.join(root, doc), "utf8").split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!TS_LIKE_FENCE.test(line)) continue;
    if (!TS_FENCE.test(line.trimEnd()))
      throw new Error(
        `${doc}:${i + 1}: write TypeScript blocks as a plain \`\`\`ts fence at the start of a line, so the tests run them (found "${line.trim()}").`,
      );
    const end = closingFence(lines, i, doc);
    blocks.push({ line: i + 1, code: lines.slice(i + 1, end) });
    i = end;
  }
  return blocks;
}

function closingFence(lines, open, doc) {
  for (let j = open + 1; j < lines.length; j++) if (CLOSING_FENCE.test(lines[j])) return j;
  throw new Error(`${doc}:${open + 1}: this code fence is never closed.`);
}

/** The module for one block: header on line 1, blank lines up to the fence, the code at its doc lines. */
function moduleSource(doc, block, index) {
  const code = block.code.map((line) =>
    line.replace(MODEL_PATH.literal, MODEL_PATH.expression).replace(REDIS_URL.literal, REDIS_URL.expression),
  );
  const substituted = block.code.some((line) => line.search(MODEL_PATH.literal) !== -1); // search() ignores the g flag's state
  const header =
    (substituted ? MODEL_PATH.import + " " : "") +
    `// Generated from ${doc}:${block.line} (\`\`\`ts block ${index}) by test/support/extractDocBlocks.mjs: edit the doc, not this file. Line numbers are the doc's.`;
  const padding = Array.from({ length: block.line - 1 }, () => "");
  return [header, ...padding, ...code, ""].join("\n");
}

/** `docs/api.md` → `docs-api`: one flat folder, names still saying where a block came from. */
function moduleStem(doc) {
  return doc.replace(/\.md$/, "").replaceAll("/", "-");
}

function main() {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const manifest = [];
  for (const doc of docFiles()) {
    blocksOf(doc).forEach((block, i) => {
      const module = `${moduleStem(doc)}-${i + 1}`;
      writeFileSync(path.join(outDir, `${module}.ts`), moduleSource(doc, block, i + 1));
      manifest.push({ doc, line: block.line, module, redis: block.code.some((line) => line.search(REDIS_URL.literal) !== -1) });
    });
  }
  // Read by the test at run time (not imported), so building the tests never depends on this folder.
  writeFileSync(path.join(outDir, "blocks.json"), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`extractDocBlocks: ${manifest.length} \`\`\`ts blocks → ${path.relative(root, outDir)}/`);
}

main();
