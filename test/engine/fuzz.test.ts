// States are input an app stores and loads back: treat them as hostile. Structured mutations of a
// valid state (every field of the format and of llama.cpp's sequence state inside it, with the
// checksum recomputed as anyone can) are loaded in child processes with a memory cap, so a crash
// or a runaway allocation is counted instead of ending the test run.
import { expect, test } from "@jest/globals";
import { MUTATION_KINDS } from "../support/stateMutations.js";
import { runFixture } from "../support/runFixture.js";

const MUTATIONS = 520;
const BATCH = 130;
/** Room for node, the test model and its KV cache; far below what a forged cell count asks for. */
const MEMORY_LIMIT_MB = 2048;

interface Outcome {
  i: number;
  kind: string;
  outcome: string;
  bystanderUnchanged: boolean;
}

/** Runs mutations [0, MUTATIONS) in batches; a child that dies is counted and the run goes on after it. */
async function fuzz(keyed: boolean): Promise<{ outcomes: Outcome[]; deaths: string[] }> {
  const outcomes: Outcome[] = [];
  const deaths: string[] = [];
  let next = 0;
  while (next < MUTATIONS) {
    const to = Math.min(next + BATCH, MUTATIONS);
    const run = await runFixture("fuzzStates", {
      args: [String(next), String(to), ...(keyed ? ["keyed"] : [])],
      json: false,
      memoryLimitMb: MEMORY_LIMIT_MB,
      timeoutMs: 120_000,
    });
    const lines = run.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Outcome);
    outcomes.push(...lines);
    const last = lines.at(-1)?.i ?? next - 1;
    if (run.code !== 0 || run.signal !== null) {
      deaths.push(`mutation ${last + 1} (${MUTATION_KINDS[(last + 1) % MUTATION_KINDS.length]}): exit ${run.code}, signal ${run.signal}`);
      next = last + 2;
    } else next = to;
  }
  return { outcomes, deaths };
}

test(`${MUTATIONS} structured mutations of a valid state: no crash, no runaway memory, every refusal typed, a bystander untouched`, async () => {
  const { outcomes, deaths } = await fuzz(false);
  expect(deaths).toEqual([]);
  expect(outcomes).toHaveLength(MUTATIONS);
  const unexpected = outcomes.filter((o) => !["loaded", "StateFormatError", "StateMismatchError"].includes(o.outcome));
  expect(unexpected).toEqual([]);
  expect(outcomes.filter((o) => !o.bystanderUnchanged)).toEqual([]);
  // Every kind of mutation ran, and most were refused (a few are harmless by design: a swapped
  // pair of positions, a discarded sequence id, garbage values in the cache).
  expect(new Set(outcomes.map((o) => o.kind)).size).toBe(MUTATION_KINDS.length);
  expect(outcomes.filter((o) => o.outcome !== "loaded").length).toBeGreaterThan(MUTATIONS * 0.75);
}, 600_000);

test("with a stateKey, every mutation is refused before parsing", async () => {
  const { outcomes, deaths } = await fuzz(true);
  expect(deaths).toEqual([]);
  expect(outcomes).toHaveLength(MUTATIONS);
  expect(outcomes.filter((o) => o.outcome !== "StateFormatError")).toEqual([]);
  expect(outcomes.filter((o) => !o.bystanderUnchanged)).toEqual([]);
}, 600_000);
