import { Llama, LlamaLoad, LlamaParent, type ChatHistoryItem, type LlamaScope, type ParentLoadOptions } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import { median, pairedRatio, textOfTokens, timed } from "./support.js";

export interface PrefixResult {
  /** Tokens of the system prompt alone, and of what a scope's first prompt evaluates without the cache. */
  systemPromptTokens: number;
  firstPromptTokens: number;
  /** Time to first token of the first scope with the system prompt: it evaluates and stores it. */
  firstScopeMs: number;
  /** The median time to first token of the next seven scopes: they copy it from a resident scope (or load it). */
  laterScopesMs: number;
  /** Median of the rounds' first ÷ later. */
  ratio: number;
  /** Time to first token of a scope on a parent with `prefixCache: false` (every scope is a first). */
  uncachedMs: number;
  /** The stored prefix's state, and the prompt tokens each later scope still evaluates. */
  stateBytes: number;
  laterPromptTokens: number;
  /** Whether every scope of a round, and the scope without the cache, gave the same reply (temperature 0). */
  identicalReplies: boolean;
  fork: ForkResult;
}

export interface ForkResult {
  historyTokens: number;
  /** `await scope.fork()` with a free slot (the engine copies the KV cache) and from a frozen origin (bytes). */
  copyMs: number;
  fromBytesMs: number;
  /** Time to first token of the fork's first prompt, after each (the bytes' includes the restore). */
  copyFirstTokenMs: number;
  fromBytesFirstTokenMs: number;
  /** Time to first token of a new scope given the same history: it evaluates all of it. */
  reevaluateFirstTokenMs: number;
  /** Re-evaluating ÷ (fork + its first token), for each way. */
  copySpeedup: number;
  fromBytesSpeedup: number;
  /** In the engine (no worker): `forkSlot` (llama.cpp's copy) and a saveState + loadState into a new slot. */
  engine: { forkSlotMs: number; saveLoadMs: number };
}

const SCOPES = 8;
const QUESTION = "Hello! When do you open?";
const SENTENCES = [
  "You are the assistant of a small family bakery by the harbour.",
  "Answer politely and briefly, in plain words, and only about bread, cakes, pastries and opening hours.",
  "The bakery opens at seven in the morning and closes at six in the evening, every day but Monday.",
  "Sourdough is baked twice a day, and the cinnamon rolls are ready at ten.",
  "If you do not know something, say so and suggest calling the shop.",
];

/** A system prompt of about `tokens` tokens of this model (a round number makes each round's prompt its own). */
function systemPrompt(modelPath: string, tokens: number, round: number): Promise<{ text: string; tokens: number }> {
  return textOfTokens(modelPath, tokens, SENTENCES, `Round ${round}.`);
}

/** Time to the first piece of the reply to `prompt` (the reply is then left to finish), the reply and the prompt tokens it evaluated. */
async function firstToken(scope: LlamaScope, prompt = QUESTION): Promise<{ ms: number; promptTokens: number; text: string }> {
  const start = performance.now();
  const stream = scope.streamPrompt(prompt, { maxTokens: 8 });
  await stream.next();
  const ms = performance.now() - start;
  for await (const chunk of stream) void chunk;
  const { promptTokenCount, text } = await stream.result;
  return { ms, promptTokens: promptTokenCount, text };
}

async function firstTokenMs(scope: LlamaScope, prompt?: string): Promise<number> {
  return (await firstToken(scope, prompt)).ms;
}

async function started(options: ParentLoadOptions): Promise<LlamaParent> {
  const parent = new LlamaParent(new LlamaLoad(options));
  await parent.init();
  return parent;
}

/**
 * Eight chat scopes sharing a system prompt of ~`tokens` tokens, one after another: the first
 * evaluates and stores it, the next seven copy it from the first (resident and idle) or load it.
 * Each round has a system prompt of its own, so its first scope always misses. Then forks against
 * re-evaluating the same history.
 */
