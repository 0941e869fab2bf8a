import type { PrefixResult } from "./prefix.js";

const f = (value: number, digits = 0) => value.toFixed(digits);

/** Figure 9's lines, shared by the suite and its runner. */
export function printPrefix(p: PrefixResult): void {
  console.log(
    `9. Shared prefixes: 8 chat scopes with one system prompt of ${p.systemPromptTokens} tokens, one after another (time to first token)`,
  );
  console.log(
    `   scope 1 (evaluates and stores it) ${f(p.firstScopeMs, 1)} ms, scopes 2–8 (copy it) ${f(p.laterScopesMs, 1)} ms → ${f(p.ratio, 1)}× sooner; ` +
      `without the cache ${f(p.uncachedMs, 1)} ms`,
  );
  console.log(
    `   prompt tokens evaluated: ${p.firstPromptTokens} without the cache, ${p.laterPromptTokens} with it; the stored prefix ${p.stateBytes} B; ` +
      `replies ${p.identicalReplies ? "identical" : "DIFFERENT"} with and without the cache`,
  );
  const k = p.fork;
  console.log(
    `   fork of a ${k.historyTokens}-token chat: fork() + first token of the fork's first prompt, against a new scope re-evaluating the same history`,
  );
  console.log(
    `   copied into a free slot ${f(k.copyMs, 1)} + ${f(k.copyFirstTokenMs, 1)} ms → ${f(k.copySpeedup, 1)}×; ` +
      `from a frozen origin's bytes ${f(k.fromBytesMs, 1)} + ${f(k.fromBytesFirstTokenMs, 1)} ms → ${f(k.fromBytesSpeedup, 1)}×; re-evaluated ${f(k.reevaluateFirstTokenMs, 1)} ms`,
  );
  console.log(
    `   in the engine: forkSlot (llama.cpp's copy) ${f(k.engine.forkSlotMs, 2)} ms, saveState + loadState ${f(k.engine.saveLoadMs, 2)} ms`,
  );
}
