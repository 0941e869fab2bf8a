import { Llama, type LlamaLoadOptions } from "../../src/index.js";
import { testLoadOptions } from "./testModel.js";

/** Runs `work` on a direct engine loaded on the test model, disposed afterwards whatever happens. */
export async function withLlama<T>(options: Partial<LlamaLoadOptions>, work: (llama: Llama) => Promise<T>): Promise<T> {
  const llama = await Llama.load(testLoadOptions(options));
  try {
    return await work(llama);
  } finally {
    await llama.dispose();
  }
}
