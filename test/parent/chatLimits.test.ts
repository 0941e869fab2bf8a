// Chat scopes at the edge of their slot (issue 18, cases 1–4): a turn that fits beside the system
// prompt is never refused, a refusal changes nothing, and a scope started from another's history
// continues exactly as the other does.
import { expect, test } from "@jest/globals";
import { ContextOverflowError, type LlamaScope } from "../../src/index.js";
import { startParent } from "../support/parents.js";
import { randomTurns, randomWords, seededRandom, type Turn } from "../support/randomText.js";

const SYSTEM = randomWords(seededRandom(99), 30);

/** What a chat scope is, as a caller can see it: its token count and its history. */
async function snapshot(scope: LlamaScope) {
  return { tokens: await scope.tokenCount(), history: await scope.getChatHistory() };
}

test("a chat scope answers 150 random turns on a 256-token slot, and 'Hi' after them (case 1)", async () => {
  const parent = await startParent({ slots: 1, contextSize: 256 });
  try {
    const scope = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    const refused: string[] = [];
    for (const turn of randomTurns(seededRandom(1), 150)) {
      await scope
        .sendPrompt(turn.text, { maxTokens: turn.maxTokens })
        .catch((error: Error) => refused.push(`${error.name}: ${error.message}`));
      expect(await scope.tokenCount()).toBeLessThanOrEqual(256); // 255 cells and the reply's last token, still to evaluate
    }
    expect(refused).toEqual([]);
    expect(await scope.sendPrompt("Hi", { maxTokens: 1 })).toEqual(expect.any(String));
    const history = await scope.getChatHistory();
    expect(history[0]).toEqual({ type: "system", text: SYSTEM });
    // Its saved state and its fork go on too.
    const revived = parent.getScope({ state: await scope.saveState() });
    await expect(revived.sendPrompt("Why?", { maxTokens: 8 })).resolves.toEqual(expect.any(String));
    const fork = await scope.fork();
    await expect(fork.sendPrompt("Why?", { maxTokens: 8 })).resolves.toEqual(expect.any(String));
  } finally {
    await parent.dispose();
  }
});

test("a turn accepted on a fresh scope is accepted on a full one, which makes room by erasing its oldest exchanges (case 2)", async () => {
  const parent = await startParent({ slots: 2, contextSize: 256 });
  try {
    // The first turns of case 1's conversation: the third was refused on a slot holding 244 tokens.
    const [first, second, third] = randomTurns(seededRandom(1), 3) as [Turn, Turn, Turn];
    const fresh = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    await expect(fresh.sendPrompt(third.text, { maxTokens: third.maxTokens })).resolves.toEqual(expect.any(String));

    const full = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    const shifted: number[] = [];
    parent.on("scopeShifted", (id, { erasedTokens }) => id === full.id && shifted.push(erasedTokens));
    for (const turn of [first, second]) await full.sendPrompt(turn.text, { maxTokens: turn.maxTokens });
    const before = await full.tokenCount();
    const shiftsBefore = shifted.length;
    const result = await full.generate(third.text, { maxTokens: third.maxTokens });
    expect(before + result.promptTokenCount).toBeGreaterThan(255); // it did not fit beside what the slot held
    expect(shifted.length).toBeGreaterThan(shiftsBefore);
    const history = await full.getChatHistory();
    expect(history[0]).toEqual({ type: "system", text: SYSTEM });
    expect(history.at(-2)).toEqual({ type: "user", text: third.text });
  } finally {
    await parent.dispose();
  }
});

