// One stream against llama.cpp's own server: `npm run bench:stream` (the sized model unless another
// is named, as for `npm run bench`). Builds llama.cpp's tools from node-llama-cpp's bundled source
// into .cache/ the first time (cmake and a C++ compiler needed; without them the llama.cpp figures
// are skipped with a message), then profiles a token and measures one stream many ways (measureStream.ts).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../test/support/testModel.js";
import { benchModel } from "../benchModel.js";
import { median } from "../support.js";
import { llamaCppTools } from "./llamaCppTools.js";
import { measureStream } from "./measureStream.js";
import { nativeRates } from "./nativeBench.js";
import { profileStream } from "./profileStream.js";

const args = process.argv.slice(2);
const model = args.length === 0 && (process.env.LLAMA_SCOPE_BENCH_MODEL ?? "") === "" ? benchModel(["--model", "sized"]) : benchModel(args);
// The issue's setup: one thread (the machine's default), 48 greedy tokens, the same short prompt.
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const MAX_TOKENS = Number(process.env.BENCH_TOKENS ?? 48);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25);
const PROMPT = "Once upon a time";
const f = (value: number | undefined, digits = 1) => (value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits));

console.log(
  `One stream on ${path.basename(model.path)} (${model.source}): threads ${THREADS}, ${MAX_TOKENS} greedy tokens, ${ROUNDS} rounds of one request per way in each phase\n`,
);
const built = llamaCppTools();
const tools = "skipped" in built ? undefined : built;
if ("skipped" in built) console.log(`llama.cpp's tools: skipped (${built.skipped}); the llama-server figures are left out.\n`);
if (tools !== undefined) console.log(`llama.cpp ${tools.release}'s tools from node-llama-cpp's bundle; CPU kernels: ${tools.kernels}\n`);

// Profiled first, before any worker thread exists: a worker's backend, once disposed, leaves
// llama.cpp logging on its own, and the profile reads llama.cpp's timings from node-llama-cpp's log.
const profiles = await profileStream(model.path, THREADS, PROMPT, MAX_TOKENS, 5);
const stream = await measureStream(
  { modelPath: model.path, threads: THREADS, maxTokens: MAX_TOKENS, prompt: PROMPT, rounds: ROUNDS, contextSize: 2048 },
  tools,
);
console.log("1. One stream, tokens/s (generated tokens ÷ the whole request's time), median of the rounds");
for (const [name, rate] of Object.entries(stream.rates))
  console.log(
    `   ${name.padEnd(24)} ${f(rate.median).padStart(7)} tok/s   ${stream.tokens[name]} tokens, ${f(median(stream.requestMs[name]!), 2)} ms per request`,
  );
if (stream.llamaServerLoopTokensPerSecond !== undefined)
  console.log(`   llama-server's own decode loop (timings.predicted_per_second): ${f(stream.llamaServerLoopTokensPerSecond)} tok/s`);
if (stream.differentText.length > 0) console.log(`   replies differing from the scope's: ${stream.differentText.join(", ")}`);
console.log("\n   ratios (medians of per-round paired ratios)");
for (const [name, value] of Object.entries(stream.ratios)) console.log(`   ${name.padEnd(40)} ${f(value, 3)}`);
console.log(
  `\n   a request through serve costs ${f(stream.serveCostMs, 2)} ms more than the same scope call in process (streamed: ${f(stream.serveStreamedCostMs, 2)} ms; a 1-token request: ${f(stream.serveOneTokenCostMs, 2)} ms on the same parent, ${f(stream.serveProcessOneTokenCostMs, 2)} ms through the serve process)`,
);
console.log(
  `   HTTP alone (GET /health, Node's http client, kept-alive connection): ${Object.entries(stream.healthMs)
    .map(([name, ms]) => `${name} ${f(ms, 2)} ms`)
    .join(", ")}`,
);

const native = tools === undefined ? undefined : nativeRates(tools, model.path, THREADS, MAX_TOKENS, 8);
if (native !== undefined)
  console.log(
    `\n2. llama.cpp alone: llama-bench tg${MAX_TOKENS} ${f(native.benchTg)} tok/s (decode only), llama-batched-bench 1 sequence ${f(native.batchedTg)} tok/s`,
  );

console.log(`\n3. Where a token's time goes (${MAX_TOKENS} tokens, the median of 5 runs; ms per token)`);
console.log(
  "   path                         | per token | decode call | llama.cpp eval | sample call | decode → next decode | of it JavaScript",
);
for (const p of profiles)
  console.log(
    `   ${p.name.padEnd(28)} | ${f(p.perTokenMs, 3)}     | ${f(p.decodeCallMs, 3)}       | ${p.nativeEvalMs === undefined ? "–    " : f(p.nativeEvalMs, 3)}          | ${f(p.sampleCallMs, 3)}       | ${f(p.gapMs, 3)}                | ${f(p.javascriptMs, 3)}`,
  );
if (native !== undefined) console.log(`   llama-bench                  | ${f(1000 / native.benchTg, 3)}     (decode only)`);

const scopeRatio = stream.ratios["scope ÷ raw node-llama-cpp"]!;
const serveRatio = stream.ratios["serve ÷ llama-server"]!;
const serveVsScope = stream.ratios["serve ÷ scope (phase 2)"]!;
const budgets = [
  { name: "one scope in process ≥ 0.98× raw node-llama-cpp", value: scopeRatio, ok: scopeRatio >= 0.98 },
  { name: "a request through serve ≤ 2 ms more than the scope call in process", value: stream.serveCostMs, ok: stream.serveCostMs <= 2 },
  {
    name: "a 1-token request through serve ≤ 2 ms more than the scope call in process",
    value: stream.serveOneTokenCostMs,
    ok: stream.serveOneTokenCostMs <= 2,
  },
  ...(tools === undefined ? [] : [{ name: "one stream through serve ≥ 0.95× llama-server", value: serveRatio, ok: serveRatio >= 0.95 }]),
  // What llama-scope itself costs one stream (the rest is node-llama-cpp's: section 3).
  { name: "one stream through serve ≥ 0.98× the scope in process", value: serveVsScope, ok: serveVsScope >= 0.98 },
];
console.log("\nBudgets");
for (const b of budgets) console.log(`   ${b.ok ? "met   " : "MISSED"} ${b.name}: ${f(b.value, 3)}`);

const out = path.join(projectRoot(), "bench", "results");
mkdirSync(out, { recursive: true });
const results = {
  date: new Date().toISOString(),
  model: path.basename(model.path),
  threads: THREADS,
  tokens: MAX_TOKENS,
  rounds: ROUNDS,
  tools,
  stream,
  native,
  profiles,
  budgets,
};
writeFileSync(path.join(out, "stream.json"), JSON.stringify(results, null, 2) + "\n");
console.log("\nWrote bench/results/stream.json");
if (budgets.some((b) => !b.ok)) process.exitCode = 1;
