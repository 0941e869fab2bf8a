// The prefix cache: chat scopes that start like an earlier one (the same system prompt, the same
// template conversation) load that start instead of evaluating it, and reply exactly as they
// would have without it.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  InvalidArgumentError,
  LlamaLoad,
  type ChatHistoryItem,
  type LlamaParent,
  type PrefixCacheStats,
  type ScopeOptions,
} from "../../src/index.js";
import { startParent } from "../support/parents.js";
import { testLoadOptions } from "../support/testModel.js";

const OPTIONS = { maxTokens: 24 };
/** System prompts of about 40 tokens each (the cache keeps prefixes of 32 tokens and more). */
const SYSTEMS = ["a cat", "a dog", "a bird", "a fish"].map(
  (animal) =>
    `You are a storyteller. Every story you tell is about ${animal} who lives by the sea, and it ends with a happy moral for small children to remember.`,
);
const QUESTIONS = ["Tell me a story.", "What happened next?", "Why was it sad?"];
/** A template conversation whose system prompt no test stores by itself. */
const TEMPLATE: ChatHistoryItem[] = [
  { type: "system", text: SYSTEMS[0]!.replace("a cat", "a horse") },
  { type: "user", text: "Tell me a story." },
  { type: "model", response: ["Once upon a time there was a cat. The cat lived by the sea and liked to play."] },
];

/** The parent's prefix cache counts since `before`; bytes and entries as they are now. */
function since(parent: LlamaParent, before: PrefixCacheStats): PrefixCacheStats {
  const now = parent.stats().prefixCache;
  const delta = (key: "hits" | "misses" | "copies" | "evictions") => now[key] - before[key];
  return {
    hits: delta("hits"),
    misses: delta("misses"),
    copies: delta("copies"),
    evictions: delta("evictions"),
    bytes: now.bytes,
    entries: now.entries,
  };
}

/** A new chat scope's first reply, the scope disposed afterwards. */
async function firstTurn(parent: LlamaParent, options: ScopeOptions, question = QUESTIONS[0]!) {
  const scope = parent.getScope({ mode: "chat", ...options });
  try {
    return await scope.generate(question, OPTIONS);
  } finally {
    await scope.dispose();
  }
}

