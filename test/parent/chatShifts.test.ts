import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { ContextOverflowError, InvalidArgumentError, type LlamaParent, type ShiftReport } from "../../src/index.js";
import { startParent } from "../support/parents.js";

const SYSTEM = "You are a storyteller. Keep it short.";
/** 40 user turns; at 256 tokens a slot holds only a few exchanges. */
const TURNS = Array.from({ length: 40 }, (_, i) => `Tell me about ${["a cat", "a dog", "the sea", "a tree", "the moon"][i % 5]}.`);
const OPTIONS = { maxTokens: 24 };

let parent: LlamaParent;
const shifted: [string, ShiftReport][] = [];
beforeAll(async () => {
  parent = await startParent({ slots: 2, contextSize: 256 });
  parent.on("scopeShifted", (id, report) => shifted.push([id, report]));
});
afterAll(() => parent.dispose());

describe("chat sessions that never hit the context wall", () => {
  test("a chat scope at contextSize 256 answers 40 turns; its system prompt stays first", async () => {
    const chat = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    const shiftsBefore = parent.stats().shifts;
    for (const text of TURNS) {
      const result = await chat.generate(text, OPTIONS);
      expect(result.promptTokenCount).toBeGreaterThan(0);
      expect(await chat.tokenCount()).toBeLessThanOrEqual(256);
    }
    const history = await chat.getChatHistory();
    expect(history[0]).toEqual({ type: "system", text: SYSTEM });
    // Whole exchanges went, oldest first: the history ends with the last turns, in order.
    expect(history.at(-2)).toEqual({ type: "user", text: TURNS.at(-1) });
    expect(history.filter((item) => item.type === "user").length).toBeLessThan(TURNS.length);
    expect(history.slice(1).map((item) => item.type)).toEqual(history.slice(1).map((_, i) => (i % 2 === 0 ? "user" : "model")));
    const ours = shifted.filter(([id]) => id === chat.id);
    expect(ours.length).toBeGreaterThan(2);
    expect(parent.stats().shifts - shiftsBefore).toBe(ours.length);
    for (const [, { erasedTokens }] of ours) expect(erasedTokens).toBeGreaterThan(0);
    await chat.dispose();
  });

  test("a completion scope at contextSize 256 answers 40 turns", async () => {
    const scope = parent.getScope();
    const before = shifted.length;
    for (const text of TURNS) expect((await scope.generate(`\n${text}`, OPTIONS)).tokenCount).toBeGreaterThan(0);
    expect(shifted.length).toBeGreaterThan(before);
    await scope.dispose();
  });

  test("a shifted chat scope, frozen and restored or saved and revived, continues exactly like one never frozen", async () => {
    const control = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    const expected: string[] = [];
    for (const text of TURNS.slice(0, 16)) expected.push(await control.sendPrompt(text, OPTIONS));
    await control.dispose();

    const swaps = { frozen: 0, restored: 0 };
    parent.on("scopeFrozen", () => swaps.frozen++);
    parent.on("scopeRestored", () => swaps.restored++);
    const origin = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    for (const text of TURNS.slice(0, 12)) await origin.sendPrompt(text, OPTIONS);
    const revived = parent.getScope({ state: await origin.saveState() });
    const intruder = parent.getScope();
    const replies = { origin: [] as string[], revived: [] as string[] };
    for (const text of TURNS.slice(12, 16)) {
      // Two slots, three scopes: every turn below freezes one of the others.
      replies.revived.push(await revived.sendPrompt(text, OPTIONS));
      await intruder.sendPrompt("\nOnce", { maxTokens: 4 });
      replies.origin.push(await origin.sendPrompt(text, OPTIONS));
    }
    expect(swaps.frozen).toBeGreaterThan(3);
    expect(replies.origin).toEqual(expected.slice(12));
    expect(replies.revived).toEqual(expected.slice(12));
    expect(await revived.getChatHistory()).toEqual(await origin.getChatHistory());
    await Promise.all([origin, revived, intruder].map((scope) => scope.dispose()));
  });

  test("a scope started from another's history continues exactly like it", async () => {
    const origin = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    for (const text of TURNS.slice(0, 2)) await origin.sendPrompt(text, OPTIONS);
    const history = await origin.getChatHistory();
    const copy = parent.getScope({ mode: "chat", history });
    const next = TURNS[2]!;
    const fromCopy = await copy.sendPrompt(next, OPTIONS);
    expect(await origin.sendPrompt(next, OPTIONS)).toBe(fromCopy);
    expect(await copy.tokenCount()).toBe(await origin.tokenCount());
    expect(await copy.getChatHistory()).toEqual(await origin.getChatHistory());
    await Promise.all([origin.dispose(), copy.dispose()]);
  });

  test("a history too long for the slot loses its oldest exchanges at the first prompt; the system prompt stays", async () => {
    const long = TURNS.slice(0, 30).flatMap((text, i) => [
      { type: "user" as const, text },
      { type: "model" as const, response: [`Once upon a time there was story number ${i}.`] },
    ]);
    const scope = parent.getScope({ mode: "chat", history: [{ type: "system", text: SYSTEM }, ...long] });
    const result = await scope.generate("And then?", OPTIONS);
    expect(result.tokenCount).toBeGreaterThan(0);
    const history = await scope.getChatHistory();
    expect(history[0]).toEqual({ type: "system", text: SYSTEM });
    expect(history.length).toBeLessThan(long.length + 3);
    expect(history.slice(-2)).toEqual([
      { type: "user", text: "And then?" },
      { type: "model", response: [result.text], tokens: expect.any(Array) },
    ]);
    expect((history.at(-1) as { tokens: number[] }).tokens).toHaveLength(result.tokenCount);
    expect(history.slice(1, -2)).toEqual(long.slice(long.length - (history.length - 3))); // the newest exchanges, whole
    await scope.dispose();
  });

  test("a reply longer than the slot erases the start of its own exchange, never the system prompt", async () => {
    const scope = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
    const result = await scope.generate("Tell me a very long story.", { maxTokens: 240 }); // with the prompt, more than 256
    expect(result.tokenCount).toBe(240);
    const history = await scope.getChatHistory();
    expect(history).toEqual([
      { type: "system", text: SYSTEM },
      { type: "model", response: [result.text] },
    ]);
    expect((await scope.generate("And then?", OPTIONS)).tokenCount).toBeGreaterThan(0);
    expect((await scope.getChatHistory())[0]).toEqual({ type: "system", text: SYSTEM });
    await scope.dispose();
  });

  test("tokenCount of a frozen scope is read without restoring it", async () => {
    const sleeper = parent.getScope();
    await sleeper.sendPrompt("Once upon a time", OPTIONS);
    const count = await sleeper.tokenCount();
    const others = [parent.getScope(), parent.getScope()];
    for (const scope of others) await scope.sendPrompt("One day", OPTIONS);
    expect(parent.stats().scopes.frozen).toBeGreaterThan(0);
    const restores = parent.stats().restores;
    expect(await sleeper.tokenCount()).toBe(count);
    expect(parent.stats().restores).toBe(restores);
    await Promise.all([sleeper, ...others].map((scope) => scope.dispose()));
  });
});

