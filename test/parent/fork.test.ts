// scope.fork(): a new scope holding a copy of a conversation, whether the origin holds a slot or
// is frozen, that continues exactly like the origin until they are given different prompts.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { DisposedError, type LlamaParent, type LlamaScope } from "../../src/index.js";
import { startParent } from "../support/parents.js";

const OPTIONS = { maxTokens: 24 };
const SYSTEM =
  "You are a storyteller. Every story you tell is about a cat who lives by the sea, and it ends with a happy moral for small children to remember.";

let parent: LlamaParent;
beforeAll(async () => (parent = await startParent({ slots: 3 })));
afterAll(() => parent.dispose());

async function chatWithTurns(turns = ["Tell me a story.", "What happened next?"]): Promise<LlamaScope> {
  const scope = parent.getScope({ mode: "chat", systemPrompt: SYSTEM });
  for (const turn of turns) await scope.sendPrompt(turn, OPTIONS);
  return scope;
}

/** Both scopes' replies to the same prompt, one after the other. */
async function bothReply(a: LlamaScope, b: LlamaScope, prompt: string): Promise<[string, string]> {
  const first = await a.sendPrompt(prompt, OPTIONS);
  return [first, await b.sendPrompt(prompt, OPTIONS)];
}

describe("forks", () => {
  test("a chat scope's fork has its history and replies like it; then each goes its own way", async () => {
    const origin = await chatWithTurns();
    const restores = parent.stats().restores;
    const fork = await origin.fork();
    expect(fork.id).not.toBe(origin.id);
    expect(fork.mode).toBe("chat");
    expect(await fork.getChatHistory()).toEqual(await origin.getChatHistory());
    expect(await fork.tokenCount()).toBe(await origin.tokenCount());
    const [a, b] = await bothReply(origin, fork, "Why was it sad?");
    expect(b).toBe(a);
    // Different prompts from here: each history has its own, and the other is untouched.
    await origin.sendPrompt("Tell me about the sea.", OPTIONS);
    await fork.sendPrompt("Tell me about a dog.", OPTIONS);
    const [originHistory, forkHistory] = [await origin.getChatHistory(), await fork.getChatHistory()];
    expect(originHistory.at(-2)).toEqual({ type: "user", text: "Tell me about the sea." });
    expect(forkHistory.at(-2)).toEqual({ type: "user", text: "Tell me about a dog." });
    expect(forkHistory.slice(0, -2)).toEqual(originHistory.slice(0, -2));
    // A slot was free: the engine copied the cache, nothing went through frozen bytes.
    expect(parent.stats().restores).toBe(restores);
    await Promise.all([origin.dispose(), fork.dispose()]);
  });

  test("a completion scope's fork holds the prompts sent before it, not those sent after", async () => {
    const origin = parent.getScope();
    const sent = origin.sendPrompt("Once upon a time, Lily", OPTIONS); // not awaited: the fork waits for it
    const forking = origin.fork();
    const after = origin.sendPrompt("\nShe said,", OPTIONS); // sent after: not in the fork
    const fork = await forking;
    await Promise.all([sent, after]);
    expect(fork.mode).toBe("completion");
    const expected = parent.getScope();
    await expected.sendPrompt("Once upon a time, Lily", OPTIONS);
    expect(await fork.tokenCount()).toBe(await expected.tokenCount());
    const [a, b] = await bothReply(expected, fork, "\nThe next day");
    expect(b).toBe(a);
    await Promise.all([origin, fork, expected].map((scope) => scope.dispose()));
  });

  test("a fork of a frozen scope starts frozen, from the origin's bytes, and replies like it", async () => {
    const origin = await chatWithTurns();
    const others = [parent.getScope(), parent.getScope(), parent.getScope()];
    for (const other of others) await other.sendPrompt("Once upon a time", { maxTokens: 4 });
    expect(parent.stats().scopes.frozen).toBe(1); // the origin: three slots, four scopes
    const fork = await origin.fork();
    expect(parent.stats().scopes.frozen).toBe(2);
    expect(fork.mode).toBe("chat");
    expect(await fork.getChatHistory()).toEqual(await origin.getChatHistory());
    const [a, b] = await bothReply(origin, fork, "Why was it sad?");
    expect(b).toBe(a);
    await Promise.all([origin, fork, ...others].map((scope) => scope.dispose()));
  });

  test("with every slot held, a resident scope's fork comes from its bytes, without taking a slot", async () => {
    const origin = await chatWithTurns();
    const others = [parent.getScope(), parent.getScope()];
    for (const other of others) await other.sendPrompt("Once upon a time", { maxTokens: 4 });
    const { slots, scopes, freezes } = parent.stats();
    expect(slots.held).toBe(3);
    const fork = await origin.fork();
    expect(parent.stats().scopes).toMatchObject({ resident: scopes.resident, frozen: scopes.frozen + 1 });
    expect(parent.stats().freezes).toBe(freezes);
    const [a, b] = await bothReply(origin, fork, "Why was it sad?");
    expect(b).toBe(a);
    await Promise.all([origin, fork, ...others].map((scope) => scope.dispose()));
  });

  test("a fork of a scope that never prompted starts as the origin was created, without a slot", async () => {
    const origin = parent.getScope({ mode: "chat", systemPrompt: SYSTEM, contextShift: { size: 16 } });
    const held = parent.stats().slots.held;
    const fork = await origin.fork();
    expect(parent.stats().slots.held).toBe(held);
    expect(await fork.getChatHistory()).toEqual([{ type: "system", text: SYSTEM }]);
    const grandchild = await fork.fork();
    expect(await grandchild.getChatHistory()).toEqual([{ type: "system", text: SYSTEM }]);
    const [a, b] = await bothReply(origin, fork, "Tell me a story.");
    expect(b).toBe(a);
    expect(await grandchild.sendPrompt("Tell me a story.", OPTIONS)).toBe(a);
    await Promise.all([origin.dispose(), fork.dispose(), grandchild.dispose()]);
  });

  test("a fork outlives its origin, forks of forks work, a disposed scope cannot fork", async () => {
    const origin = await chatWithTurns(["Tell me a story."]);
    const fork = await origin.fork();
    await origin.dispose();
    await expect(origin.fork()).rejects.toBeInstanceOf(DisposedError);
    const grandchild = await fork.fork();
    const [a, b] = await bothReply(fork, grandchild, "What happened next?");
    expect(b).toBe(a);
    expect(await grandchild.getChatHistory()).toEqual(await fork.getChatHistory());
    await Promise.all([fork.dispose(), grandchild.dispose()]);
  });

  test("scopeCreated for every fork, slotCreated when it was copied into a slot", async () => {
    const events: string[] = [];
    const created = (id: string) => events.push(`scope ${id}`);
    const slotted = (id: string) => events.push(`slot ${id}`);
    parent.on("scopeCreated", created);
    parent.on("slotCreated", slotted);
    try {
      const origin = await chatWithTurns(["Tell me a story."]);
      events.length = 0;
      const fork = await origin.fork();
      expect(events).toEqual([`scope ${fork.id}`, `slot ${fork.id}`]);
      await Promise.all([origin.dispose(), fork.dispose()]);
    } finally {
      parent.off("scopeCreated", created);
      parent.off("slotCreated", slotted);
    }
  });
});

test("process isolation: forks, copied or from bytes, survive a kill -9 of the engine like any scope", async () => {
  const isolated = await startParent({ slots: 2, isolation: "process" });
  try {
    const origin = isolated.getScope({ mode: "chat", systemPrompt: SYSTEM });
    await origin.sendPrompt("Tell me a story.", OPTIONS);
    const copied = await origin.fork(); // a slot was free
    const fromBytes = await origin.fork(); // none was: from the origin's bytes
    expect(isolated.stats().scopes).toMatchObject({ resident: 2, frozen: 1 });
    const restarted = new Promise((resolve) => isolated.once("engineRestarted", resolve));
    process.kill(isolated.engine.pid!, "SIGKILL");
    await restarted;
    const replies = [];
    for (const scope of [origin, copied, fromBytes]) replies.push(await scope.sendPrompt("What happened next?", OPTIONS));
    expect(new Set(replies).size).toBe(1);
    expect(await copied.getChatHistory()).toEqual(await origin.getChatHistory());
  } finally {
    await isolated.dispose();
  }
});
