// Runs under its own isolations.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@jest/globals";
import type { Token } from "node-llama-cpp";
import { Llama, WorkerCrashedError, type LlamaParent, type LlamaScope, type RestartReport } from "../../src/index.js";
import { decodeState } from "../../src/state/StateFormat.js";
import { soloReplies } from "../support/conversations.js";
import { startParent } from "../support/parents.js";
import { testLoadOptions } from "../support/testModel.js";

const OPTIONS = { maxTokens: 16 };

function nextRestart(parent: LlamaParent): Promise<RestartReport> {
  return new Promise((resolve) => parent.once("engineRestarted", resolve));
}

/** The reply a fresh slot gives to `prompt` after exactly `history` (evaluated with the prompt, as a rebuilt scope's is). */
async function freshReply(llama: Llama, history: readonly number[], prompt: string): Promise<string> {
  llama.createSlot("fresh");
  llama.setSlot("fresh");
  await llama.setHistory(history as Token[]);
  llama.setPrompt(prompt);
  const reply = await llama.generateCompleteText(OPTIONS);
  await llama.freeSlot("fresh");
  return reply;
}

async function historyOf(scope: LlamaScope): Promise<number[]> {
  const { tokens, pending } = decodeState(await scope.saveState());
  return [...tokens, ...pending];
}

test("process isolation: kill -9 mid-generation; the host survives, calls in flight fail at once, every scope goes on", async () => {
  const parent = await startParent({ slots: 2, isolation: "process" });
  const reference = await Llama.load(testLoadOptions({ slots: 1 }));
  try {
    expect(parent.engine).toMatchObject({ isolation: "process", threadId: undefined, restarts: 0 });
    const firstPid = parent.engine.pid;
    expect(firstPid).not.toBe(process.pid);
    const scopes = [
      parent.getScope(),
      parent.getScope({ mode: "chat", systemPrompt: "You tell short stories." }),
      parent.getScope(),
      parent.getScope({ mode: "chat" }),
      parent.getScope(),
      parent.getScope(),
    ];
    const openings = [
      "Once upon a time",
      "Tell me about a cat.",
      "Tom had a big red ball.",
      "What is the sun?",
      "The dog ran",
      "Lily and Ben",
    ];
    for (const [i, scope] of scopes.entries()) await scope.sendPrompt(openings[i]!, OPTIONS);
    expect(parent.stats().scopes.frozen).toBe(4); // two slots: four scopes frozen, two resident
    const counts = await Promise.all(scopes.map((scope) => scope.tokenCount()));
    const chats = await Promise.all([scopes[1]!.getChatHistory(), scopes[3]!.getChatHistory()]);

    // A long reply on a resident scope; the engine is killed once it streams.
    const restarted = nextRestart(parent);
    const stream = scopes[5]!.streamPrompt("\nThe next day", { maxTokens: 2000 });
    await stream.next();
    const killedAt = performance.now();
    process.kill(firstPid!, "SIGKILL");
    await expect(stream.result).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(performance.now() - killedAt).toBeLessThan(1000);

    const report = await restarted;
    expect(report).toMatchObject({ attempt: 1, lostCalls: expect.any(Number) });
    expect(report.lostCalls).toBeGreaterThan(0);
    expect(parent.engine.restarts).toBe(1);
    expect(parent.engine.pid).not.toBe(firstPid);
    expect(await Promise.all(scopes.map((scope) => scope.tokenCount()))).toEqual(counts);
    expect(await Promise.all([scopes[1]!.getChatHistory(), scopes[3]!.getChatHistory()])).toEqual(chats);

    // Each scope's next greedy reply is a fresh conversation's given the same history.
    for (const scope of scopes) {
      const prompt = "\nThen";
      if (scope.mode === "chat") {
        const fresh = parent.getScope({ mode: "chat", history: await scope.getChatHistory() });
        expect(await scope.sendPrompt("And then?", OPTIONS)).toBe(await fresh.sendPrompt("And then?", OPTIONS));
        await fresh.dispose();
      } else {
        const history = await historyOf(scope);
        expect(await scope.sendPrompt(prompt, OPTIONS)).toBe(await freshReply(reference, history, prompt));
      }
    }
  } finally {
    await reference.dispose();
    await parent.dispose();
  }
});

test("a crash loop stops the restarts and leaves the parent failed", async () => {
  const parent = await startParent({ slots: 1, isolation: "process", restart: { maxRestarts: 1, windowMs: 60_000 } });
  try {
    const scope = parent.getScope();
    await scope.sendPrompt("Once upon a time", OPTIONS);
    const restarted = nextRestart(parent);
    const pid = parent.engine.pid!;
    process.kill(pid, "SIGKILL");
    while (parent.engine.pid === pid) await new Promise((resolve) => setTimeout(resolve, 1));
    // The death is known and the new engine not ready yet: a call made now waits, it is not refused.
    const waiting = scope.sendPrompt("\nThen", OPTIONS);
    expect(parent.engine.restarts).toBe(0);
    await restarted;
    const [alone] = (await soloReplies([{ id: "alone", turns: ["Once upon a time", "\nThen"] }], OPTIONS)).values();
    expect(await waiting).toBe(alone![1]); // as a scope that was never killed
    const failed = new Promise<WorkerCrashedError>((resolve) => parent.once("error", resolve));
    process.kill(parent.engine.pid!, "SIGKILL");
    expect(await failed).toBeInstanceOf(WorkerCrashedError);
    await expect(scope.sendPrompt("\nThen", OPTIONS)).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(() => parent.getScope()).toThrow(WorkerCrashedError);
    expect(parent.engine.restarts).toBe(1);
  } finally {
    await parent.dispose();
  }
});

