import type { Token } from "node-llama-cpp";
import { Llama } from "../src/index.js";
import { ChatSession } from "../src/worker/chat/ChatSession.js";
import { nodeModelOf } from "../src/engine/model/nodeModel.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, timed } from "./support.js";

export interface ShiftResult {
  contextSize: number;
  /** Tokens in the slot when the prompt arrives. */
  historyTokens: number;
  /** Tokens one shift erased (the default size, a tenth of the context). */
  erasedTokens: number;
  /** A 16-token prompt on a full slot: a shift erases the oldest tokens first. */
  withShiftMs: number;
  /** The same prompt on the same history cut at its end by as many tokens: no shift. */
  withoutShiftMs: number;
  /** Median of the per-round differences: what the shift itself costs. */
  shiftMs: number;
  /** A chat scope's turns on a slot of `contextSize`: shifts and the time its strategy took to plan each. */
  chat: { turns: number; shifts: number; planMs: number; reEvaluatedTokens: number };
}

const PROMPT_TOKENS = 16;

/**
 * The cost of a context shift. The same prompt is evaluated on the same saved history, once
 * after erasing the oldest tokens (a shift: llama.cpp moves every kept key to its new position)
 * and once after cutting as many tokens off the end (no shift), in alternating order.
 */
export async function measureShift(modelPath: string, threads: number, rounds: number): Promise<ShiftResult> {
  const contextSize = 512;
  const llama = await Llama.load(testLoadOptions({ modelPath, slots: 2, threads, contextSize }));
  try {
    const { state, historyTokens } = await fullHistory(llama);
    const prompt = llama.model.tokenize(" and the little dog ran after the ball in the park all day").slice(0, PROMPT_TOKENS);
    const erased: number[] = [];
    const withShift: number[] = [];
    const withoutShift: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const shift of round % 2 === 0 ? [true, false] : [false, true]) {
        llama.createSlot("run", { contextShift: shift ? { onShift: (count) => erased.push(count) } : false });
        llama.setSlot("run");
        await llama.loadState(state);
        const size = Math.round(contextSize / 10);
        llama.setPromptTokens(prompt, shift ? {} : { keep: historyTokens - size });
        const [, ms] = await timed(() => llama.generate({ maxTokens: 1 }));
        (shift ? withShift : withoutShift).push(ms);
        await llama.freeSlot("run");
      }
    }
    return {
      contextSize,
      historyTokens,
      erasedTokens: median(erased),
      withShiftMs: median(withShift),
      withoutShiftMs: median(withoutShift),
      shiftMs: median(withShift.map((ms, i) => ms - withoutShift[i]!)),
      chat: await chatShifts(llama, 40),
    };
  } finally {
    await llama.dispose();
  }
}

/** A saved history that leaves less room than the prompt needs. */
async function fullHistory(llama: Llama): Promise<{ state: Uint8Array; historyTokens: number }> {
  llama.createSlot("fill", { contextShift: false });
  llama.setSlot("fill");
  llama.setPrompt("Once upon a time");
  const target = llama.contextSize - 1 - PROMPT_TOKENS + 4;
  while (llama.tokenCount("fill") < target) {
    await llama.generate({ maxTokens: Math.min(64, target - llama.tokenCount("fill")) });
    llama.setPrompt("\n");
  }
  llama.setPrompt("");
  const state = await llama.saveState();
  const historyTokens = llama.tokenCount("fill");
  await llama.freeSlot("fill");
  return { state, historyTokens };
}

/** A chat conversation as a chat scope runs it, timing the planning of each shift. */
async function chatShifts(llama: Llama, turns: number): Promise<ShiftResult["chat"]> {
  const session = new ChatSession(nodeModelOf(llama), [{ type: "system", text: "You are a storyteller. Keep it short." }], {
    capacity: llama.contextSize - 1,
    shiftSize: Math.round(llama.contextSize / 10),
  });
  const planMs: number[] = [];
  llama.createSlot("chat", {
    contextShift: {
      strategy: (request) => {
        const start = performance.now();
        const ranges = session.contextShift(request);
        planMs.push(performance.now() - start);
        return ranges;
      },
    },
  });
  llama.setSlot("chat");
  let reEvaluatedTokens = 0;
  for (let i = 0; i < turns; i++) {
    const slotTokens: Token[] = llama.historyTokens("chat");
    // A turn that does not fit is planned with its shift (the oldest exchanges erased) before it goes.
    const start = performance.now();
    const turn = session.userTurn(`Tell me about ${["a cat", "a dog", "the sea", "a tree", "the moon"][i % 5]}.`, slotTokens);
    if (turn.erase !== undefined) planMs.push(performance.now() - start);
    const erased = turn.erase === undefined ? 0 : turn.erase.end - turn.erase.start;
    reEvaluatedTokens += slotTokens.length - erased - turn.keep;
    llama.setPromptTokens(turn.tokens, { keep: turn.keep, ...(turn.erase === undefined ? {} : { erase: turn.erase }) });
    const result = await llama.generate({ maxTokens: 48, stop: turn.stop });
    const history = llama.historyTokens("chat");
    session.modelReplied(result.text, history.slice(history.length - result.tokenCount));
  }
  await llama.freeSlot("chat");
  return { turns, shifts: planMs.length, planMs: median(planMs), reEvaluatedTokens };
}
