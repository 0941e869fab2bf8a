// The benchmark suite: `npm run bench` on the test model (LLAMA_SCOPE_MODEL), or
// `npm run bench -- --model sized` (see benchModel.ts for every way to pick the model).
// Every figure is taken in the same run as its reference, repeated, and reported as a median.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { defaultThreads } from "../src/index.js";
import { projectRoot } from "../test/support/testModel.js";
import { benchModel } from "./benchModel.js";
import { measureConcurrency } from "./concurrency.js";
import { measureFreeze } from "./freeze.js";
import { measureIsolation } from "./isolation.js";
import { measureLongSwap } from "./longSwap.js";
import { measureOverhead } from "./overhead.js";
import { measurePrefix } from "./prefix.js";
import { printPrefix } from "./printPrefix.js";
import { measureShift } from "./shift.js";
import { measureStartup } from "./startup.js";
import { measureSwapping } from "./swapping.js";
import { measureSwitching } from "./switching.js";

const model = benchModel();
const modelPath = model.path;
const threads = defaultThreads();
// The sized model decodes ~10× slower: 3 rounds keep its whole run under 15 minutes on 2 cores.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (model.sized ? 3 : 9));
const MAX_TOKENS = 256;
const PROMPT_LABEL = "16-token";
const f = (value: number, digits = 0) => value.toFixed(digits);

console.log(
  `llama-scope benchmarks on ${path.basename(modelPath)} (${model.source}), default threads ${threads}, ${ROUNDS} rounds each (rates: medians; ratios: medians of per-round paired ratios)\n`,
);

// Other thread counts run last: a multi-threaded run can leave llama.cpp threads spinning on this
// small machine and slow whatever is measured next.
const overhead = [await measureOverhead(modelPath, threads, ROUNDS, MAX_TOKENS)];
console.log("1. Overhead: one scope through the worker ÷ raw LlamaCompletion on one sequence");
const printOverhead = (o: (typeof overhead)[number]) =>
  console.log(
    `   threads ${o.threads}: raw ${f(o.rawTokensPerSecond)} tok/s, engine ${f(o.engineTokensPerSecond)} tok/s, scope ${f(o.scopeTokensPerSecond)} tok/s; ` +
      `scope ÷ raw ${f(o.ratio, 3)}, scope ÷ engine ${f(o.workerRatio, 3)}`,
  );
printOverhead(overhead[0]!);

const concurrency = await measureConcurrency(modelPath, threads, [1, 2, 4, 8], ROUNDS, MAX_TOKENS / 2);
console.log(
  `\n2. Concurrency: aggregate tok/s of N scopes at once (lock-step batching, one batch from ${concurrency[0]!.lockstepMinBatch} generating slots as probed at load, turns below; free-running: lockstep: false)`,
);
console.log(
  "   N | scopes | free-running | raw batched | sequential | ÷ free-running | ÷ raw batched | ÷ sequential | raw's own batched ÷ sequential",
);
for (const c of concurrency)
  console.log(
    `   ${c.n} | ${f(c.scopesTokensPerSecond)} | ${f(c.freeRunningTokensPerSecond)} | ${f(c.rawBatchedTokensPerSecond)} | ${f(c.sequentialTokensPerSecond)} | ` +
      `${f(c.vsFreeRunning, 3)} | ${f(c.vsRawBatched, 3)} | ${f(c.vsSequential, 3)} | ${f(c.rawBatchingGain, 3)}`,
  );

const switching = await measureSwitching(modelPath, threads, Math.max(ROUNDS * 4, 20));
console.log("\n3. Switching: time to first token");
console.log(
  `   same scope again ${f(switching.sameScopeFirstTokenMs, 3)} ms, other scope ${f(switching.otherScopeFirstTokenMs, 3)} ms, difference ${f(switching.switchCostMs, 3)} ms`,
);

