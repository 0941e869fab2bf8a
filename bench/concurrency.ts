import { LlamaLoad, LlamaParent } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, pairedRatio, PROMPTS, RawNodeLlamaCpp, timed } from "./support.js";

export interface ConcurrencyResult {
  n: number;
  /** With lock-step batching (the default). */
  scopesTokensPerSecond: number;
  /** The same scopes on a parent loaded with `lockstep: false`. */
  freeRunningTokensPerSecond: number;
  rawBatchedTokensPerSecond: number;
  sequentialTokensPerSecond: number;
  vsRawBatched: number;
  vsSequential: number;
  /** Lock-step ÷ free-running scopes, paired per round. */
  vsFreeRunning: number;
  /** Raw batched ÷ raw one-after-another: the batching gain node-llama-cpp itself gets here, the ceiling for `vsSequential`. */
  rawBatchingGain: number;
  /** The lock-step parent's `lockstepMinBatch` (probed at its load): fewer generating slots take turns. */
  lockstepMinBatch: number | undefined;
}

/** Rounds of every engine generating on all its slots before anything is timed. */
const WARM_UP_ROUNDS = 6;

/**
 * Aggregate tokens/s of N scopes prompting at once, against raw node-llama-cpp with N sequences of
 * one context generating at once, against the same N scopes with lock-step batching off, and
 * against the same N conversations served one after another.
 */
export async function measureConcurrency(
  modelPath: string,
  threads: number,
  counts: number[],
  rounds: number,
  maxTokens: number,
): Promise<ConcurrencyResult[]> {
  const slots = Math.max(...counts);
  const raw = await RawNodeLlamaCpp.load(modelPath, slots, threads);
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots, threads })));
  const freeRunning = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots, threads, lockstep: false })));
  await Promise.all([parent.init(), freeRunning.init()]);
  // Untimed: the workers start with cold code while this thread, where raw runs, is warm from
  // the figures before (a raw N = 1 measured ~25 % faster after figure 1 than before it).
  for (let round = 0; round < WARM_UP_ROUNDS; round++) {
    const prompts = PROMPTS.slice(0, slots);
    await raw.generate(prompts, maxTokens);
    for (const on of [parent, freeRunning]) {
      const scopes = prompts.map(() => on.getScope());
      await Promise.all(scopes.map((scope, i) => scope.generate(prompts[i]!, { maxTokens })));
      await Promise.all(scopes.map((scope) => scope.dispose()));
    }
  }
  const results: ConcurrencyResult[] = [];
  for (const n of counts) {
    const prompts = PROMPTS.slice(0, n);
    const together: number[] = [];
    const free: number[] = [];
    const rawBatched: number[] = [];
    const oneByOne: number[] = [];
    const rawOneByOne: number[] = [];
    const atOnce = async (on: LlamaParent, rates: number[]) => {
      const scopes = prompts.map(() => on.getScope());
      const [replies, ms] = await timed(() => Promise.all(scopes.map((scope, i) => scope.generate(prompts[i]!, { maxTokens }))));
      rates.push(replies.reduce((sum, r) => sum + r.tokenCount, 0) / (ms / 1000));
      await Promise.all(scopes.map((scope) => scope.dispose()));
    };
    const measurements: Array<() => Promise<void>> = [
      async () => {
        const [tokens, ms] = await timed(() => raw.generate(prompts, maxTokens));
        rawBatched.push(tokens / (ms / 1000));
      },
      () => atOnce(parent, together),
      () => atOnce(freeRunning, free),
      async () => {
        const scopes = prompts.map(() => parent.getScope());
        const [tokens, ms] = await timed(async () => {
          let sum = 0;
          for (const [i, scope] of scopes.entries()) sum += (await scope.generate(prompts[i]!, { maxTokens })).tokenCount;
          return sum;
        });
        oneByOne.push(tokens / (ms / 1000));
        await Promise.all(scopes.map((scope) => scope.dispose()));
      },
      async () => {
        const [tokens, ms] = await timed(async () => {
          let sum = 0;
          for (const prompt of prompts) sum += await raw.generate([prompt], maxTokens);
          return sum;
        });
        rawOneByOne.push(tokens / (ms / 1000));
      },
    ];
    // Rotate which measurement goes first each round, so warm-up and drift favour none of them.
    for (let round = 0; round < rounds; round++)
      for (let i = 0; i < measurements.length; i++) await measurements[(round + i) % measurements.length]!();
    const scopesTokensPerSecond = median(together);
    const rawBatchedTokensPerSecond = median(rawBatched);
    const sequentialTokensPerSecond = median(oneByOne);
    results.push({
      n,
      scopesTokensPerSecond,
      freeRunningTokensPerSecond: median(free),
      rawBatchedTokensPerSecond,
      sequentialTokensPerSecond,
      vsRawBatched: pairedRatio(together, rawBatched),
      vsSequential: pairedRatio(together, oneByOne),
      vsFreeRunning: pairedRatio(together, free),
      rawBatchingGain: pairedRatio(rawBatched, rawOneByOne),
      lockstepMinBatch: parent.modelInfo?.lockstepMinBatch,
    });
  }
  await Promise.all([parent.dispose(), freeRunning.dispose()]);
  await raw.dispose();
  return results;
}
