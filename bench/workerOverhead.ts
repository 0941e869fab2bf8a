// Tokens/s of one scope through the worker next to the engine alone, same model, threads and
// prompt, in one process and one run (alternating, median of the rounds).
// Run: npm run build:dev && node build/bench/workerOverhead.js
import { Llama, LlamaLoad, LlamaParent } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";

const ROUNDS = 7;
const PROMPT = "Once upon a time";
const MAX_TOKENS = 256;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const options = testLoadOptions({ slots: 1 });
const llama = await Llama.load(options);
const initStart = performance.now();
const parent = new LlamaParent(new LlamaLoad(options));
await parent.init();
const initMs = performance.now() - initStart;

const engineRates: number[] = [];
const workerRates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  llama.createSlot("bench");
  llama.setSlot("bench");
  llama.setPrompt(PROMPT);
  let start = performance.now();
  const result = await llama.generate({ maxTokens: MAX_TOKENS });
  engineRates.push(result.tokenCount / ((performance.now() - start) / 1000));
  await llama.freeSlot("bench");

  const scope = parent.getScope();
  start = performance.now();
  const text = await scope.sendPrompt(PROMPT, { maxTokens: MAX_TOKENS });
  workerRates.push(result.tokenCount / ((performance.now() - start) / 1000));
  if (text !== result.text) throw new Error("the worker's reply differs from the engine's");
  await scope.dispose();
}
await parent.dispose();
await llama.dispose();

const engine = median(engineRates);
const worker = median(workerRates);
console.log(`init() to ready: ${initMs.toFixed(0)} ms`);
console.log(`engine alone:   ${engine.toFixed(0)} tokens/s (median of ${ROUNDS}, ${MAX_TOKENS} tokens, threads ${options.threads})`);
console.log(`scope (worker): ${worker.toFixed(0)} tokens/s`);
console.log(`ratio worker/engine: ${(worker / engine).toFixed(3)}`);