export async function measurePrefix(modelPath: string, threads: number, rounds: number, tokens = 800): Promise<PrefixResult> {
  const load = testLoadOptions({ modelPath, threads, slots: SCOPES });
  const cached = await started(load);
  const uncached = await started({ ...load, prefixCache: false });
  const firsts: number[] = [];
  const laters: number[] = [];
  const plains: number[] = [];
  let systemPromptTokens = 0;
  let firstPromptTokens = 0;
  let laterPromptTokens = 0;
  let identicalReplies = true;
  try {
    for (let round = 0; round < rounds; round++) {
      const system = await systemPrompt(modelPath, tokens, round);
      systemPromptTokens = system.tokens;
      const scopes = Array.from({ length: SCOPES }, () => cached.getScope({ mode: "chat", systemPrompt: system.text }));
      const times: number[] = [];
      const replies = new Set<string>();
      for (const scope of scopes) {
        const { ms, promptTokens, text } = await firstToken(scope);
        times.push(ms);
        replies.add(text);
        laterPromptTokens = promptTokens;
      }
      firsts.push(times[0]!);
      laters.push(median(times.slice(1)));
      await Promise.all(scopes.map((scope) => scope.dispose()));
      const plainScope = uncached.getScope({ mode: "chat", systemPrompt: system.text });
      const plain = await firstToken(plainScope);
      await plainScope.dispose();
      plains.push(plain.ms);
      firstPromptTokens = plain.promptTokens;
      identicalReplies &&= replies.size === 1 && replies.has(plain.text);
    }
    const { bytes, entries } = cached.stats().prefixCache;
    return {
      systemPromptTokens,
      firstPromptTokens,
      firstScopeMs: median(firsts),
      laterScopesMs: median(laters),
      ratio: pairedRatio(firsts, laters),
      uncachedMs: median(plains),
      stateBytes: Math.round(bytes / entries),
      laterPromptTokens,
      identicalReplies,
      fork: await measureFork(uncached, modelPath, threads, rounds, tokens),
    };
  } finally {
    await Promise.all([cached.dispose(), uncached.dispose()]);
  }
}

/**
 * A chat conversation of the system prompt and three turns. Per round: a fork of it while it holds
 * a slot and one is free (copied by the engine), a fork of a frozen copy of it (from its bytes,
 * restored at the fork's first prompt), and a new scope given its history (re-evaluated); each
 * timed to the first token of the same prompt. On a parent without the prefix cache, so the
 * re-evaluation is a whole one.
 */
async function measureFork(parent: LlamaParent, modelPath: string, threads: number, rounds: number, tokens: number): Promise<ForkResult> {
  const system = await systemPrompt(modelPath, tokens, -1);
  const resident = parent.getScope({ mode: "chat", systemPrompt: system.text });
  for (const turn of ["Do you have rye bread?", "And on Sundays?", "Thank you!"]) await resident.sendPrompt(turn, { maxTokens: 32 });
  const history: ChatHistoryItem[] = await resident.getChatHistory();
  const frozen = parent.getScope({ state: await resident.saveState() }); // revived: frozen until used
  const copy = { fork: [] as number[], first: [] as number[] };
  const fromBytes = { fork: [] as number[], first: [] as number[] };
  const reevaluate: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [origin, times] of [
      [resident, copy],
      [frozen, fromBytes],
    ] as const) {
      const [fork, ms] = await timed(() => origin.fork());
      times.fork.push(ms);
      times.first.push(await firstTokenMs(fork, "Is it warm?"));
      await fork.dispose();
    }
    const fresh = parent.getScope({ mode: "chat", history });
    reevaluate.push(await firstTokenMs(fresh, "Is it warm?"));
    await fresh.dispose();
  }
  const historyTokens = await resident.tokenCount();
  await Promise.all([resident.dispose(), frozen.dispose()]);
  const total = (times: { fork: number[]; first: number[] }) => times.fork.map((ms, i) => ms + times.first[i]!);
  return {
    historyTokens,
    copyMs: median(copy.fork),
    fromBytesMs: median(fromBytes.fork),
    copyFirstTokenMs: median(copy.first),
    fromBytesFirstTokenMs: median(fromBytes.first),
    reevaluateFirstTokenMs: median(reevaluate),
    copySpeedup: pairedRatio(reevaluate, total(copy)),
    fromBytesSpeedup: pairedRatio(reevaluate, total(fromBytes)),
    engine: await measureEngineFork(modelPath, threads, rounds, historyTokens),
  };
}

/** In this thread: forkSlot (llama.cpp's copy) against saveState + loadState into a new slot, for a history of `tokens`. */
async function measureEngineFork(modelPath: string, threads: number, rounds: number, tokens: number): Promise<ForkResult["engine"]> {
  const llama = await Llama.load(testLoadOptions({ modelPath, threads, slots: 2 }));
  try {
    llama.createSlot("origin");
    llama.setSlot("origin");
    const filler = llama.model.tokenize(SENTENCES.join(" "));
    await llama.prefill(Array.from({ length: tokens }, (_, i) => filler[i % filler.length]!));
    const fork: number[] = [];
    const saveLoad: number[] = [];
    for (let round = 0; round < rounds; round++) {
      fork.push((await timed(() => llama.forkSlot("origin", "fork")))[1]);
      await llama.freeSlot("fork");
      saveLoad.push(
        (
          await timed(async () => {
            llama.setSlot("origin");
            const state = await llama.saveState();
            llama.createSlot("fork");
            llama.setSlot("fork");
            await llama.loadState(state);
          })
        )[1],
      );
      await llama.freeSlot("fork");
    }
    return { forkSlotMs: median(fork), saveLoadMs: median(saveLoad) };
  } finally {
    await llama.dispose();
  }
}
