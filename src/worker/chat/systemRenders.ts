import type { LlamaModel, Token } from "node-llama-cpp";
import { LruMap } from "../../shared/LruMap.js";

/**
 * Renders of a system prompt alone (no turns yet), kept per model: every chat scope with that
 * system prompt renders it to find where its shared prefix ends, and again to plan its shifts.
 * Rendering and tokenizing an 800-token system prompt takes ~1 ms on the benchmarks' 125M model,
 * a few percent of a prefix-cache hit. The most recently used {@link MAX_PER_MODEL} are kept.
 */
const renders = new WeakMap<LlamaModel, LruMap<string, readonly Token[]>>();
const MAX_PER_MODEL = 32;

/** The render of `system` alone for `model`, from `render` the first time. */
export function systemRender(model: LlamaModel, system: string, render: () => readonly Token[]): readonly Token[] {
  let byText = renders.get(model);
  if (byText === undefined) renders.set(model, (byText = new LruMap()));
  let tokens = byText.get(system);
  if (tokens === undefined) {
    tokens = Object.freeze([...render()]);
    byText.set(system, tokens);
    byText.trim(MAX_PER_MODEL);
  }
  return tokens;
}
