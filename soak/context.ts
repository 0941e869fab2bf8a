import type { LlamaParent, LlamaScope } from "../src/index.js";
import type { EngineKiller, EngineMark } from "./EngineKiller.js";
import type { Gate } from "./Gate.js";
import type { Ledger } from "./Ledger.js";
import type { OperationKind, ScopeKind } from "./operations.js";
import type { Snapshot } from "./snapshots.js";

/** What every loop of one soak run shares. */
export interface SoakContext {
  parent: LlamaParent;
  ledger: Ledger;
  gate: Gate;
  /** The engine killer (process isolation); undefined when nothing kills the engine. */
  killer: EngineKiller | undefined;
  seed: number;
  contextSize: number;
  maxPromptLength: number;
  /** When the random operations started (performance.now()), for the times in messages. */
  started: number;
  /** One slot large enough for a function's documentation (~550 tokens here): tool round trips run there. */
  toolParent: LlamaParent;
  /** Every text embedded in this run, its first vector and the engine's kills then: the same text must always give it again. */
  embeddings: Map<string, { vector: number[]; kills: number }>;
}

/** Seconds since the operations started, for messages: "at 63.2 s". */
export function elapsed(context: SoakContext): string {
  return `${((performance.now() - context.started) / 1000).toFixed(1)} s`;
}

/** One scope of a loop, with what the soak remembers of it. */
export interface PooledScope {
  /** `L<loop>.S<n>`: stable within a run, unlike the scope's random id. */
  name: string;
  scope: LlamaScope;
  kind: ScopeKind;
  /** How it was made: "new chat with system prompt 2", "fork of L1.S3 during a prompt", … */
  origin: string;
  /** Its snapshot when its last operation ended; undefined when it could not be read (the engine was killed). */
  baseline: Snapshot | undefined;
  /** A strict scope that has no room left: its prompts are refused, as documented. */
  full: boolean;
  /** Its last operations, to print with a violation. */
  log: string[];
}

/** One operation being carried out: where it is in the run, for messages that say how to reproduce it. */
export interface OperationRun {
  loop: number;
  index: number;
  kind: OperationKind;
  /** The engine's kills when it started. */
  started: EngineMark;
}

/** "seed 42, at 63.2 s, loop 2, op 57 (prompt), scope L2.S5 (chat, fork of L2.S1 during a prompt)". */
export function where(context: SoakContext, run: OperationRun, entry?: PooledScope): string {
  const scope = entry === undefined ? "" : `, scope ${entry.name} (${entry.kind}, ${entry.origin}, id ${entry.scope.id})`;
  return `seed ${context.seed}, at ${elapsed(context)}, loop ${run.loop}, op ${run.index} (${run.kind})${scope}`;
}

/** Appends to a scope's log, keeping the last few. */
export function logOperation(entry: PooledScope, run: OperationRun, text: string): void {
  entry.log.push(`op ${run.index} ${text}`);
  if (entry.log.length > 8) entry.log.shift();
}

/** The scope's last operations, for a violation's message. */
export function recent(entry: PooledScope): string {
  return entry.log.length === 0 ? "" : `\n    its last operations: ${entry.log.join(" | ")}`;
}
