import { LlamaLoad, LlamaParent, type SwapReport } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, textOfTokens } from "./support.js";

export interface LongSwapResult {
  /** Tokens of each of the two conversations (about 2,000 where the model's context allows). */
  historyTokens: number;
  frozenBytes: number;
  /** Median freeze and restore times from the events, frozen bytes kept in memory. */
  ram: { freezeMs: number; restoreMs: number };
  /** The same with `swap: { maxRamBytes: 0 }`: every freeze spilled to the disk file. */
  disk: { freezeMs: number; restoreMs: number };
}

const SENTENCES = [
  "The bakery by the harbour opens at seven and closes at six, every day but Monday.",
  "Sourdough is baked twice a day, and the cinnamon rolls are ready at ten.",
  "On Sundays the queue reaches the corner before the doors open.",
];

/**
 * Two long conversations taking turns on one slot: each turn freezes the other one and restores
 * this one. What one swap of a ~2,000-token conversation costs (24 MB on the sized model), with
 * the bytes in memory and spilled to disk.
 */
export async function measureLongSwap(modelPath: string, threads: number, rounds: number, tokens = 2000): Promise<LongSwapResult> {
  const run = async (maxRamBytes: number | undefined) => {
    const swap = maxRamBytes === undefined ? {} : { maxRamBytes };
    const parent = new LlamaParent(new LlamaLoad({ ...testLoadOptions({ modelPath, slots: 1, threads }), swap }));
    const { contextSize } = await parent.init();
    const freezes: SwapReport[] = [];
    const restores: SwapReport[] = [];
    parent.on("scopeFrozen", (_, report) => freezes.push(report));
    parent.on("scopeRestored", (_, report) => restores.push(report));
    try {
      const prompt = await textOfTokens(modelPath, Math.min(tokens, contextSize - 64) - 8, SENTENCES);
      const scopes = [parent.getScope(), parent.getScope()];
      let historyTokens = 0;
      for (const scope of scopes) {
        // One long prompt (evaluated in batches) rather than a long reply: the same KV, far sooner.
        await scope.generate(prompt.text, { maxTokens: 4 });
        historyTokens = (await scope.tokenCount())!;
      }
      freezes.length = 0;
      restores.length = 0;
      for (let round = 0; round < rounds; round++) for (const scope of scopes) await scope.generate(" Yes.", { maxTokens: 2 });
      return {
        historyTokens,
        frozenBytes: median(freezes.map((f) => f.bytes)),
        freezeMs: median(freezes.map((f) => f.ms)),
        restoreMs: median(restores.map((r) => r.ms)),
      };
    } finally {
      await parent.dispose();
    }
  };
  const ram = await run(undefined);
  const disk = await run(0);
  return {
    historyTokens: ram.historyTokens,
    frozenBytes: ram.frozenBytes,
    ram: { freezeMs: ram.freezeMs, restoreMs: ram.restoreMs },
    disk: { freezeMs: disk.freezeMs, restoreMs: disk.restoreMs },
  };
}
