import { LlamaLoad, LlamaParent, type LlamaScope } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median } from "./support.js";

export interface SwitchingResult {
  sameScopeFirstTokenMs: number;
  otherScopeFirstTokenMs: number;
  switchCostMs: number;
}

async function firstTokenMs(scope: LlamaScope, prompt: string): Promise<number> {
  const start = performance.now();
  const stream = scope.streamPrompt(prompt, { maxTokens: 8 });
  await stream.next();
  const elapsed = performance.now() - start;
  for await (const chunk of stream) void chunk; // let the reply finish so the next turn starts clean
  return elapsed;
}

/** Time to first token on scope B right after A generated, versus on A again (same prompt length). */
export async function measureSwitching(modelPath: string, threads: number, rounds: number): Promise<SwitchingResult> {
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots: 2, threads })));
  await parent.init();
  const a = parent.getScope();
  const b = parent.getScope();
  await a.sendPrompt("Once upon a time", { maxTokens: 16 });
  await b.sendPrompt("Tom had a big ball", { maxTokens: 16 });
  const same: number[] = [];
  const other: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which measurement comes first so drift on the machine affects both alike.
    await a.sendPrompt("\nThen", { maxTokens: 4 });
    if (round % 2 === 0) {
      same.push(await firstTokenMs(a, "\nNext"));
      await a.sendPrompt("\nThen", { maxTokens: 4 });
      other.push(await firstTokenMs(b, "\nNext"));
    } else {
      other.push(await firstTokenMs(b, "\nNext"));
      await a.sendPrompt("\nThen", { maxTokens: 4 });
      same.push(await firstTokenMs(a, "\nNext"));
    }
  }
  await parent.dispose();
  const sameScopeFirstTokenMs = median(same);
  const otherScopeFirstTokenMs = median(other);
  return { sameScopeFirstTokenMs, otherScopeFirstTokenMs, switchCostMs: otherScopeFirstTokenMs - sameScopeFirstTokenMs };
}