// At real sizes conversations are long: the sized model also freezes a 2,000-token one (24 MB).
const freeze = [];
for (const tokens of model.sized ? [256, 1000, 2000] : [256, 1000]) freeze.push(await measureFreeze(modelPath, threads, tokens, ROUNDS));
console.log("\n4. Freeze/restore versus re-evaluating the history from text");
for (const r of freeze)
  console.log(
    `   ${r.historyTokens} tokens: ${r.stateBytes} B (${f(r.bytesPerToken)} B/token), save ${f(r.saveMs, 2)} ms, load ${f(r.loadMs, 2)} ms, re-evaluate ${f(r.reevaluateMs, 2)} ms → restore ${f(r.restoreSpeedup, 1)}× faster`,
  );

const startup = await measureStartup(modelPath, threads, Math.min(ROUNDS, 3));
console.log("\n5. Startup and shutdown (fresh process each)");
console.log(
  `   init() to ready ${f(startup.initMs)} ms (model load in the worker ${f(startup.workerModelLoadMs)} ms); dispose() ${f(startup.disposeMs)} ms; dispose() to process exit ${f(startup.disposeToExitMs)} ms`,
);

const swapping = await measureSwapping(modelPath, threads, 12, 2, ROUNDS, 64);
console.log(
  `\n6. Automatic swapping: ${swapping.scopes} scopes × ${swapping.turns} turns at once, ${swapping.fewSlots} slots versus ${swapping.scopes}`,
);
console.log(
  `   ${swapping.scopes} slots ${f(swapping.allSlotsTokensPerSecond)} tok/s, ${swapping.fewSlots} slots ${f(swapping.fewSlotsTokensPerSecond)} tok/s → ${f(swapping.ratio, 3)}×; ` +
    `per round ${f(swapping.freezesPerRound, 1)} freezes, ${f(swapping.restoresPerRound, 1)} restores`,
);
console.log(
  `   one freeze ${f(swapping.freezeMs, 2)} ms, one restore ${f(swapping.restoreMs, 2)} ms (medians, as reported by the events); frozen scope ${swapping.frozenBytes} B, ${f(swapping.bytesPerToken)} B/token of KV`,
);
console.log(
  `   every freeze on disk (maxRamBytes 0): ${swapping.fewSlots} slots ${f(swapping.onDisk.tokensPerSecond)} tok/s → ${f(swapping.onDisk.ratio, 3)}×; ` +
    `one freeze ${f(swapping.onDisk.freezeMs, 2)} ms, one restore ${f(swapping.onDisk.restoreMs, 2)} ms`,
);

const longSwap = await measureLongSwap(modelPath, threads, ROUNDS);
console.log(`   two ${longSwap.historyTokens}-token conversations taking turns on one slot (${longSwap.frozenBytes} B frozen):`);
console.log(
  `   in memory: freeze ${f(longSwap.ram.freezeMs, 2)} ms, restore ${f(longSwap.ram.restoreMs, 2)} ms; spilled to disk: freeze ${f(longSwap.disk.freezeMs, 2)} ms, restore ${f(longSwap.disk.restoreMs, 2)} ms`,
);

const shift = await measureShift(modelPath, threads, ROUNDS);
console.log(
  `\n7. Context shift: a ${PROMPT_LABEL} prompt on a full ${shift.contextSize}-token slot (${shift.historyTokens} tokens of history)`,
);
console.log(
  `   with a shift (${f(shift.erasedTokens)} tokens erased) ${f(shift.withShiftMs, 2)} ms, cut at the end instead ${f(shift.withoutShiftMs, 2)} ms → ${f(shift.shiftMs, 2)} ms per shift`,
);
console.log(
  `   chat: ${shift.chat.turns} turns, ${shift.chat.shifts} shifts, ${f(shift.chat.planMs, 2)} ms to plan one (median), ${shift.chat.reEvaluatedTokens} tokens re-evaluated by turns`,
);

const isolation = await measureIsolation(modelPath, threads, [1, 8], ROUNDS, MAX_TOKENS / 2);
console.log("\n8. Isolation: the engine in a child process ÷ in a worker thread (aggregate tok/s of N scopes at once)");
for (const g of isolation.generation)
  console.log(`   N = ${g.n}: thread ${f(g.thread)} tok/s, process ${f(g.process)} tok/s → ${f(g.ratio, 3)}`);
