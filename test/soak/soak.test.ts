import path from "node:path";
import { expect, test } from "@jest/globals";
import { runScript } from "../support/runFixture.js";
import { projectRoot } from "../support/testModel.js";

/**
 * The soak (issue 18, `soak/`) for half a minute in each isolation, on the real model: random
 * prompts, aborted streams, forks, saved and revived states, disposals, several choices, embeddings,
 * tool round trips (on a second parent with a larger slot), context shifts and
 * spills to disk on 3 slots, checked against the library's invariants (see soak/main.ts). With a
 * process, the engine is also killed once. A fixed seed, so a failure here replays with the
 * command the soak prints first. The soak exits 1 on any violation and must exit on its own.
 */
const SOAK = path.join(projectRoot(), "build", "soak", "main.js");

/** The run's half minute, the model's load, the end-of-run checks and dispose, with room for a busy machine. */
const TIMEOUT_MS = 150_000;

test.each([
  { isolation: "thread", args: [] as string[] },
  { isolation: "process", args: ["--kill-engine", "1"] },
])(
  "soak, $isolation isolation, half a minute: no violation, and the process exits on its own",
  async ({ isolation, args }) => {
    const run = await runScript(SOAK, {
      args: ["--minutes", "0.5", "--isolation", isolation, "--seed", "18", ...args],
      json: false,
      captureStderr: true,
      timeoutMs: TIMEOUT_MS - 5_000,
    });
    const violations = run.stdout.split("\n").filter((line) => line.startsWith("VIOLATION"));
    const report = run.stdout.slice(run.stdout.lastIndexOf("llama-scope soak:"));
    // The table and the violations in the failure message: they say what broke and how to replay it.
    expect({ signal: run.signal, code: run.code, violations, stderr: run.stderr, report }).toEqual({
      signal: null,
      code: 0,
      violations: [],
      stderr: "",
      report: expect.stringContaining("no violations"),
    });
  },
  TIMEOUT_MS,
);
