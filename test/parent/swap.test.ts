import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  DisposedError,
  InvalidArgumentError,
  LlamaLoad,
  StateFormatError,
  StateMismatchError,
  WorkerCrashedError,
  readStateMeta,
  type LlamaParent,
  type LlamaScope,
  type SwapReport,
} from "../../src/index.js";
import { decodeState, encodeState } from "../../src/state/StateFormat.js";
import { manyConversations, shuffled, soloReplies, type Conversation } from "../support/conversations.js";
import { scratchDirOf, startParent } from "../support/parents.js";
import { runFixture } from "../support/runFixture.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

const OPTIONS = { maxTokens: 24 };
const CONVERSATIONS = manyConversations(12);
let solo: Map<string, string[]>;
const SEEDS = [1, 2];

beforeAll(async () => (solo = await soloReplies(CONVERSATIONS, OPTIONS)));

/** Every freeze and restore a parent reports, in order. */
function recordSwaps(parent: LlamaParent) {
  const frozen: [string, SwapReport][] = [];
  const restored: [string, SwapReport][] = [];
  parent.on("scopeFrozen", (id, report) => frozen.push([id, report]));
  parent.on("scopeRestored", (id, report) => restored.push([id, report]));
  return { frozen, restored };
}

/**
 * Sends each conversation's turns in `order`, a list of conversation ids (the k-th mention is turn
 * k), after the turns already in `replies`.
 */
async function runInOrder(
  scopes: Map<string, LlamaScope>,
  order: string[],
  replies = new Map<string, string[]>([...scopes.keys()].map((id) => [id, []])),
): Promise<Map<string, string[]>> {
  for (const id of order) {
    const conversation = CONVERSATIONS.find((c) => c.id === id)!;
    const done = replies.get(id)!;
    done.push(await scopes.get(id)!.sendPrompt(conversation.turns[done.length]!, OPTIONS));
  }
  return replies;
}

function turnOrder(conversations: Conversation[], seed: number): string[] {
  return shuffled(
    conversations.flatMap((c) => c.turns.map(() => c.id)),
    seed,
  );
}