describe("with the cache (the default) and without it", () => {
  let cached: LlamaParent;
  let uncached: LlamaParent;
  beforeAll(
    async () => ([cached, uncached] = await Promise.all([startParent({ slots: 2 }), startParent({ slots: 2, prefixCache: false })])),
  );
  afterAll(() => Promise.all([cached.dispose(), uncached.dispose()]));

  test("the second scope with a system prompt evaluates only its own turn; without the cache it evaluates everything again", async () => {
    const system = { systemPrompt: SYSTEMS[0]! };
    const before = cached.stats().prefixCache;
    const first = await firstTurn(cached, system);
    const second = await firstTurn(cached, system);
    expect(since(cached, before)).toMatchObject({ hits: 1, misses: 1, entries: 1 });
    expect(cached.stats().prefixCache.bytes).toBeGreaterThan(0);
    // The first evaluated the system prompt and its turn; the second its turn only.
    expect(second.promptTokenCount).toBeLessThan(first.promptTokenCount - 32);
    expect(second.text).toBe(first.text);

    const plain = [await firstTurn(uncached, system), await firstTurn(uncached, system)];
    expect(plain.map((result) => result.promptTokenCount)).toEqual([first.promptTokenCount, first.promptTokenCount]);
    expect(uncached.stats().prefixCache).toEqual({ hits: 0, misses: 0, copies: 0, evictions: 0, bytes: 0, entries: 0 });
  });

  test("cached and uncached scopes give identical replies, turn after turn, one scope at a time", async () => {
    const before = cached.stats().prefixCache;
    const conversations = async (parent: LlamaParent): Promise<string[]> => {
      const replies: string[] = [];
      for (const system of SYSTEMS.slice(0, 3))
        for (const opening of QUESTIONS.slice(0, 2)) {
          const scope = parent.getScope({ mode: "chat", systemPrompt: system });
          replies.push(await scope.sendPrompt(opening, OPTIONS));
          replies.push(await scope.sendPrompt(QUESTIONS[2]!, OPTIONS));
          // A scope started from this one's history shares all of it as its prefix.
          const history = await scope.getChatHistory();
          for (let i = 0; i < 2; i++) {
            const copy = parent.getScope({ mode: "chat", history });
            replies.push(await copy.sendPrompt("And then?", OPTIONS));
            await copy.dispose();
          }
          await scope.dispose();
        }
      return replies;
    };
    const withCache = await conversations(cached);
    expect(withCache).toEqual(await conversations(uncached));
    const counts = since(cached, before);
    // Per system prompt: the first opening misses (but SYSTEMS[0], stored by the test before), the
    // second hits; of each history's two copies the first misses (it loads the system prompt and
    // evaluates the rest) and the second hits.
    expect(counts).toMatchObject({ hits: 3 * 3 + 1, misses: 3 * 3 - 1 });
  });

  test("a scope started from a template conversation loads it; one that continues a stored system prompt loads that part", async () => {
    const before = cached.stats().prefixCache;
    const template = [await firstTurn(cached, { history: TEMPLATE }), await firstTurn(cached, { history: TEMPLATE })];
    const plain = await firstTurn(uncached, { history: TEMPLATE });
    expect(template.map((result) => result.text)).toEqual([plain.text, plain.text]);
    expect(template[0]!.promptTokenCount).toBe(plain.promptTokenCount);
    expect(template[1]!.promptTokenCount).toBeLessThan(plain.promptTokenCount - 64);
    expect(since(cached, before)).toMatchObject({ hits: 1, misses: 1 });

    // SYSTEMS[1] is stored as a prefix; a history that starts with it evaluates only the rest.
    await firstTurn(cached, { systemPrompt: SYSTEMS[1]! });
    const longer: ChatHistoryItem[] = [{ type: "system", text: SYSTEMS[1]! }, ...TEMPLATE.slice(1)];
    const partly = await firstTurn(cached, { history: longer });
    const whole = await firstTurn(uncached, { history: longer });
    expect(partly.text).toBe(whole.text);
    expect(partly.promptTokenCount).toBeLessThan(whole.promptTokenCount - 32);
  });

  test("a new scope copies a shared prefix from a resident scope that holds it (inside llama.cpp) and replies the same; without one it loads the stored state", async () => {
    const system = { systemPrompt: SYSTEMS[2]! };
    const resident = cached.getScope({ mode: "chat", ...system });
    const residentReply = await resident.generate(QUESTIONS[0]!, OPTIONS);
    const before = cached.stats().prefixCache;
    const copied = await firstTurn(cached, system); // the resident scope is idle: its slot is copied
    expect(since(cached, before)).toMatchObject({ hits: 1, misses: 0, copies: 1 });
    const plain = await firstTurn(uncached, system);
    expect(copied.text).toBe(plain.text);
    expect(residentReply.text).toBe(plain.text);
    expect(copied.promptTokenCount).toBeLessThan(plain.promptTokenCount - 32);
    await resident.dispose();
    const loaded = await firstTurn(cached, system); // nobody holds it now: the stored state
    expect(since(cached, before)).toMatchObject({ hits: 2, misses: 0, copies: 1 });
    expect(loaded.text).toBe(plain.text);
    expect(loaded.promptTokenCount).toBe(copied.promptTokenCount);
  });

  test("scopes starting at the same time evaluate a new prefix once", async () => {
    const before = cached.stats().prefixCache;
    const results = await Promise.all([0, 1].map(() => firstTurn(cached, { systemPrompt: SYSTEMS[3]! })));
    expect(since(cached, before)).toMatchObject({ hits: 1, misses: 1 });
    expect(Math.min(...results.map((result) => result.promptTokenCount))).toBeLessThan(
      Math.max(...results.map((result) => result.promptTokenCount)) - 32,
    );
  });

  test("cacheHistory: false stores a history's system prompt, never the history itself; a stored history is loaded all the same", async () => {
    const history: ChatHistoryItem[] = [{ type: "system", text: SYSTEMS[0]!.replace("a cat", "a fox") }, ...TEMPLATE.slice(1)];
    const own = { history, cacheHistory: false };
    const plain = await firstTurn(uncached, { history });
    const start = cached.stats().prefixCache.entries;
    const first = await firstTurn(cached, own);
    expect(cached.stats().prefixCache.entries).toBe(start + 1); // the system prompt alone
    const second = await firstTurn(cached, own); // loads the system prompt, evaluates the history again
    expect(cached.stats().prefixCache.entries).toBe(start + 1);
    expect(second.promptTokenCount).toBeLessThan(first.promptTokenCount - 32);
    const shared = await firstTurn(cached, { history }); // the default: the history is stored
    expect(cached.stats().prefixCache.entries).toBe(start + 2);
    const loaded = await firstTurn(cached, own); // and loaded, whoever stored it
    expect(loaded.promptTokenCount).toBeLessThan(second.promptTokenCount - 32);
    expect([first, second, shared, loaded].map((result) => result.text)).toEqual(Array(4).fill(plain.text));
    expect([first.promptTokenCount, second.promptTokenCount]).toEqual([plain.promptTokenCount, shared.promptTokenCount]);
    expect(() => cached.getScope({ mode: "chat", cacheHistory: "no" as never })).toThrow(InvalidArgumentError);
    expect(() => cached.getScope({ cacheHistory: false })).toThrow(/cacheHistory belongs to chat scopes/);
  });

  test("prefixes shorter than minTokens are evaluated as before, not stored", async () => {
    const before = cached.stats().prefixCache;
    const short = { systemPrompt: "Hi" }; // 31 tokens rendered with the test model's template
    const results = [await firstTurn(cached, short), await firstTurn(cached, short)];
    expect(results[1]!.promptTokenCount).toBe(results[0]!.promptTokenCount);
    expect(since(cached, before)).toMatchObject({ hits: 0, misses: 0, entries: before.entries });
  });
});