test("a turn that cannot fit beside the system prompt is refused and changes nothing (case 3)", async () => {
  const parent = await startParent({ slots: 3, contextSize: 256 });
  try {
    const tooLong = randomWords(seededRandom(7), 120); // ~600 characters: more tokens than the slot holds beside the system prompt
    const shifted: string[] = [];
    parent.on("scopeShifted", (id) => shifted.push(id));

    // A fresh scope stays empty.
    const fresh = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    await expect(fresh.sendPrompt(tooLong, { maxTokens: 4 })).rejects.toBeInstanceOf(ContextOverflowError);
    expect(await snapshot(fresh)).toEqual({ tokens: 0, history: [{ type: "system", text: SYSTEM }] });
    expect(shifted).toEqual([]);

    // A scope with a conversation keeps it, and goes on as a scope that was never refused.
    const turns = randomTurns(seededRandom(8), 4);
    const [refused, control] = [0, 1].map(() => parent.getScope({ mode: "chat", systemPrompt: SYSTEM })) as [LlamaScope, LlamaScope];
    for (const turn of turns) {
      await refused.sendPrompt(turn.text, { maxTokens: turn.maxTokens });
      await control.sendPrompt(turn.text, { maxTokens: turn.maxTokens });
    }
    const before = await snapshot(refused);
    const shiftsBefore = shifted.length;
    await expect(refused.sendPrompt(tooLong, { maxTokens: 4 })).rejects.toBeInstanceOf(ContextOverflowError);
    expect(await snapshot(refused)).toEqual(before);
    expect(shifted.length).toBe(shiftsBefore);
    expect(await refused.sendPrompt("Why?", { maxTokens: 20 })).toBe(await control.sendPrompt("Why?", { maxTokens: 20 }));
    expect(await refused.tokenCount()).toBe(await control.tokenCount());
  } finally {
    await parent.dispose();
  }
});

for (const prefixCache of [true, false]) {
  test(`a scope started from another's getChatHistory() replies as the other does (case 4, prefix cache ${prefixCache ? "on" : "off"})`, async () => {
    const parent = await startParent({ slots: 2, contextSize: 256, ...(prefixCache ? {} : { prefixCache: false }) });
    const shifted = new Set<string>();
    parent.on("scopeShifted", (id) => shifted.add(id));
    try {
      const mismatches: string[] = [];
      let compared = 0;
      for (const turns of [1, 2, 3, 4])
        for (const maxTokens of [10, 17, 24]) {
          // Seed 3's conversations: before the fix, 2 turns of 24 tokens (which never shift) replied otherwise.
          const origin = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
          for (const turn of randomTurns(seededRandom(3000 + turns * 100 + maxTokens), turns))
            await origin.sendPrompt(turn.text.slice(0, 60), { maxTokens });
          const rebuilt = parent.getScope({ mode: "chat", history: await origin.getChatHistory() });
          const [a, b] = [await origin.sendPrompt("Why?", { maxTokens: 24 }), await rebuilt.sendPrompt("Why?", { maxTokens: 24 })];
          // A conversation that shifted keeps cells computed beside exchanges it erased, which a
          // scope started from its history never saw: only unshifted ones must reply alike.
          if (!shifted.has(origin.id)) {
            compared++;
            if (a !== b) mismatches.push(`${turns} turns of ${maxTokens}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
            else expect(await rebuilt.tokenCount()).toBe(await origin.tokenCount());
          }
          await Promise.all([origin.dispose(), rebuilt.dispose()]);
        }
      expect(mismatches).toEqual([]);
      expect(compared).toBeGreaterThanOrEqual(4);
    } finally {
      await parent.dispose();
    }
  });
}

test("a continued turn evaluates only its own tokens: the slot holds replies as generated (case 13)", async () => {
  const parent = await startParent({ slots: 1, contextSize: 2048, prefixCache: false });
  const shifted = new Set<string>();
  parent.on("scopeShifted", (id) => shifted.add(id));
  try {
    const scope = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    let previous = 0;
    const reEvaluated: string[] = [];
    // Seed 13's turn 15 ends in a reply the tokenizer spells otherwise: before the fix, 13 tokens re-evaluated.
    for (const [i, turn] of randomTurns(seededRandom(13), 20).entries()) {
      shifted.clear();
      const { promptTokenCount, tokenCount } = await scope.generate(turn.text.slice(0, 80), { maxTokens: turn.maxTokens });
      const now = await scope.tokenCount();
      // The slot holds what it held, the turn's prompt and the reply: nothing was evaluated again.
      if (!shifted.has(scope.id) && now !== previous + promptTokenCount + tokenCount)
        reEvaluated.push(`turn ${i}: ${previous + promptTokenCount + tokenCount - now}`);
      previous = now;
    }
    expect(reEvaluated).toEqual([]);
  } finally {
    await parent.dispose();
  }
});
