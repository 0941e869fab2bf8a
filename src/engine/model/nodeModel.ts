import type { LlamaModel } from "node-llama-cpp";
import type { Llama } from "../Llama.js";

/**
 * node-llama-cpp's model behind `llama.model`, for llama-scope's own modules (chat templates, the
 * vocabulary). `Llama.model` is typed by the narrow `ModelTokenizer` so that the published
 * declarations import nothing from node-llama-cpp, but its object is the `LlamaModel` the `Llama`
 * loaded (test/package/typesCompat.test.ts checks both).
 */
export function nodeModelOf(llama: Llama): LlamaModel {
  return llama.model as LlamaModel;
}
