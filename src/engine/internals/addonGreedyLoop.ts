import type { LlamaContext, Token } from "node-llama-cpp";

/**
 * Greedy generation on node-llama-cpp's native addon alone: per token one `decodeBatch` and one
 * `sampleToken`, and no other JavaScript. It is the floor for any JavaScript driving this addon,
 * and what `npm run bench:stream` compares node-llama-cpp's `evaluate()` with, to tell the cost
 * of node-llama-cpp's evaluation machinery (its queue, locks, dispose guards, thread reservation
 * and per-token sampler configuration) from llama.cpp's and the thread hand-offs'.
 *
 * It drives sequence 0 of `context` behind node-llama-cpp's back, so `context` must be one made
 * for this (one sequence, none taken). Reads `LlamaContext._ctx`, `Llama._bindings.AddonSampler`
 * and `LlamaModel._model` (`@internal` in node-llama-cpp 3.22.1): `test/engine/internals.test.ts`
 * fails loudly when an upgrade moves them. Undefined when they are gone.
 */
export function addonGreedyLoop(context: LlamaContext): ((prompt: readonly Token[], maxTokens: number) => Promise<Token[]>) | undefined {
  const addon = (context as unknown as { _ctx?: AddonContext })._ctx;
  const bindings = (context.model.llama as unknown as { _bindings?: { AddonSampler?: new (model: unknown) => AddonSampler } })._bindings;
  const nativeModel = (context.model as unknown as { _model?: unknown })._model;
  if (addon === undefined || bindings?.AddonSampler === undefined || nativeModel === undefined) return undefined;
  for (const method of ["initBatch", "addToBatch", "decodeBatch", "sampleToken", "disposeSequence"] as const)
    if (typeof addon[method] !== "function") return undefined;
  const sampler = new bindings.AddonSampler(nativeModel);
  sampler.applyConfig({ temperature: 0 });
  return async (prompt, maxTokens) => {
    addon.disposeSequence(0); // an empty sequence 0: every call starts a new conversation
    const generated: Token[] = [];
    let input = [...prompt];
    let position = 0;
    while (generated.length < maxTokens) {
      addon.initBatch(input.length);
      const [logitIndex] = addon.addToBatch(0, position, Uint32Array.from(input), Uint32Array.from([input.length - 1]));
      await addon.decodeBatch();
      const token = (await addon.sampleToken(logitIndex!, sampler)) as Token;
      position += input.length;
      generated.push(token);
      if (context.model.isEogToken(token)) break;
      input = [token];
    }
    return generated;
  };
}

interface AddonContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstPosition: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<number>;
  disposeSequence(sequenceId: number): void;
}

interface AddonSampler {
  applyConfig(config: { temperature: number }): void;
}
