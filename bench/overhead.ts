import { Llama, LlamaLoad, LlamaParent } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { seededRandom } from "../test/support/randomText.js";
import { median, pairedRatio, PROMPTS, RawNodeLlamaCpp, shuffled, timed, warmUp } from "./support.js";

export interface OverheadResult {
  threads: number;
  rawTokensPerSecond: number;
  /** The direct engine in this thread: what the worker and the protocol add is scope ÷ engine. */
  engineTokensPerSecond: number;
  scopeTokensPerSecond: number;
  ratio: number;
  workerRatio: number;
}

/**
 * One scope through the worker ÷ raw LlamaCompletion on one sequence, and ÷ the direct engine in
 * this thread. Every way is warmed up first unless `warm` is false (see `WARM_UP_TOKENS`), then each
 * round runs every way once in a seeded shuffled order; ratios are medians of per-round pairs.
 */
export async function measureOverhead(
  modelPath: string,
  threads: number,
  rounds: number,
  maxTokens: number,
  { warm = true }: { warm?: boolean } = {},
): Promise<OverheadResult> {
  const raw = await RawNodeLlamaCpp.load(modelPath, 1, threads);
  const engine = await Llama.load(testLoadOptions({ modelPath, slots: 1, threads }));
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots: 1, threads })));
  await parent.init();
  const rawRates: number[] = [];
  const engineRates: number[] = [];
  const scopeRates: number[] = [];
  /** Each way generates one reply and returns how many tokens it generated, and at what rate. */
  const rawWay = async () => {
    const [tokens, ms] = await timed(() => raw.generate([PROMPTS[0]!], maxTokens));
    return { tokens, rate: tokens / (ms / 1000) };
  };
  const scopeWay = async () => {
    const scope = parent.getScope();
    const [result, ms] = await timed(() => scope.generate(PROMPTS[0]!, { maxTokens }));
    await scope.dispose();
    return { tokens: result.tokenCount, rate: result.tokenCount / (ms / 1000) };
  };
  const engineWay = async () => {
    engine.createSlot("bench");
    engine.setSlot("bench");
    engine.setPrompt(PROMPTS[0]!);
    const [result, ms] = await timed(() => engine.generate({ maxTokens }));
    await engine.freeSlot("bench");
    return { tokens: result.tokenCount, rate: result.tokenCount / (ms / 1000) };
  };
  const ways = [
    { run: rawWay, rates: rawRates },
    { run: engineWay, rates: engineRates },
    { run: scopeWay, rates: scopeRates },
  ];
  if (warm) for (const way of ways) await warmUp(async () => (await way.run()).tokens);
  const random = seededRandom(1);
  for (let round = 0; round < rounds; round++) for (const way of shuffled(ways, random)) way.rates.push((await way.run()).rate);
  await parent.dispose();
  await engine.dispose();
  await raw.dispose();
  const rawTokensPerSecond = median(rawRates);
  const engineTokensPerSecond = median(engineRates);
  const scopeTokensPerSecond = median(scopeRates);
  return {
    threads,
    rawTokensPerSecond,
    engineTokensPerSecond,
    scopeTokensPerSecond,
    ratio: pairedRatio(scopeRates, rawRates),
    workerRatio: pairedRatio(scopeRates, engineRates),
  };
}
