import { LlamaLoad, LlamaParent, type ParentLoadOptions } from "../../src/index.js";
import { testLoadOptions } from "./testModel.js";

/** A started parent on the test model; dispose it in the test. */
export async function startParent(overrides: Partial<ParentLoadOptions> = {}): Promise<LlamaParent> {
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions(overrides)));
  await parent.init();
  return parent;
}
