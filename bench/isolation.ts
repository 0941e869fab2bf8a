import { LlamaLoad, LlamaParent, type Isolation, type SwapReport } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, pairedRatio, PROMPTS, timed } from "./support.js";

export interface IsolationResult {
  /** Aggregate tokens/s of N scopes at once, per isolation, and process ÷ thread (paired per round). */
  generation: { n: number; thread: number; process: number; ratio: number }[];
  /** Median freeze and restore times (from the parent's events) of a ~100-token scope, per isolation. */
  swap: Record<Isolation, { freezeMs: number; restoreMs: number }>;
}

/**
 * The cost of running the engine in a child process instead of a worker thread: the same scopes
 * on two parents, one of each isolation, in the same process, rounds alternating.
 */
export async function measureIsolation(
  modelPath: string,
  threads: number,
  counts: number[],
  rounds: number,
  maxTokens: number,
): Promise<IsolationResult> {
  const slots = Math.max(...counts);
  const parents = {} as Record<Isolation, LlamaParent>;
  for (const isolation of ["thread", "process"] as const) {
    parents[isolation] = new LlamaParent(new LlamaLoad({ ...testLoadOptions({ modelPath, slots, threads }), isolation, restart: false }));
    await parents[isolation].init();
  }
  try {
    const generation: IsolationResult["generation"] = [];
    for (const n of counts) {
      const rates: Record<Isolation, number[]> = { thread: [], process: [] };
      for (let round = 0; round < rounds; round++)
        for (const isolation of round % 2 === 0 ? (["thread", "process"] as const) : (["process", "thread"] as const)) {
          const scopes = PROMPTS.slice(0, n).map(() => parents[isolation].getScope());
          const [replies, ms] = await timed(() => Promise.all(scopes.map((scope, i) => scope.generate(PROMPTS[i]!, { maxTokens }))));
          rates[isolation].push(replies.reduce((sum, r) => sum + r.tokenCount, 0) / (ms / 1000));
          await Promise.all(scopes.map((scope) => scope.dispose()));
        }
      generation.push({ n, thread: median(rates.thread), process: median(rates.process), ratio: pairedRatio(rates.process, rates.thread) });
    }
    const swap = {} as IsolationResult["swap"];
    for (const isolation of ["thread", "process"] as const) swap[isolation] = await swapTimes(parents[isolation], slots, rounds);
    return { generation, swap };
  } finally {
    await Promise.all(Object.values(parents).map((parent) => parent.dispose()));
  }
}

/** One more scope than slots, prompted in turn: every turn freezes one scope and restores another. */
async function swapTimes(parent: LlamaParent, slots: number, rounds: number): Promise<{ freezeMs: number; restoreMs: number }> {
  const frozen: number[] = [];
  const restored: number[] = [];
  const onFrozen = (_: string, report: SwapReport) => frozen.push(report.ms);
  const onRestored = (_: string, report: SwapReport) => restored.push(report.ms);
  parent.on("scopeFrozen", onFrozen);
  parent.on("scopeRestored", onRestored);
  const scopes = Array.from({ length: slots + 1 }, () => parent.getScope());
  for (let round = 0; round < rounds; round++)
    for (const [i, scope] of scopes.entries())
      await scope.generate(round === 0 ? PROMPTS[i % PROMPTS.length]! : "\nThen", { maxTokens: 32 });
  await Promise.all(scopes.map((scope) => scope.dispose()));
  parent.off("scopeFrozen", onFrozen);
  parent.off("scopeRestored", onRestored);
  return { freezeMs: median(frozen), restoreMs: median(restored) };
}
