// Every ```ts block of README.md and docs/*.md, run as a user would run it: its own process, the
// test model, exit code 0, and an exit on its own once it is done. npm test writes each block as a
// module (test/support/extractDocBlocks.mjs) before compiling the tests, so by now tsc has
// type-checked every block with the project's strict settings: a block that does not compile
// fails the build, one that crashes or hangs fails here.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { startRedisServer, type RedisServer } from "../support/redisServer.js";
import { runScript } from "../support/runFixture.js";
import { projectRoot } from "../support/testModel.js";

/** One entry of the extractor's `blocks.json`: where the block is, and the module it became. */
interface DocBlock {
  doc: string;
  /** The line of the block's opening fence in `doc`. */
  line: number;
  module: string;
  /** Whether it names the docs' Redis (`redis://127.0.0.1:6379`): it runs against the test's own. */
  redis: boolean;
}

const root = projectRoot();
const generated = path.join(root, "test", "docs", "generated");
// Generous: a block should take a few seconds, but README.md's first example lets replies run as
// long as the model likes, and the machine may be busy. Killed at this point = it did not exit.
const BLOCK_TIMEOUT_MS = 60_000;

const blocks = extractedBlocks();
let redis: RedisServer | undefined;

beforeAll(async () => {
  if (blocks.some((block) => block.redis)) redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

test("every ```ts block of README.md and docs/*.md is extracted, none skipped", () => {
  const fences = tsFences();
  expect(fences.length).toBeGreaterThan(0);
  expect(blocks.length).toBe(fences.length);
  expect(blocks.map(({ doc, line }) => `${doc}:${line}`)).toEqual(fences);
});

test.each(blocks.map((block) => [`${block.doc}:${block.line}`, block] as const))(
  "%s runs on the test model and exits on its own",
  async (where, block) => {
    // Source maps: a stack trace then names test/docs/generated/<module>.ts, whose line numbers are the doc's.
    const run = await runScript(path.join(root, "build", "test", "docs", "generated", `${block.module}.js`), {
      nodeArgs: ["--enable-source-maps"],
      json: false,
      captureStderr: true,
      timeoutMs: BLOCK_TIMEOUT_MS,
      ...(block.redis ? { env: { LLAMA_SCOPE_DOCS_REDIS: redis!.url } } : {}),
    });
    const outcome =
      run.signal !== null
        ? `killed after ${BLOCK_TIMEOUT_MS / 1000} s: it hung or left a handle open`
        : run.code !== 0
          ? `exited with code ${run.code}:\n${tail(run.stderr)}`
          : "ok";
    expect(`${where}: ${outcome}`).toBe(`${where}: ok`);
  },
  BLOCK_TIMEOUT_MS + 10_000,
);

function extractedBlocks(): DocBlock[] {
  const manifest = path.join(generated, "blocks.json");
  try {
    return JSON.parse(readFileSync(manifest, "utf8")) as DocBlock[];
  } catch (cause) {
    throw new Error(`Cannot read ${manifest}: npm test writes it (node test/support/extractDocBlocks.mjs) before compiling the tests.`, {
      cause,
    });
  }
}

/**
 * Every opening fence that looks like TypeScript, as `doc:line`. Counted here, apart from the
 * extractor and more loosely than it reads them, so a block it missed shows up as a difference.
 */
function tsFences(): string[] {
  const docs = [
    "README.md",
    ...readdirSync(path.join(root, "docs"))
      .filter((name) => name.endsWith(".md"))
      .sort()
      .map((name) => `docs/${name}`),
  ];
  return docs.flatMap((doc) =>
    readFileSync(path.join(root, doc), "utf8")
      .split("\n")
      .flatMap((line, i) => (/^\s*(```|~~~)\s*(ts|typescript|tsx|mts)\b/i.test(line) ? [`${doc}:${i + 1}`] : [])),
  );
}

/** The last lines of a block's stderr: the error and its stack, without llama.cpp's load chatter first. */
function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