describe("results and options of a scope", () => {
  test("a stream's result settles with the reply's counts", async () => {
    const scope = parent.getScope();
    const stream = scope.streamPrompt("Once upon a time", OPTIONS);
    let text = "";
    for await (const chunk of stream) text += chunk;
    const result = await stream.result;
    expect(result).toEqual({ text, tokenCount: OPTIONS.maxTokens, promptTokenCount: expect.any(Number), finishReason: "maxTokens" });
    expect(await scope.tokenCount()).toBe(result.promptTokenCount + result.tokenCount);
    await scope.dispose();
  });

  test("scope options are checked at getScope", () => {
    const scopes = parent.stats().scopes.total;
    expect(() => parent.getScope({ systemPrompt: "Hi" })).toThrow(InvalidArgumentError);
    expect(() => parent.getScope({ mode: "chat", systemPrompt: 42 as never })).toThrow(InvalidArgumentError);
    expect(() => parent.getScope({ mode: "chat", history: [{ type: "user" }] as never })).toThrow(/history must be/);
    // node-llama-cpp's other items type-check (ChatHistoryItem is its shape), but only text and function calls are taken.
    const segment = { type: "segment", segmentType: "thought", text: "Hm", ended: true } as const;
    expect(() =>
      parent.getScope({
        mode: "chat",
        history: [
          { type: "user", text: "Hi" },
          { type: "model", response: ["Ok", segment] },
        ],
      }),
    ).toThrow(/history must be/);
    expect(() => parent.getScope({ mode: "chat", history: [{ type: "system", text: [{ type: "specialToken", value: "BOS" }] }] })).toThrow(
      /history must be/,
    );
    expect(() => parent.getScope({ mode: "chat", systemPrompt: "A", history: [{ type: "system", text: "B" }] })).toThrow(/once/);
    expect(() => parent.getScope({ contextShift: { size: -1 } })).toThrow(InvalidArgumentError);
    expect(() => parent.getScope({ sytemPrompt: "x" } as never)).toThrow(/sytemPrompt/);
    expect(parent.stats().scopes.total).toBe(scopes); // none was created
  });

  test("getChatHistory is for chat scopes", async () => {
    const scope = parent.getScope();
    await expect(scope.getChatHistory()).rejects.toBeInstanceOf(InvalidArgumentError);
    await scope.dispose();
  });

  test("with contextShift off, a full scope refuses the prompt with a message a scope can act on", async () => {
    const scope = parent.getScope({ mode: "chat", contextShift: false });
    let refusal: unknown;
    for (const text of TURNS) {
      try {
        await scope.sendPrompt(text, OPTIONS);
      } catch (error) {
        refusal = error;
        break;
      }
    }
    expect(refusal).toBeInstanceOf(ContextOverflowError);
    expect(String(refusal)).not.toMatch(/free the slot|freeSlot/i);
    expect(String(refusal)).toMatch(/contextShift/);
    // The refused turn left no trace: the history ends with the last answered exchange.
    const history = await scope.getChatHistory();
    expect(history.at(-1)?.type).toBe("model");
    await scope.dispose();
  });
});
