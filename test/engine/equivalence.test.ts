import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Llama } from "../../src/index.js";
import { CONVERSATIONS, runAlone, runTurn, type Conversation } from "../support/conversations.js";
import { testLoadOptions } from "../support/testModel.js";

const [alice, bob] = CONVERSATIONS as [Conversation, Conversation, ...Conversation[]];

/** Each conversation run alone, every turn, in a fresh Llama: the reference for isolation. */
const solo = new Map<string, string[]>();

beforeAll(async () => {
  for (const conversation of CONVERSATIONS) {
    const llama = await Llama.load(testLoadOptions({ slots: 1 }));
    solo.set(conversation.id, await runAlone(llama, conversation));
    await llama.dispose();
  }
});

describe("isolation between slots (temperature 0)", () => {
  let llama: Llama;
  beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 4 }))));
  afterAll(() => llama.dispose());

  test("the reference replies are real, distinct text", () => {
    for (const replies of solo.values()) for (const reply of replies) expect(reply.length).toBeGreaterThan(10);
    expect(new Set(CONVERSATIONS.map((c) => solo.get(c.id)![0])).size).toBe(CONVERSATIONS.length);
  });

  test("A/B/A interleaving gives A exactly the text it gets alone", async () => {
    const a: string[] = [];
    const b: string[] = [];
    a.push(await runTurn(llama, alice, 0));
    b.push(await runTurn(llama, bob, 0));
    a.push(await runTurn(llama, alice, 1));
    b.push(await runTurn(llama, bob, 1));
    a.push(await runTurn(llama, alice, 2));
    b.push(await runTurn(llama, bob, 2));
    expect(a).toEqual(solo.get(alice.id));
    expect(b).toEqual(solo.get(bob.id));
  });

  test("the history of a slot continues: the seed's 'who am I' turn sees the first prompt", async () => {
    // Same final prompt, different histories: the replies must differ, or history was lost.
    const withHistory = await Llama.load(testLoadOptions({ slots: 2 }));
    try {
      withHistory.createSlot("user_1");
      withHistory.setSlot("user_1");
      withHistory.setPrompt("Hello, I am Lily the cat.");
      await withHistory.generateCompleteText({ maxTokens: 8 });
      withHistory.setPrompt("\nWho am I?");
      const continued = await withHistory.generateCompleteText({ maxTokens: 24 });
      withHistory.createSlot("fresh");
      withHistory.setSlot("fresh");
      withHistory.setPrompt("\nWho am I?");
      const fresh = await withHistory.generateCompleteText({ maxTokens: 24 });
      expect(continued).not.toEqual(fresh);
    } finally {
      await withHistory.dispose();
    }
  });
});

describe("concurrent generation", () => {
  test("4 slots generating at once each get the text they get alone", async () => {
    const llama = await Llama.load(testLoadOptions({ slots: 4 }));
    try {
      const turns = await Promise.all(
        CONVERSATIONS.map(async (conversation) => {
          const replies: string[] = [];
          for (let turn = 0; turn < conversation.turns.length; turn++) {
            if (!llama.slots.includes(conversation.id)) llama.createSlot(conversation.id);
            llama.setSlot(conversation.id);
            llama.setPrompt(conversation.turns[turn]!);
            // The call binds to the active slot synchronously, so the loops can interleave freely.
            replies.push(await llama.generateCompleteText({ maxTokens: 32 }));
          }
          return [conversation.id, replies] as const;
        }),
      );
      for (const [id, replies] of turns) expect(replies).toEqual(solo.get(id));
    } finally {
      await llama.dispose();
    }
  });

  test("calls on one slot run in call order", async () => {
    const llama = await Llama.load(testLoadOptions({ slots: 1 }));
    try {
      llama.createSlot(alice.id);
      llama.setSlot(alice.id);
      const calls = alice.turns.map((turn) => {
        llama.setPrompt(turn);
        return llama.generateCompleteText({ maxTokens: 32 });
      });
      expect(await Promise.all(calls)).toEqual(solo.get(alice.id));
    } finally {
      await llama.dispose();
    }
  });
});
