import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { SlotCapacityError, type LlamaParent, type LlamaScope } from "../../src/index.js";
import { CONVERSATIONS, soloReplies, type Conversation } from "../support/conversations.js";
import { startParent } from "../support/parents.js";

const OPTIONS = { maxTokens: 32 };
let solo: Map<string, string[]>;

beforeAll(async () => (solo = await soloReplies(CONVERSATIONS, OPTIONS)));

async function converse(scope: LlamaScope, conversation: Conversation): Promise<string[]> {
  const replies: string[] = [];
  for (const turn of conversation.turns) replies.push(await scope.sendPrompt(turn, OPTIONS));
  return replies;
}

describe("scopes through the worker", () => {
  let parent: LlamaParent;
  beforeAll(async () => (parent = await startParent({ slots: 4 })));
  afterAll(() => parent.dispose());

  test("the seed's A/B/A scenario: A's third turn is byte-identical to A alone", async () => {
    const [alice, bob] = CONVERSATIONS as [Conversation, Conversation];
    const a = parent.getScope();
    const b = parent.getScope();
    expect(a.id).not.toBe(b.id);
    const aReplies = [await a.sendPrompt(alice.turns[0]!, OPTIONS)];
    const bReplies = [await b.sendPrompt(bob.turns[0]!, OPTIONS)];
    aReplies.push(await a.sendPrompt(alice.turns[1]!, OPTIONS));
    bReplies.push(await b.sendPrompt(bob.turns[1]!, OPTIONS));
    aReplies.push(await a.sendPrompt(alice.turns[2]!, OPTIONS));
    expect(aReplies).toEqual(solo.get(alice.id));
    expect(bReplies).toEqual(solo.get(bob.id)!.slice(0, 2));
    await Promise.all([a.dispose(), b.dispose()]);
  });

  test("as many scopes as slots prompting at once: each reply identical to its solo run", async () => {
    const scopes = CONVERSATIONS.map(() => parent.getScope());
    const replies = await Promise.all(CONVERSATIONS.map((conversation, i) => converse(scopes[i]!, conversation)));
    CONVERSATIONS.forEach((conversation, i) => expect(replies[i]).toEqual(solo.get(conversation.id)));
    expect(parent.stats()).toMatchObject({ slots: { total: 4, held: 4, generating: 0 }, freezes: 0 });
    await Promise.all(scopes.map((scope) => scope.dispose()));
  });

  test("swap: false: a scope beyond the slots fails with SlotCapacityError until one is disposed", async () => {
    const strict = await startParent({ slots: 1, swap: false });
    try {
      const [alice, bob] = CONVERSATIONS as [Conversation, Conversation];
      const first = strict.getScope();
      await first.sendPrompt(alice.turns[0]!, OPTIONS);
      const extra = strict.getScope();
      await expect(extra.sendPrompt("Once", OPTIONS)).rejects.toBeInstanceOf(SlotCapacityError);
      await expect(extra.sendPrompt("Once", OPTIONS)).rejects.toThrow(/swapping is off/);
      const freed = new Promise<string>((resolve) => strict.once("slotFreed", resolve));
      await first.dispose();
      expect(await freed).toBe(first.id);
      expect(await converse(extra, bob)).toEqual(solo.get(bob.id));
      expect(strict.stats()).toMatchObject({ freezes: 0, restores: 0, scopes: { total: 1, resident: 1, frozen: 0 } });
    } finally {
      await strict.dispose();
    }
  });

  test("prompts sent together on one scope run in the order sent", async () => {
    const scope = parent.getScope();
    const [alice] = CONVERSATIONS as [Conversation];
    const replies = await Promise.all(alice.turns.map((turn) => scope.sendPrompt(turn, OPTIONS)));
    expect(replies).toEqual(solo.get(alice.id));
    await scope.dispose();
  });

  test("events: scopeCreated, slotCreated at the first prompt, slotFreed and scopeDisposed", async () => {
    const events: string[] = [];
    const record = (name: string) => (id: string) => events.push(`${name}:${id}`);
    parent.on("scopeCreated", record("scopeCreated")).on("slotCreated", record("slotCreated"));
    parent.on("slotFreed", record("slotFreed")).on("scopeDisposed", record("scopeDisposed"));
    const scope = parent.getScope();
    const idle = parent.getScope();
    await scope.sendPrompt("Once", { maxTokens: 4 });
    await scope.sendPrompt("\nThen", { maxTokens: 4 });
    await scope.dispose();
    await idle.dispose();
    parent.removeAllListeners();
    expect(events).toEqual([
      `scopeCreated:${scope.id}`,
      `scopeCreated:${idle.id}`,
      `slotCreated:${scope.id}`,
      `slotFreed:${scope.id}`,
      `scopeDisposed:${scope.id}`,
      `scopeDisposed:${idle.id}`,
    ]);
  });

  test("saveState / loadState through scopes continues exactly, also in another parent", async () => {
    const [alice] = CONVERSATIONS as [Conversation];
    const scope = parent.getScope();
    await scope.sendPrompt(alice.turns[0]!, OPTIONS);
    const state = await scope.saveState();
    await scope.dispose();
    const other = await startParent({ slots: 1 });
    try {
      const revived = other.getScope();
      await revived.loadState(state);
      expect(await revived.sendPrompt(alice.turns[1]!, OPTIONS)).toBe(solo.get(alice.id)![1]);
    } finally {
      await other.dispose();
    }
  });
});
