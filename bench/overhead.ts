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
  // Alternate which goes first, so warm-up and drift favour neither.
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) await measureRaw(), await measureScope();
    else await measureScope(), await measureRaw();
  }
  await parent.dispose();
  await raw.dispose();
  const rawTokensPerSecond = median(rawRates);
  const scopeTokensPerSecond = median(scopeRates);
  return { threads, rawTokensPerSecond, scopeTokensPerSecond, ratio: scopeTokensPerSecond / rawTokensPerSecond };
}
