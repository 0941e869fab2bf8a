import { LlamaLoad, LlamaParent, type Isolation, type ParentLoadOptions } from "../../src/index.js";
import { testLoadOptions } from "./testModel.js";

/**
 * The isolation of parents the tests start without naming one: `LLAMA_SCOPE_TEST_ISOLATION`
 * ("thread" or "process"), so `npm test` can run the scope suites under both.
 */
export function testIsolation(): Isolation {
  const isolation = process.env.LLAMA_SCOPE_TEST_ISOLATION ?? "thread";
  if (isolation !== "thread" && isolation !== "process")
    throw new Error(`LLAMA_SCOPE_TEST_ISOLATION must be "thread" or "process", not ${isolation}.`);
  return isolation;
}

/** A started parent on the test model; dispose it in the test. */
export async function startParent(overrides: Partial<ParentLoadOptions> = {}): Promise<LlamaParent> {
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ isolation: testIsolation(), ...overrides })));
  await parent.init();
  return parent;
}

/** The parent's engine scratch directory (a private field: the tests check it is made and removed). */
export function scratchDirOf(parent: LlamaParent): string | undefined {
  return (parent as unknown as { startup: { scratch: { path: string | undefined } } }).startup.scratch.path;
}
