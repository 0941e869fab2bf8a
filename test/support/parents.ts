import { LlamaLoad, LlamaParent, type LlamaLoadOptions } from "../../src/index.js";
import { testLoadOptions } from "./testModel.js";

/** A started parent on the test model; dispose it in the test. */
export async function startParent(overrides: Partial<LlamaLoadOptions> = {}): Promise<LlamaParent> {
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions(overrides)));
  await parent.init();
  return parent;
}
