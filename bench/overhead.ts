import { LlamaLoad, LlamaParent } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, PROMPTS, RawNodeLlamaCpp, timed } from "./support.js";

export interface OverheadResult {
  threads: number;
  rawTokensPerSecond: number;
  scopeTokensPerSecond: number;
  ratio: number;
}

/** One scope through the worker ÷ raw LlamaCompletion on one sequence; rounds alternate, medians compared. */
export async function measureOverhead(modelPath: string, threads: number, rounds: number, maxTokens: number): Promise<OverheadResult> {
  const raw = await RawNodeLlamaCpp.load(modelPath, 1, threads);
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots: 1, threads })));
  await parent.init();
  const rawRates: number[] = [];
  const scopeRates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [rawTokens, rawMs] = await timed(() => raw.generate([PROMPTS[0]!], maxTokens));
    rawRates.push(rawTokens / (rawMs / 1000));
    const scope = parent.getScope();
    const [result, scopeMs] = await timed(() => scope.generate(PROMPTS[0]!, { maxTokens }));
    scopeRates.push(result.tokenCount / (scopeMs / 1000));
    await scope.dispose();
  }
  await parent.dispose();
  await raw.dispose();
  const rawTokensPerSecond = median(rawRates);
  const scopeTokensPerSecond = median(scopeRates);
  return { threads, rawTokensPerSecond, scopeTokensPerSecond, ratio: scopeTokensPerSecond / rawTokensPerSecond };
}
