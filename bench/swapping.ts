import { LlamaLoad, LlamaParent, type SwapReport } from "../src/index.js";
import { decodeState } from "../src/engine/state/StateFormat.js";
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
}

/**
 * `scopes` conversations of `turns` turns, all at once, on a parent with a slot for each and on
 * one with `fewSlots`: what automatic swapping costs in throughput, and what one swap costs.
 */
export async function measureSwapping(modelPath: string, threads: number, scopes: number, fewSlots: number, rounds: number, maxTokens: number): Promise<SwappingResult> {
  const conversations = manyConversations(scopes);
  const turns = conversations[0]!.turns.length;
  const start = async (slots: number) => {
    const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots, threads })));
    await parent.init();
    return parent;
  };
  const roomy = await start(scopes);
  const tight = await start(fewSlots);
  const freezes: SwapReport[] = [];
  const restores: SwapReport[] = [];
  tight.on("scopeFrozen", (_, report) => freezes.push(report));
  tight.on("scopeRestored", (_, report) => restores.push(report));

  const bytesPerToken: number[] = [];
  const run = async (parent: LlamaParent): Promise<number> => {
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
    if (parent === tight)
      for (const scope of handles) {
        const state = decodeState(await scope.saveState());
        bytesPerToken.push(state.kv.byteLength / (state.tokens.length + state.pending.length));
      }
    await Promise.all(handles.map((scope) => scope.dispose()));
    return tokens / (ms / 1000);
  };

  const all: number[] = [];
  const few: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so warm-up and drift favour neither.
    if (round % 2 === 0) all.push(await run(roomy)), few.push(await run(tight));
    else few.push(await run(tight)), all.push(await run(roomy));
  }
  await Promise.all([roomy.dispose(), tight.dispose()]);
  return {
    scopes,
    turns,
    fewSlots,
    allSlotsTokensPerSecond: median(all),
    fewSlotsTokensPerSecond: median(few),
    ratio: pairedRatio(few, all),
    freezesPerRound: freezes.length / rounds,
    restoresPerRound: restores.length / rounds,
    freezeMs: median(freezes.map((r) => r.ms)),
    restoreMs: median(restores.map((r) => r.ms)),
    frozenBytes: median(freezes.map((r) => r.bytes)),
    bytesPerToken: median(bytesPerToken),
  };
}