test("thread isolation with restart: a JS-level death of the worker restarts it, and scopes go on", async () => {
  const parent = await startParent({ slots: 1, restart: true, isolation: "thread" });
  try {
    const [a, b] = [parent.getScope(), parent.getScope()];
    await a.sendPrompt("Once upon a time", OPTIONS);
    await b.sendPrompt("One day", OPTIONS); // a is frozen
    const counts = [await a.tokenCount(), await b.tokenCount()];
    const restarted = nextRestart(parent);
    expect(parent.engine.threadId).toBe(parent.worker!.threadId);
    await parent.worker!.terminate(); // idle: no native work to cut into
    await restarted;
    expect([await a.tokenCount(), await b.tokenCount()]).toEqual(counts);
    // Each goes on as a scope that ran alone, never killed.
    const alone = await soloReplies(
      [
        { id: "a", turns: ["Once upon a time", "\nThen"] },
        { id: "b", turns: ["One day", "\nThen"] },
      ],
      OPTIONS,
    );
    expect(await a.sendPrompt("\nThen", OPTIONS)).toBe(alone.get("a")![1]);
    expect(await b.sendPrompt("\nThen", OPTIONS)).toBe(alone.get("b")![1]);
  } finally {
    await parent.dispose();
  }
});

test("persistAll writes every scope to files a new parent revives exactly", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "persist-test-"));
  const first = await startParent({ slots: 1 });
  const second = await startParent({ slots: 1 });
  try {
    const scopes = [first.getScope(), first.getScope({ mode: "chat" })];
    await scopes[0]!.sendPrompt("Once upon a time", OPTIONS);
    await scopes[1]!.sendPrompt("Tell me about a cat.", OPTIONS); // the first is frozen now
    const files = await first.persistAll(dir);
    expect(files.map((f) => f.scopeId).sort()).toEqual(scopes.map((s) => s.id).sort());
    const expected = [await scopes[0]!.sendPrompt("\nThen", OPTIONS), await scopes[1]!.sendPrompt("And then?", OPTIONS)];
    const revived = await Promise.all(
      scopes.map(async (scope) => second.getScope({ state: await readFile(files.find((f) => f.scopeId === scope.id)!.file) })),
    );
    expect(revived[1]!.mode).toBe("chat");
    expect([await revived[0]!.sendPrompt("\nThen", OPTIONS), await revived[1]!.sendPrompt("And then?", OPTIONS)]).toEqual(expected);
  } finally {
    await Promise.all([first.dispose(), second.dispose()]);
    await rm(dir, { recursive: true, force: true });
  }
});

test("kill -9 during a chat generation: the scope goes on exactly as a copy that was never killed (case 7); lostCalls counts the calls callers saw fail", async () => {
  const turns = ["Tell me about a cat.", "What did the cat eat?", "Where did it sleep?"];
  const system = "You tell short stories about animals.";
  const control = await startParent({ slots: 1, isolation: "thread" });
  const parent = await startParent({ slots: 2, isolation: "process" });
  try {
    const alone = control.getScope({ mode: "chat", systemPrompt: system });
    const killed = parent.getScope({ mode: "chat", systemPrompt: system });
    for (const turn of turns.slice(0, 2)) {
      await alone.sendPrompt(turn, OPTIONS);
      await killed.sendPrompt(turn, OPTIONS);
    }
    const restarted = nextRestart(parent);
    const stream = killed.streamPrompt(turns[2]!, { maxTokens: 2000 });
    const other = parent.getScope().streamPrompt("Once upon a time", { maxTokens: 2000 });
    await Promise.all([stream.next(), other.next()]); // both generating
    const pulls = [stream.next(), other.next()].map((pull) => pull.catch(() => undefined)); // and both readers waiting for more
    process.kill(parent.engine.pid!, "SIGKILL");
    await Promise.all(pulls);
    await expect(stream.result).rejects.toBeInstanceOf(WorkerCrashedError);
    // The other reply may have reached its end of text before the kill.
    const otherLost = await other.result.then(
      () => 0,
      (error: unknown) => (expect(error).toBeInstanceOf(WorkerCrashedError), 1),
    );
    expect((await restarted).lostCalls).toBe(1 + otherLost); // the prompts (not the streams' pulls, which no caller sees)
    // The turn in flight is lost; the conversation is as before it, and goes on as the control's.
    expect(await killed.getChatHistory()).toEqual(await alone.getChatHistory());
    expect(await killed.tokenCount()).toBe(await alone.tokenCount());
    for (const turn of [turns[2]!, "Why?"]) expect(await killed.sendPrompt(turn, OPTIONS)).toBe(await alone.sendPrompt(turn, OPTIONS));
  } finally {
    await Promise.all([parent.dispose(), control.dispose()]);
  }
});

test("kill -9 during an embed call: it rejects with WorkerCrashedError (a lost call), and the next one on the new engine gives the same vectors", async () => {
  const parent = await startParent({ slots: 1, isolation: "process" });
  try {
    const texts = ["Once upon a time", "The dog ran to the park."];
    const before = await parent.embed(texts);
    const many = Array.from({ length: 1500 }, (_, i) => `Story ${i}: the cat sat on the mat and looked at the moon.`);
    const restarted = nextRestart(parent);
    const running = parent.embed(many); // sent at once: the engine cannot answer 1,500 texts before the kill
    process.kill(parent.engine.pid!, "SIGKILL");
    await expect(running).rejects.toBeInstanceOf(WorkerCrashedError);
    expect((await restarted).lostCalls).toBe(1);
    expect(await parent.embed(texts)).toEqual(before);
  } finally {
    await parent.dispose();
  }
});
