import { LlamaLoad, LlamaParent, type SwapReport } from "../src/index.js";
import { decodeState } from "../src/state/StateFormat.js";
import { manyConversations } from "../test/support/conversations.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, pairedRatio, timed } from "./support.js";

export interface SwappingResult {
  scopes: number;
  turns: number;
  fewSlots: number;
  /** Aggregate tok/s of every scope running its turns at once, with a slot each. */
  allSlotsTokensPerSecond: number;
  /** The same work on `fewSlots` slots: idle scopes frozen and restored as they take turns. */
  fewSlotsTokensPerSecond: number;
  ratio: number;
  /** Per round on `fewSlots`: freezes and restores. */
  freezesPerRound: number;
  restoresPerRound: number;
  freezeMs: number;
  restoreMs: number;
  /** Median size of a frozen scope, and its bytes per token of history. */
  frozenBytes: number;
  bytesPerToken: number;
  /** The `fewSlots` run again with `swap: { maxRamBytes: 0 }`: every freeze written to a file. */
  onDisk: { tokensPerSecond: number; ratio: number; freezeMs: number; restoreMs: number };
}

/**
 * `scopes` conversations of `turns` turns, all at once, on a parent with a slot for each and on
 * one with `fewSlots` (frozen bytes in memory, then on disk): what automatic swapping costs in
 * throughput, and what one swap costs.
 */
export async function measureSwapping(
  modelPath: string,
  threads: number,
  scopes: number,
  fewSlots: number,
  rounds: number,
  maxTokens: number,
): Promise<SwappingResult> {
  const conversations = manyConversations(scopes);
  const turns = conversations[0]!.turns.length;
  const start = async (slots: number, maxRamBytes?: number) => {
    const swap = maxRamBytes === undefined ? {} : { maxRamBytes };
    const parent = new LlamaParent(new LlamaLoad({ ...testLoadOptions({ modelPath, slots, threads }), swap }));
    await parent.init();
    const freezes: SwapReport[] = [];
    const restores: SwapReport[] = [];
    parent.on("scopeFrozen", (_, report) => freezes.push(report));
    parent.on("scopeRestored", (_, report) => restores.push(report));
    return { parent, freezes, restores };
  };
  const roomy = await start(scopes);
  const tight = await start(fewSlots);
  const spilling = await start(fewSlots, 0);

  const bytesPerToken: number[] = [];
  const run = async ({ parent }: { parent: LlamaParent }): Promise<number> => {
    const handles = conversations.map(() => parent.getScope());
    const [tokens, ms] = await timed(async () => {
      const counts = await Promise.all(
        conversations.map(async (conversation, i) => {
          let sum = 0;
          for (const turn of conversation.turns) sum += (await handles[i]!.generate(turn, { maxTokens, temperature: 0 })).tokenCount;
          return sum;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    });
    if (parent === tight.parent)
      for (const scope of handles) {
        const state = decodeState(await scope.saveState());
        bytesPerToken.push(state.kv.byteLength / (state.tokens.length + state.pending.length));
      }
    await Promise.all(handles.map((scope) => scope.dispose()));
    return tokens / (ms / 1000);
  };

  const rates = new Map([roomy, tight, spilling].map((setup) => [setup, [] as number[]]));
  const setups = [...rates.keys()];
  // Rotate which goes first each round, so warm-up and drift favour none.
  for (let round = 0; round < rounds; round++)
    for (let i = 0; i < setups.length; i++) {
      const setup = setups[(round + i) % setups.length]!;
      rates.get(setup)!.push(await run(setup));
    }
  await Promise.all(setups.map(({ parent }) => parent.dispose()));
  const all = rates.get(roomy)!;
  const few = rates.get(tight)!;
  return {
    scopes,
    turns,
    fewSlots,
    allSlotsTokensPerSecond: median(all),
    fewSlotsTokensPerSecond: median(few),
    ratio: pairedRatio(few, all),
    freezesPerRound: tight.freezes.length / rounds,
    restoresPerRound: tight.restores.length / rounds,
    freezeMs: median(tight.freezes.map((r) => r.ms)),
    restoreMs: median(tight.restores.map((r) => r.ms)),
    frozenBytes: median(tight.freezes.map((r) => r.bytes)),
    bytesPerToken: median(bytesPerToken),
    onDisk: {
      tokensPerSecond: median(rates.get(spilling)!),
      ratio: pairedRatio(rates.get(spilling)!, all),
      freezeMs: median(spilling.freezes.map((r) => r.ms)),
      restoreMs: median(spilling.restores.map((r) => r.ms)),
    },
  };
}
