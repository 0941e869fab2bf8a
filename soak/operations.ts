import { embedTexts, hugePrompt, normalPrompt, oversizedPrompt, randomWords, SYSTEM_PROMPTS } from "./prompts.js";
import type { Random } from "./random.js";

/**
 * The kinds of scope the soak makes: chat scopes (most with a system prompt), completion scopes
 * that shift their context, and "strict" completion scopes (`contextShift: false`) that fill up
 * and then refuse prompts, as documented.
 */
export type ScopeKind = "chat" | "completion" | "strict";

/** How to make a new scope. */
export interface NewScope {
  kind: ScopeKind;
  /** A chat scope's system prompt (most have one). */
  systemPrompt?: string;
}

/** One turn: the prompt's text and its `maxTokens`. */
export interface Turn {
  text: string;
  maxTokens: number;
}

/** One random operation, as plain data: the loop that drew it carries it out. */
export type Operation =
  /** A normal prompt, sent whole or streamed to its end. */
  | { kind: "prompt"; turn: Turn; via: "send" | "stream" }
  /** A streamed prompt stopped after `afterChunks` chunks, by its signal or by leaving the loop. */
  | { kind: "abortedStream"; turn: Turn; afterChunks: number; how: "signal" | "break" }
  /** 2–4 short turns sent to one scope at once (a completion scope sends them at once, a chat scope one after another). */
  | { kind: "burst"; turns: Turn[] }
  /** Several long turns in a row: they fill the 256-token slot and make it shift. */
  | { kind: "longTurns"; turns: Turn[] }
  /** A prompt that can never fit: refused by the engine ("engine") or by the parent's length bound ("parent"). */
  | { kind: "oversized"; text: string; where: "engine" | "parent" }
  /** A fork, of an idle scope or while a prompt of it runs, checked against its origin with `probe`. */
  | { kind: "fork"; during: Turn | undefined; probe: Turn }
  /**
   * saveState, then getScope({ state }) (`via: "state"`); or saved to the conversation store in
   * Redis, then opened from it (`via: "store"`). Taken while idle or while a prompt runs; checked with `probe`.
   */
  | { kind: "revive"; during: Turn | undefined; probe: Turn; via: "state" | "store" }
  /** saveState() of scope `source` of the loop (the same mode; maybe the target itself), then loadState() into the target. */
  | { kind: "loadState"; source: number }
  /** Dispose an idle scope. */
  | { kind: "dispose" }
  /** Dispose a scope while it streams a reply. */
  | { kind: "disposeMidStream"; turn: Turn; afterChunks: number }
  /** A new scope for the loop. */
  | { kind: "newScope"; scope: NewScope }
  /** `generateChoices(turn, n)`: at temperature 0, or above it with a seed (choice i samples with seed + i). */
  | { kind: "choices"; turn: Turn; n: number; temperature: number; seed: number }
  /** `parent.embed(texts)`, beside the other loops' generations; no scope involved. */
  | { kind: "embed"; texts: string[] }
  /** A chat scope's history, continued on the tool parent: a forced call, its result, then copies compared. */
  | { kind: "toolRoundTrip"; question: string; result: { sky: string; temperature: number } };

export type OperationKind = Operation["kind"];

export const OPERATION_KINDS: readonly OperationKind[] = [
  "prompt",
  "burst",
  "abortedStream",
  "longTurns",
  "oversized",
  "fork",
  "revive",
  "loadState",
  "dispose",
  "disposeMidStream",
  "newScope",
  "choices",
  "embed",
  "toolRoundTrip",
];

/** What the generator needs to know of a loop's scopes. */
export interface PoolView {
  kinds: readonly ScopeKind[];
  /** A strict scope that already refused for lack of room: the generator prefers to dispose it. */
  full: readonly boolean[];
}

/** Scopes each loop keeps: fewer makes a new one, more disposes one (forks and revivals add scopes). */
export const POOL = { min: 2, max: 4 };

/** How often each operation is drawn on a scope, relative to the others. */
const WEIGHTS = {
  prompt: 40,
  burst: 6,
  abortedStream: 10,
  longTurns: 6,
  oversized: 4,
  fork: 9,
  revive: 9,
  loadState: 4,
  dispose: 3,
  disposeMidStream: 3,
  // Modest: about one in 30 operations each, a few per loop in npm test's half-minute runs.
  choices: 3,
  embed: 3,
  toolRoundTrip: 2,
} as const;

/**
 * Draws the next operation of a loop and the index of the scope it works on (in the loop's pool;
 * -1 for a new scope). Depends only on `random` and the pool, so a loop's operations are fixed
 * by the seed as long as its operations end the same way.
 */