describe("12 scopes on 2 slots", () => {
  test.each(SEEDS)(
    "turns in a shuffled order (seed %i): every conversation byte-identical to its solo run; events and stats add up",
    async (seed) => {
      const parent = await startParent({ slots: 2 });
      try {
        const swaps = recordSwaps(parent);
        const scopes = new Map(CONVERSATIONS.map((c) => [c.id, parent.getScope()]));
        const replies = await runInOrder(scopes, turnOrder(CONVERSATIONS, seed));
        for (const conversation of CONVERSATIONS) expect(replies.get(conversation.id)).toEqual(solo.get(conversation.id));

        const stats = parent.stats();
        expect(swaps.frozen.length).toBeGreaterThan(CONVERSATIONS.length); // most turns needed a swap
        expect(stats.freezes).toBe(swaps.frozen.length);
        expect(stats.restores).toBe(swaps.restored.length);
        expect(stats.freezes).toBe(stats.restores + stats.scopes.frozen);
        expect(stats.scopes).toEqual({ total: 12, resident: 2, frozen: 10 });
        expect(stats.slots).toEqual({ total: 2, held: 2, generating: 0 });
        expect(stats.queueDepth).toBe(0);
        expect(stats.frozenBytes.disk).toBe(0);

        // The bytes in RAM are exactly the last freeze of each scope still frozen.
        const lastFreeze = new Map(swaps.frozen.map(([id, report]) => [id, report.bytes]));
        const stillFrozen = [...scopes.values()].filter((scope) => !isResident(scope.id, swaps));
        expect(stillFrozen).toHaveLength(10);
        expect(stats.frozenBytes.ram).toBe(stillFrozen.reduce((sum, scope) => sum + lastFreeze.get(scope.id)!, 0));

        // A frozen scope's saveState is its frozen bytes, read from the parent.
        const frozenScope = stillFrozen[0]!;
        expect((await frozenScope.saveState()).byteLength).toBe(lastFreeze.get(frozenScope.id));
        expect(parent.stats().restores).toBe(stats.restores);

        for (const [, report] of [...swaps.frozen, ...swaps.restored]) {
          expect(report.storage).toBe("ram");
          expect(report.ms).toBeGreaterThan(0);
          expect(report.bytes).toBeGreaterThan(0);
        }

        await Promise.all([...scopes.values()].map((scope) => scope.dispose()));
        expect(parent.stats()).toMatchObject({
          scopes: { total: 0, resident: 0, frozen: 0 },
          frozenBytes: { ram: 0, disk: 0 },
          slots: { held: 0 },
        });
      } finally {
        await parent.dispose();
      }
    },
  );

  test("all 12 at once: scopes wait in the queue for busy slots, and every conversation is still exact", async () => {
    const parent = await startParent({ slots: 2 });
    try {
      const swaps = recordSwaps(parent);
      let deepestQueue = 0;
      let mostGenerating = 0;
      let mostHeld = 0;
      const sample = setInterval(() => {
        const { queueDepth, slots } = parent.stats();
        deepestQueue = Math.max(deepestQueue, queueDepth);
        mostGenerating = Math.max(mostGenerating, slots.generating);
        mostHeld = Math.max(mostHeld, slots.held);
      }, 1);
      const results = await Promise.all(
        CONVERSATIONS.map(async (conversation) => {
          const scope = parent.getScope();
          const replies: string[] = [];
          let tokens = 0;
          for (const turn of conversation.turns) {
            const result = await scope.generate(turn, OPTIONS);
            replies.push(result.text);
            tokens += result.tokenCount;
          }
          return { id: conversation.id, replies, tokens };
        }),
      ).finally(() => clearInterval(sample));
      for (const { id, replies } of results) expect(replies).toEqual(solo.get(id));
      expect(deepestQueue).toBeGreaterThan(0);
      expect(mostGenerating).toBe(2);
      expect(mostHeld).toBe(2);
      const stats = parent.stats();
      expect(stats.tokensGenerated).toBe(results.reduce((sum, r) => sum + r.tokens, 0));
      expect(stats.freezes).toBe(swaps.frozen.length);
      expect(stats.freezes).toBe(stats.restores + stats.scopes.frozen);
    } finally {
      await parent.dispose();
    }
  });
});

