import { expect, test } from "@jest/globals";
import { InvalidArgumentError, Llama, LlamaLoad, StateFormatError } from "../../src/index.js";
import { reseal } from "../support/stateMutations.js";
import { startParent } from "../support/parents.js";
import { testLoadOptions } from "../support/testModel.js";

const KEY = "a secret of the app, kept out of the states";

async function stateOf(llama: Llama): Promise<Uint8Array> {
  llama.createSlot("s");
  llama.setSlot("s");
  llama.setPrompt("Once upon a time");
  await llama.generate({ maxTokens: 8 });
  const state = await llama.saveState();
  await llama.freeSlot("s");
  return state;
}

test("a stateKey authenticates states: only the same key loads them, and it loads only them", async () => {
  const keyed = await Llama.load(testLoadOptions({ slots: 1, stateKey: KEY }));
  const other = await Llama.load(testLoadOptions({ slots: 1, stateKey: new TextEncoder().encode("another key") }));
  const plain = await Llama.load(testLoadOptions({ slots: 1 }));
  try {
    const signed = await stateOf(keyed);
    const unsigned = await stateOf(plain);
    for (const target of [keyed, other, plain]) {
      target.createSlot("t");
      target.setSlot("t");
    }
    await keyed.loadState(signed);
    expect(keyed.tokenCount("t")).toBeGreaterThan(1);
    await expect(other.loadState(signed)).rejects.toThrow(/MAC does not match/);
    await expect(plain.loadState(signed)).rejects.toThrow(/load it with the stateKey/);
    await expect(keyed.loadState(unsigned)).rejects.toThrow(/not authenticated/);
    // A changed byte with the plain checksum recomputed, as anyone can, is refused.
    const tampered = signed.slice();
    tampered[tampered.length - 100]! ^= 1;
    await expect(keyed.loadState(reseal(tampered))).rejects.toBeInstanceOf(StateFormatError);
    // So is the flag cleared to pass as a plain state.
    const unflagged = signed.slice();
    unflagged[10] = 0;
    await expect(keyed.loadState(reseal(unflagged))).rejects.toBeInstanceOf(StateFormatError);
    await expect(Llama.load(testLoadOptions({ stateKey: "" }))).rejects.toBeInstanceOf(InvalidArgumentError);
  } finally {
    await Promise.all([keyed.dispose(), other.dispose(), plain.dispose()]);
  }
});

test("a parent with a stateKey swaps and revives its own states, and refuses others at getScope", async () => {
  const parent = await startParent({ slots: 1, stateKey: KEY });
  const plain = await startParent({ slots: 1 });
  try {
    const [a, b] = [parent.getScope(), parent.getScope()];
    const first = await a.sendPrompt("Once upon a time", { maxTokens: 12 });
    await b.sendPrompt("One day", { maxTokens: 12 }); // freezes a: authenticated bytes in the parent
    expect(parent.stats().freezes).toBe(1);
    const revived = parent.getScope({ state: await a.saveState() });
    const [fromA, fromRevived] = [await a.sendPrompt("\nThen", { maxTokens: 12 }), await revived.sendPrompt("\nThen", { maxTokens: 12 })];
    expect(fromRevived).toBe(fromA);
    expect(first.length).toBeGreaterThan(0);
    const unsigned = plain.getScope();
    await unsigned.sendPrompt("Once upon a time", { maxTokens: 4 });
    expect(() => parent.getScope({ state: new Uint8Array(0) })).toThrow(StateFormatError);
    const bytes = await unsigned.saveState();
    expect(() => parent.getScope({ state: bytes })).toThrow(/not authenticated/);
    expect(() => new LlamaLoad(testLoadOptions({ stateKey: 42 as never }))).toThrow(InvalidArgumentError);
  } finally {
    await Promise.all([parent.dispose(), plain.dispose()]);
  }
});