export function nextOperation(random: Random, pool: PoolView, maxPromptLength: number): { target: number; operation: Operation } {
  if (pool.kinds.length < POOL.min) return { target: -1, operation: { kind: "newScope", scope: newScope(random) } };
  const target = random.int(0, pool.kinds.length - 1);
  if (pool.kinds.length > POOL.max) return { target, operation: { kind: "dispose" } };
  const kind = pool.kinds[target]!;
  // A full strict scope refuses every prompt: give it a few more chances to show that its refusals change nothing.
  if (pool.full[target] && random.chance(0.5)) return { target, operation: { kind: "dispose" } };
  let chosen = random.weighted(WEIGHTS);
  if (chosen === "dispose" && pool.kinds.length <= POOL.min) chosen = "prompt";
  const turn = (min: number, max: number): Turn => ({ text: promptFor(kind, normalPrompt(random)), maxTokens: random.int(min, max) });
  switch (chosen) {
    case "prompt":
      return { target, operation: { kind: "prompt", turn: turn(4, 60), via: random.chance(0.3) ? "stream" : "send" } };
    case "burst":
      return { target, operation: { kind: "burst", turns: Array.from({ length: random.int(2, 4) }, () => turn(4, 16)) } };
    case "abortedStream":
      return {
        target,
        operation: {
          kind: "abortedStream",
          turn: turn(20, 60),
          afterChunks: random.int(0, 3),
          how: random.chance(0.6) ? "signal" : "break",
        },
      };
    case "longTurns":
      return { target, operation: { kind: "longTurns", turns: Array.from({ length: random.int(3, 6) }, () => turn(40, 60)) } };
    case "oversized":
      return random.chance(0.7)
        ? { target, operation: { kind: "oversized", text: promptFor(kind, oversizedPrompt(random)), where: "engine" } }
        : { target, operation: { kind: "oversized", text: hugePrompt(random, maxPromptLength), where: "parent" } };
    case "fork":
      return { target, operation: { kind: chosen, during: random.chance(0.5) ? turn(20, 60) : undefined, probe: turn(8, 32) } };
    case "revive": {
      const during = random.chance(0.5) ? turn(20, 60) : undefined;
      // A strict scope's copy must be strict too, which only getScope({ state, contextShift: false }) makes.
      const via = kind !== "strict" && random.chance(0.5) ? "store" : "state";
      return { target, operation: { kind: "revive", during, probe: turn(8, 32), via } };
    }
    case "loadState": {
      // A chat scope takes a chat scope's state (with its turns), a completion scope a completion scope's.
      const sameMode = pool.kinds.flatMap((other, i) => ((other === "chat") === (kind === "chat") ? [i] : []));
      return { target, operation: { kind: "loadState", source: random.pick(sameMode) } };
    }
    case "dispose":
      return { target, operation: { kind: "dispose" } };
    case "disposeMidStream":
      return { target, operation: { kind: "disposeMidStream", turn: turn(30, 60), afterChunks: random.int(0, 2) } };
    case "choices":
      // Not on strict scopes: n branches filling a strict slot would refuse, which the other operations check already.
      if (kind === "strict") return { target, operation: { kind: "prompt", turn: turn(4, 60), via: "send" } };
      return {
        target,
        operation: {
          kind: "choices",
          turn: turn(4, 40),
          n: random.int(2, 3),
          temperature: random.chance(0.5) ? 0 : 0.8,
          seed: random.int(1, 1000),
        },
      };
    case "embed":
      return { target, operation: { kind: "embed", texts: embedTexts(random) } };
    case "toolRoundTrip":
      if (kind !== "chat") return { target, operation: { kind: "prompt", turn: turn(4, 60), via: "send" } };
      return {
        target,
        operation: {
          kind: "toolRoundTrip",
          question: random.chance(0.5) ? "What is the weather?" : randomWords(random, random.int(3, 12)),
          result: { sky: random.pick(["sunny", "rain", "snow"]), temperature: random.int(-10, 30) },
        },
      };
  }
}

/** A new scope: half chat (most with a shared system prompt), the rest completion, some strict. */
export function newScope(random: Random): NewScope {
  const draw = random.next();
  if (draw < 0.5) return random.chance(0.85) ? { kind: "chat", systemPrompt: random.pick(SYSTEM_PROMPTS) } : { kind: "chat" };
  return draw < 0.85 ? { kind: "completion" } : { kind: "strict" };
}

/** A completion scope appends text as given: start each prompt on a new line, as a story's next sentence. */
function promptFor(kind: ScopeKind, text: string): string {
  return kind === "chat" ? text : "\n" + text;
}