console.log(
  `   freeze ${f(isolation.swap.thread.freezeMs, 2)} ms (thread), ${f(isolation.swap.process.freezeMs, 2)} ms (process); ` +
    `restore ${f(isolation.swap.thread.restoreMs, 2)} ms (thread), ${f(isolation.swap.process.restoreMs, 2)} ms (process)`,
);

console.log("");
const prefix = await measurePrefix(modelPath, threads, ROUNDS);
printPrefix(prefix);

console.log("\n10. Threads (the default is chosen from the machine: half the cores, at least 1)");
printOverhead(overhead[0]!);
for (const count of [1, 2].filter((count) => count !== threads)) {
  // Not warmed up: the sweep shows an order of magnitude (2 threads run ~25× slower here), and
  // 2,048 tokens per way at that rate would take minutes.
  const result = await measureOverhead(modelPath, count, ROUNDS, MAX_TOKENS, { warm: false });
  overhead.push(result);
  printOverhead(result);
}

const one = concurrency.find((c) => c.n === 1)!;
const eight = concurrency.find((c) => c.n === 8)!;
const longest = freeze.at(-1)!;
const defaultOverhead = overhead.find((o) => o.threads === threads)!;
// Lock-step's goals (issue 12): 1.7× raw batched where weight passes dominate (the sized model),
// 1.1× on stories260K, where a step is mostly JavaScript and hand-offs. Batching 8 gains 1.3× over
// serving one after another where the engine underneath gains anything (raw's own gain is the
// ceiling); where raw's batches lose (the sized model: raw's gain ~0.65), not losing is the goal.
const lockstepGoal = model.sized ? 1.7 : 1.1;
const sequentialGoal = eight.rawBatchingGain >= 1 ? 1.3 : 1;
const budgets = [
  { name: "overhead ratio ≥ 0.95", value: defaultOverhead.ratio, ok: defaultOverhead.ratio >= 0.95 },
  { name: `N = 8 ≥ ${lockstepGoal}× raw batched (lock-step)`, value: eight.vsRawBatched, ok: eight.vsRawBatched >= lockstepGoal },
  { name: "N = 1 lock-step ≥ 0.95× free-running", value: one.vsFreeRunning, ok: one.vsFreeRunning >= 0.95 },
  {
    name: `N = 8 ≥ ${sequentialGoal}× sequential (raw node-llama-cpp's own gain this run: ${f(eight.rawBatchingGain, 3)})`,
    value: eight.vsSequential,
    ok: eight.vsSequential >= sequentialGoal,
  },
  { name: "switching adds < 1 ms to first token", value: switching.switchCostMs, ok: switching.switchCostMs < 1 },
  { name: "process ÷ thread isolation ≥ 0.95 (N = 1)", value: isolation.generation[0]!.ratio, ok: isolation.generation[0]!.ratio >= 0.95 },
  {
    name: "restore of 1,000+ tokens ≥ 5× faster than re-evaluation",
    value: longest.restoreSpeedup,
    ok: longest.historyTokens >= 1000 && longest.restoreSpeedup >= 5,
  },
  {
    name: "shared prefix: replies identical with and without the cache (1 = yes)",
    value: prefix.identicalReplies ? 1 : 0,
    ok: prefix.identicalReplies,
  },
  // Issue 13's goal, set for a model where evaluating the prefix dominates (the sized model).
  ...(model.sized
    ? [{ name: "shared prefix: scopes 2–8 reach their first token ≥ 20× sooner than scope 1", value: prefix.ratio, ok: prefix.ratio >= 20 }]
    : []),
];
console.log("\nBudgets");
for (const b of budgets) console.log(`   ${b.ok ? "met   " : "MISSED"} ${b.name}: ${f(b.value, 3)}`);

const results = {
  date: new Date().toISOString(),
  model: path.basename(modelPath),
  threads,
  rounds: ROUNDS,
  overhead,
  concurrency,
  switching,
  freeze,
  startup,
  swapping,
  longSwap,
  shift,
  isolation,
  prefix,
  budgets,
};
const out = path.join(projectRoot(), "bench", "results");
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, "latest.json"), JSON.stringify(results, null, 2) + "\n");
console.log(`\nWrote bench/results/latest.json`);
if (budgets.some((b) => !b.ok)) process.exitCode = 1;
