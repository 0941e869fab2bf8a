import { Llama, LlamaLoad, LlamaParent } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, pairedRatio, PROMPTS, RawNodeLlamaCpp, timed } from "./support.js";

export interface OverheadResult {
  threads: number;
  rawTokensPerSecond: number;
  /** The direct engine in this thread: what the worker and the protocol add is scope ÷ engine. */
  engineTokensPerSecond: number;
  scopeTokensPerSecond: number;
  ratio: number;
  workerRatio: number;
}

/** One scope through the worker ÷ raw LlamaCompletion on one sequence; rounds alternate, medians compared. */
export async function measureOverhead(modelPath: string, threads: number, rounds: number, maxTokens: number): Promise<OverheadResult> {
  const raw = await RawNodeLlamaCpp.load(modelPath, 1, threads);
  const engine = await Llama.load(testLoadOptions({ modelPath, slots: 1, threads }));
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots: 1, threads })));
  await parent.init();
  const rawRates: number[] = [];
  const engineRates: number[] = [];
  const scopeRates: number[] = [];
  const measureRaw = async () => {
    const [tokens, ms] = await timed(() => raw.generate([PROMPTS[0]!], maxTokens));
    rawRates.push(tokens / (ms / 1000));
  };
  const measureScope = async () => {
    const scope = parent.getScope();
    const [result, ms] = await timed(() => scope.generate(PROMPTS[0]!, { maxTokens }));
    scopeRates.push(result.tokenCount / (ms / 1000));
    await scope.dispose();
  };
  const measureEngine = async () => {
    engine.createSlot("bench");
    engine.setSlot("bench");
    engine.setPrompt(PROMPTS[0]!);
    const [result, ms] = await timed(() => engine.generate({ maxTokens }));
    engineRates.push(result.tokenCount / (ms / 1000));
    await engine.freeSlot("bench");
  };
  const measurements = [measureRaw, measureEngine, measureScope];
  // Rotate which goes first each round, so warm-up and drift favour none.
  for (let round = 0; round < rounds; round++)
    for (let i = 0; i < measurements.length; i++) await measurements[(round + i) % measurements.length]!();
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
