import { Llama } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, timed } from "./support.js";

export interface FreezeResult {
  historyTokens: number;
  stateBytes: number;
  bytesPerToken: number;
  saveMs: number;
  loadMs: number;
  reevaluateMs: number;
  restoreSpeedup: number;
}

/**
 * Freezing and restoring a history of about `targetTokens` tokens, against rebuilding the same
 * history by evaluating its text in a fresh slot.
 */
export async function measureFreeze(modelPath: string, threads: number, targetTokens: number, rounds: number): Promise<FreezeResult> {
  const llama = await Llama.load(testLoadOptions({ modelPath, slots: 2, threads }));
  llama.createSlot("history");
  llama.setSlot("history");
  let text = "Once upon a time";
  llama.setPrompt(text);
  while (llama.tokenCount("history") < targetTokens) {
    text += await llama.generateCompleteText({ maxTokens: Math.min(256, targetTokens - llama.tokenCount("history") + 1) });
    text += "\n";
    llama.setPrompt("\n");
  }
  llama.setPrompt("");
  const historyTokens = llama.tokenCount("history");
  const saves: number[] = [];
  const loads: number[] = [];
  const reevaluations: number[] = [];
  let state: Uint8Array = new Uint8Array();
  for (let round = 0; round < rounds; round++) {
    llama.setSlot("history");
    const [bytes, saveMs] = await timed(() => llama.saveState());
    state = bytes;
    saves.push(saveMs);
    llama.createSlot("restore");
    llama.setSlot("restore");
    loads.push((await timed(() => llama.loadState(state)))[1]);
    await llama.freeSlot("restore");

    llama.createSlot("reevaluate");
    llama.setSlot("reevaluate");
    llama.setPrompt(text);
    // Evaluating the text is what rebuilding costs; one generated token is the least a call does.
    reevaluations.push((await timed(() => llama.generateCompleteText({ maxTokens: 1 })))[1]);
    await llama.freeSlot("reevaluate");
  }
  await llama.dispose();
  const loadMs = median(loads);
  const reevaluateMs = median(reevaluations);
  return {
    historyTokens,
    stateBytes: state.length,
    bytesPerToken: state.length / historyTokens,
    saveMs: median(saves),
    loadMs,
    reevaluateMs,
    restoreSpeedup: reevaluateMs / loadMs,
  };
}