describe("the cache's budget", () => {
  let entryBytes: number;
  beforeAll(async () => {
    const parent = await startParent({ slots: 1 });
    await firstTurn(parent, { systemPrompt: SYSTEMS[0]! });
    entryBytes = parent.stats().prefixCache.bytes;
    await parent.dispose();
  });

  test("past maxBytes the least recently used prefix goes", async () => {
    const maxBytes = Math.floor(2.5 * entryBytes); // room for two
    const parent = await startParent({ slots: 1, prefixCache: { maxBytes } });
    try {
      const run = async (system: number) => firstTurn(parent, { systemPrompt: SYSTEMS[system]! });
      await run(0);
      await run(1);
      expect(parent.stats().prefixCache).toMatchObject({ misses: 2, evictions: 0, entries: 2 });
      await run(2); // 0 goes
      expect(parent.stats().prefixCache).toMatchObject({ misses: 3, evictions: 1, entries: 2 });
      await run(1); // a hit: 1 is now the most recently used
      await run(3); // so 2 goes, not 1
      await run(1);
      expect(parent.stats().prefixCache).toMatchObject({ hits: 2, misses: 4, evictions: 2, entries: 2 });
      await run(2);
      await run(0);
      expect(parent.stats().prefixCache).toMatchObject({ hits: 2, misses: 6, evictions: 4, entries: 2 });
      expect(parent.stats().prefixCache.bytes).toBeLessThanOrEqual(maxBytes);
    } finally {
      await parent.dispose();
    }
  });

  test("a prefix larger than maxBytes is never stored", async () => {
    const parent = await startParent({ slots: 1, prefixCache: { maxBytes: Math.floor(entryBytes / 2) } });
    try {
      const results = [await firstTurn(parent, { systemPrompt: SYSTEMS[0]! }), await firstTurn(parent, { systemPrompt: SYSTEMS[0]! })];
      expect(results[1]!.promptTokenCount).toBe(results[0]!.promptTokenCount);
      expect(results[1]!.text).toBe(results[0]!.text);
      expect(parent.stats().prefixCache).toEqual({ hits: 0, misses: 2, copies: 0, evictions: 0, bytes: 0, entries: 0 });
    } finally {
      await parent.dispose();
    }
  });

  test("minTokens sets the shortest prefix kept", async () => {
    const parent = await startParent({ slots: 1, prefixCache: { minTokens: 4 } });
    try {
      const short = { systemPrompt: "Hi" }; // 31 tokens rendered with the test model's template
      const results = [await firstTurn(parent, short), await firstTurn(parent, short)];
      expect(results[1]!.promptTokenCount).toBeLessThan(results[0]!.promptTokenCount);
      expect(parent.stats().prefixCache).toMatchObject({ hits: 1, misses: 1, entries: 1 });
    } finally {
      await parent.dispose();
    }
  });
});

test("the prefixCache option is checked like the other LlamaLoad options", () => {
  const load = (prefixCache: unknown) => new LlamaLoad(testLoadOptions({ prefixCache } as never));
  expect(load(undefined).prefixCache).toEqual({ maxBytes: 256 * 1024 * 1024, minTokens: 32 });
  expect(load({ maxBytes: 1024 }).prefixCache).toEqual({ maxBytes: 1024, minTokens: 32 });
  expect(load(false).prefixCache).toBe(false);
  expect(() => load({ maxByte: 1024 })).toThrow(/Unknown prefixCache option "maxByte": did you mean "maxBytes"\?/);
  for (const bad of [true, 42, "big", [], null, { maxBytes: 0 }, { maxBytes: -1 }, { maxBytes: 1.5 }, { maxBytes: "1" }, { minTokens: 0 }])
    expect(() => load(bad)).toThrow(InvalidArgumentError);
  expect(() => new LlamaLoad(testLoadOptions({ prefixcache: {} } as never))).toThrow(/did you mean "prefixCache"/);
});