describe("waiting for a slot", () => {
  let parent: LlamaParent;
  beforeAll(async () => (parent = await startParent({ slots: 1 })));
  afterAll(() => parent.dispose());

  test("prompts wait in FIFO order while the only slot generates; a stream waits too", async () => {
    const [a, b, c] = [parent.getScope(), parent.getScope(), parent.getScope()];
    const finished: string[] = [];
    const long = a.sendPrompt("Once upon a time", { maxTokens: 300 }).then((text) => (finished.push("a"), text));
    const second = b.sendPrompt(CONVERSATIONS[0]!.turns[0]!, OPTIONS).then((text) => (finished.push("b"), text));
    const chunks: string[] = [];
    const third = (async () => {
      for await (const chunk of c.streamPrompt(CONVERSATIONS[1]!.turns[0]!, OPTIONS)) chunks.push(chunk);
      finished.push("c");
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(parent.stats()).toMatchObject({ queueDepth: 2, slots: { held: 1, generating: 1 } });
    await Promise.all([long, second, third]);
    expect(finished).toEqual(["a", "b", "c"]);
    expect(await second).toBe(solo.get(CONVERSATIONS[0]!.id)![0]);
    expect(chunks.join("")).toBe(solo.get(CONVERSATIONS[1]!.id)![0]);
    await Promise.all([a, b, c].map((scope) => scope.dispose()));
  });

  test("a prompt aborted or a scope disposed while waiting ends without a hang; the others go on", async () => {
    const [busy, aborted, disposed, last] = [parent.getScope(), parent.getScope(), parent.getScope(), parent.getScope()];
    const long = busy.sendPrompt("Once upon a time", { maxTokens: 400 });
    const controller = new AbortController();
    const abortedReply = aborted.generate("Once", { maxTokens: 50, signal: controller.signal });
    const disposedReply = disposed.sendPrompt("Once", OPTIONS);
    const lastReply = last.sendPrompt(CONVERSATIONS[2]!.turns[0]!, OPTIONS);
    const leftEarly = last.streamPrompt("Once", { maxTokens: 50 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(parent.stats().queueDepth).toBeGreaterThanOrEqual(3);
    controller.abort();
    await leftEarly.return!(); // before its prompt was sent: it is never sent
    await disposed.dispose();
    await expect(disposedReply).rejects.toBeInstanceOf(DisposedError);
    await expect(abortedReply).rejects.toMatchObject({ name: "AbortError" });
    expect(await lastReply).toBe(solo.get(CONVERSATIONS[2]!.id)![0]);
    expect(await leftEarly.next()).toEqual({ value: undefined, done: true });
    await expect(leftEarly.result).rejects.toMatchObject({ name: "AbortError" });
    // The left stream's prompt never joined the history, as with any prompt aborted before it starts.
    const reference = parent.getScope();
    await reference.sendPrompt(CONVERSATIONS[2]!.turns[0]!, OPTIONS);
    expect(await last.sendPrompt(" upon", OPTIONS)).toBe(await reference.sendPrompt(" upon", OPTIONS));
    await reference.dispose();
    await long;
    expect(parent.stats().queueDepth).toBe(0);
    await Promise.all([busy, aborted, last].map((scope) => scope.dispose()));
  });

  test("a chat scope frozen between turns continues exactly", async () => {
    const turns = ["Tell me a story about a cat.", "What did the cat eat?", "And then?"];
    const alone = parent.getScope({ mode: "chat" });
    const expected: string[] = [];
    for (const turn of turns) expected.push(await alone.sendPrompt(turn, OPTIONS));
    await alone.dispose();

    const swaps = recordSwaps(parent);
    const chat = parent.getScope({ mode: "chat" });
    const other = parent.getScope({ mode: "chat" });
    const replies: string[] = [];
    for (const turn of turns) {
      replies.push(await chat.sendPrompt(turn, OPTIONS));
      await other.sendPrompt("Tell me about a dog.", OPTIONS);
    }
    expect(replies).toEqual(expected);
    expect(swaps.frozen.filter(([id]) => id === chat.id)).toHaveLength(3);
    parent.removeAllListeners();
    await Promise.all([chat.dispose(), other.dispose()]);
  });
});

describe("spilling to disk", () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-swap-"))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("past maxRamBytes frozen scopes go to the spill file; conversations stay exact; nothing is ever named on disk", async () => {
    const parent = await startParent({ slots: 1, swap: { maxRamBytes: 20_000, dir } });
    const swaps = recordSwaps(parent);
    const conversations = CONVERSATIONS.slice(0, 4);
    const scopes = new Map(conversations.map((c) => [c.id, parent.getScope()]));
    const replies = await runInOrder(scopes, turnOrder(conversations, 7));
    for (const conversation of conversations) expect(replies.get(conversation.id)).toEqual(solo.get(conversation.id));

    const stats = parent.stats();
    expect(swaps.frozen.some(([, report]) => report.storage === "disk")).toBe(true);
    expect(swaps.restored.some(([, report]) => report.storage === "disk")).toBe(true);
    expect(stats.frozenBytes.ram).toBeLessThanOrEqual(20_000);
    expect(stats.frozenBytes.disk).toBeGreaterThan(0);
    expect(await readdir(dir)).toEqual([]); // one unlinked file: no name, no directory

    // Disposing a frozen scope on disk gives its bytes back.
    const lastFreeze = new Map(swaps.frozen.map(([id, report]) => [id, report]));
    const onDisk = [...scopes.values()].filter((scope) => !isResident(scope.id, swaps) && lastFreeze.get(scope.id)!.storage === "disk");
    expect(onDisk.length).toBeGreaterThan(0);
    await onDisk[0]!.dispose();
    expect(parent.stats().frozenBytes.disk).toBe(stats.frozenBytes.disk - lastFreeze.get(onDisk[0]!.id)!.bytes);

    await parent.dispose();
    expect(await readdir(dir)).toEqual([]);
  });

  test("a tmp cleaner deleting the spill directory loses no frozen scope: each continues exactly", async () => {
    const spillDir = await mkdtemp(path.join(dir, "cleaned-"));
    const parent = await startParent({ slots: 2, swap: { maxRamBytes: 0, dir: spillDir } });
    try {
      const scopes = new Map(CONVERSATIONS.map((c) => [c.id, parent.getScope()]));
      const replies = await runInOrder(
        scopes,
        CONVERSATIONS.map((c) => c.id),
      ); // first turns: 10 frozen, all on disk
      expect(parent.stats()).toMatchObject({ scopes: { frozen: 10 }, frozenBytes: { ram: 0 } });
      expect(parent.stats().frozenBytes.disk).toBeGreaterThan(0);

      for (const name of await readdir(spillDir)) await rm(path.join(spillDir, name), { recursive: true, force: true });
      await rm(spillDir, { recursive: true, force: true });
      expect(existsSync(spillDir)).toBe(false);

      await runInOrder(
        scopes,
        [1, 2].flatMap(() => CONVERSATIONS.map((c) => c.id)),
        replies,
      );
      for (const conversation of CONVERSATIONS) expect(replies.get(conversation.id)).toEqual(solo.get(conversation.id));
    } finally {
      await parent.dispose();
    }
  });

  test("swap options are checked in the caller's thread", () => {
    expect(() => new LlamaLoad(testLoadOptions({ swap: { maxRamBytes: -1 } } as never))).toThrow(InvalidArgumentError);
    expect(() => new LlamaLoad(testLoadOptions({ swap: { dir: path.join(dir, "missing") } } as never))).toThrow(/not a directory/);
    expect(() => new LlamaLoad(testLoadOptions({ swap: "yes" } as never))).toThrow(InvalidArgumentError);
  });
});

describe("scopes that outlive their parent", () => {
  const [alice] = CONVERSATIONS as [Conversation];
  const expectedAfterFirst = () => solo.get(alice.id)!.slice(1);

  async function continueIn(parent: LlamaParent, state: Uint8Array): Promise<string[]> {
    const revived = parent.getScope({ state });
    const replies: string[] = [];
    for (const turn of alice.turns.slice(1)) replies.push(await revived.sendPrompt(turn, OPTIONS));
    return replies;
  }

  test("a state saved in another process revives in a new parent and continues exactly; another model's is refused", async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-revive-")), "alice.llstate");
    const run = await runFixture("saveFrozenScope", {
      env: { LLAMA_SCOPE_STATE_FILE: file, LLAMA_SCOPE_MAX_TOKENS: String(OPTIONS.maxTokens) },
    });
    expect(run.code).toBe(0);
    const state = new Uint8Array(await readFile(file));
    await rm(path.dirname(file), { recursive: true, force: true });
    // It was frozen when saved: the bytes came from the parent's store, as frozen.
    expect(run.report).toEqual({ bytes: state.byteLength, frozenBytes: state.byteLength });

    const second = await startParent({ slots: 1 });
    try {
      const swaps = recordSwaps(second);
      expect(await continueIn(second, state)).toEqual(expectedAfterFirst());
      expect(swaps.restored).toHaveLength(1);
      expect(() => second.getScope({ state: state.subarray(0, state.length - 1) })).toThrow(StateFormatError);
      expect(second.stats().scopes.total).toBe(1);
    } finally {
      await second.dispose();
    }

    const other = await startParent({ slots: 2, modelPath: otherModelPath() });
    try {
      // Nothing else is touched: a scope there goes on exactly as an untouched control scope.
      const [bystander, control] = [other.getScope(), other.getScope()];
      await Promise.all([bystander, control].map((scope) => scope.sendPrompt("Hello", { maxTokens: 4 })));
      expect(() => other.getScope({ state })).toThrow(StateMismatchError);
      expect(other.stats().scopes).toEqual({ total: 2, resident: 2, frozen: 0 });
      expect(await bystander.sendPrompt(" again", { maxTokens: 8 })).toBe(await control.sendPrompt(" again", { maxTokens: 8 }));
    } finally {
      await other.dispose();
    }
  });

  test("a chat scope's state carries its turns: revived elsewhere, it continues in chat mode exactly", async () => {
    const turns = ["Tell me a story about a cat.", "What did the cat eat?", "And then?"];
    const first = await startParent({ slots: 1 });
    const expected: string[] = [];
    let state: Uint8Array;
    try {
      const alone = first.getScope({ mode: "chat" });
      for (const turn of turns) expected.push(await alone.sendPrompt(turn, OPTIONS));
      const chat = first.getScope({ mode: "chat" }); // takes the slot: `alone` is frozen
      await chat.sendPrompt(turns[0]!, OPTIONS);
      state = await chat.saveState();
      expect(readStateMeta(state)).toMatchObject({
        chatTurns: [
          { type: "user", text: turns[0] },
          { type: "model", response: [expected[0]] },
        ],
      });
    } finally {
      await first.dispose();
    }

    const second = await startParent({ slots: 2 });
    try {
      const revived = second.getScope({ state });
      expect(revived.mode).toBe("chat");
      const replies: string[] = [];
      for (const turn of turns.slice(1)) replies.push(await revived.sendPrompt(turn, OPTIONS));
      expect(replies).toEqual(expected.slice(1));

      // The turns are what makes it exact: the same bytes without them continue differently.
      const decoded = decodeState(state);
      const withoutTurns = encodeState({ ...decoded, header: { model: decoded.header.model, layout: decoded.header.layout } });
      const amnesic = second.getScope({ mode: "chat" });
      await amnesic.loadState(withoutTurns);
      expect(await amnesic.sendPrompt(turns[1]!, OPTIONS)).not.toBe(expected[1]);
    } finally {
      await second.dispose();
    }
  });

  test("a worker crash does not lose frozen scopes: their bytes are in the parent and revive exactly", async () => {
    const parent = await startParent({ slots: 1, isolation: "thread" }); // a thread without restarts: the crash is final
    const swaps = recordSwaps(parent);
    const frozenScope = parent.getScope();
    const resident = parent.getScope();
    await frozenScope.sendPrompt(alice.turns[0]!, OPTIONS);
    await resident.sendPrompt("Once upon a time", OPTIONS);
    expect(swaps.frozen.map(([id]) => id)).toEqual([frozenScope.id]);

    const scratchDir = scratchDirOf(parent)!; // the worker's state files
    expect(existsSync(scratchDir)).toBe(true);
    const crashed = new Promise((resolve) => parent.once("error", resolve));
    await parent.worker!.terminate();
    expect(await crashed).toBeInstanceOf(WorkerCrashedError);
    expect(parent.stats().scopes.frozen).toBe(1);
    const state = await frozenScope.saveState();
    expect(state.byteLength).toBe(swaps.frozen[0]![1].bytes);
    await expect(resident.saveState()).rejects.toBeInstanceOf(WorkerCrashedError);
    await expect(frozenScope.sendPrompt("more")).rejects.toBeInstanceOf(WorkerCrashedError);
    await parent.dispose();
    expect(existsSync(scratchDir)).toBe(false); // the dead worker could not remove it; the parent did

    const next = await startParent({ slots: 1 });
    try {
      expect(await continueIn(next, state)).toEqual(expectedAfterFirst());
    } finally {
      await next.dispose();
    }
  });
});

/** Whether the scope holds a slot now: its last swap event was a restore, or it never froze. */
function isResident(id: string, swaps: ReturnType<typeof recordSwaps>): boolean {
  const frozenCount = swaps.frozen.filter(([frozen]) => frozen === id).length;
  const restoredCount = swaps.restored.filter(([restored]) => restored === id).length;
  return frozenCount === restoredCount;
}
