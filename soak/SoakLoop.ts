// Over 350 lines as one idea: the soak's operations, one method each, carried out and checked the same way.
import type { GenerationResult, LlamaScope, PromptStream, ScopeOptions } from "../src/index.js";
import { compareCopy, replayAlone, stateDifferences, type Replay } from "./copies.js";
import { choices, embed, toolRoundTrip } from "./features.js";
import { recent, where, type OperationRun, type PooledScope, type SoakContext } from "./context.js";
import { Invariants } from "./invariants.js";
import { nextOperation, newScope, type NewScope, type Operation, type Turn } from "./operations.js";
import { Random } from "./random.js";
import { clip, describeSnapshot, snapshotDifference, type Snapshot } from "./snapshots.js";

/** Scopes a loop makes before its random operations start. */
const INITIAL_SCOPES = 3;

/**
 * An operation that has not ended after this long is hung: a generation here is at most 60
 * tokens of a 260K-parameter model (milliseconds), a restart of the engine takes seconds.
 */
const HANG_MS = 60_000;

/**
 * One of the soak's concurrent loops: it owns its scopes (no other loop touches them, which is
 * what makes "no change while idle" checkable) and runs random operations on them, one at a time,
 * until the deadline. Its random stream is its own, derived from the seed.
 */
export class SoakLoop {
  private readonly pool: PooledScope[] = [];
  private readonly random: Random;
  private readonly invariants: Invariants;
  private made = 0;
  private index = 0;
  /** Conversations this loop saved to the store: each under a name of its own. */
  private stored = 0;

  constructor(
    private readonly context: SoakContext,
    readonly loop: number,
  ) {
    this.random = Random.derive(context.seed, `loop ${loop}`);
    this.invariants = new Invariants(context);
  }

  /** Runs operations until `deadline` (a performance.now() time); false if one hung. */
  async run(deadline: number): Promise<boolean> {
    for (let i = 0; i < INITIAL_SCOPES; i++)
      if (!(await this.step({ target: -1, operation: { kind: "newScope", scope: newScope(this.random) } }))) return false;
    while (performance.now() < deadline) {
      const view = { kinds: this.pool.map((entry) => entry.kind), full: this.pool.map((entry) => entry.full) };
      if (!(await this.step(nextOperation(this.random, view, this.context.maxPromptLength)))) return false;
    }
    return true;
  }

  /** After the run: a last idle check of every scope, then dispose them all. */
  async finish(): Promise<void> {
    const run = this.nextRun("dispose");
    for (const entry of this.pool.splice(0)) {
      await this.invariants.checkIdle(run, entry);
      await this.invariants.attempt(run, entry, "dispose() at the end", () => entry.scope.dispose());
    }
  }

  /** One operation, under the shared gate, then (rarely) a replay that needs the engine alone. */
  private async step({ target, operation }: { target: number; operation: Operation }): Promise<boolean> {
    const run = this.nextRun(operation.kind);
    this.context.ledger.operation(operation.kind);
    const entry = this.pool[target];
    // A hung operation leaves the gate (it goes on in the background), so replays of other loops are not stuck behind it.
    const outcome = await this.context.gate.runShared(() => settledWithin(this.execute(run, entry, operation), HANG_MS));
    if (outcome === HUNG) {
      this.context.ledger.violation(
        "hung operation",
        `${where(this.context, run, entry)}: not settled after ${HANG_MS / 1000} s: ${describe(operation)}${entry === undefined ? "" : recent(entry)}`,
      );
      return false;
    }
    if (outcome === undefined) return true;
    const replayed = await this.context.gate.runExclusive(() =>
      settledWithin(replayAlone(this.context, this.invariants, outcome), HANG_MS),
    );
    if (replayed === HUNG) {
      this.context.ledger.violation("hung operation", `${outcome.description}: its replay alone did not settle after ${HANG_MS / 1000} s`);
      return false;
    }
    return true;
  }

  private nextRun(kind: Operation["kind"]): OperationRun {
    return { loop: this.loop, index: ++this.index, kind, started: this.context.killer?.mark() ?? { kills: 0, restartPending: false } };
  }

  private async execute(run: OperationRun, entry: PooledScope | undefined, operation: Operation): Promise<Replay | undefined> {
    if (operation.kind === "newScope") {
      await this.create(run, operation.scope);
      return undefined;
    }
    if (entry === undefined) throw new Error(`operation ${operation.kind} without a scope`);
    switch (operation.kind) {
      case "prompt": {
        const before = await this.invariants.checkIdle(run, entry);
        await this.turn(run, entry, operation.turn, operation.via, before);
        return undefined;
      }
      case "burst":
        await this.burst(run, entry, operation.turns);
        return undefined;
      case "longTurns": {
        let before = await this.invariants.checkIdle(run, entry);
        for (const turn of operation.turns) {
          if (!(await this.turn(run, entry, turn, "send", before))) break;
          before = entry.baseline;
        }
        return undefined;
      }
      case "abortedStream":
        await this.abortedStream(run, entry, operation);
        return undefined;
      case "oversized":
        await this.oversized(run, entry, operation.text, operation.where);
        return undefined;
      case "fork":
        return this.copy(run, entry, "fork", operation.during, operation.probe);
      case "revive":
        return this.copy(run, entry, operation.via === "store" ? "store" : "revive", operation.during, operation.probe);
      case "loadState":
        await this.loadState(run, entry, this.pool[operation.source]!);
        return undefined;
      case "dispose":
        await this.invariants.checkIdle(run, entry);
        await this.invariants.attempt(run, entry, "dispose()", () => entry.scope.dispose());
        this.remove(entry);
        return undefined;
      case "disposeMidStream":
        await this.disposeMidStream(run, entry, operation.turn, operation.afterChunks);
        return undefined;
      case "choices": {
        const before = await this.invariants.checkIdle(run, entry);
        // Its snapshot after (choice 0 as the turn's reply) is the baseline of the next checks, as a prompt's.
        await this.invariants.settle(run, entry, await choices(this.context, this.invariants, run, entry, before, operation));
        return undefined;
      }
      case "embed":
        // No scope of the loop is involved: its target stays idle, and the next idle check says so.
        await embed(this.context, this.invariants, run, operation.texts);
        return undefined;
      case "toolRoundTrip":
        // Reads the scope's history only: it must not change (checked by the next idle check).
        await this.invariants.checkIdle(run, entry);
        await toolRoundTrip(this.context, this.invariants, run, entry, operation);
        return undefined;
    }
  }

  private async create(run: OperationRun, spec: NewScope): Promise<PooledScope | undefined> {
    const options: ScopeOptions =
      spec.kind === "chat"
        ? spec.systemPrompt === undefined
          ? { mode: "chat" }
          : { mode: "chat", systemPrompt: spec.systemPrompt }
        : spec.kind === "strict"
          ? { contextShift: false }
          : {};
    const made = await this.invariants.attempt(run, undefined, `getScope(${JSON.stringify(options)})`, async () =>
      this.context.parent.getScope(options),
    );
    if (!made.ok) return undefined;
    const origin = spec.kind === "chat" ? (spec.systemPrompt === undefined ? "new, no system prompt" : "new, with a system prompt") : "new";
    return this.adopt(run, made.value, spec.kind, origin);
  }

  /** Adds a scope to the pool and takes its first baseline. */
  private async adopt(run: OperationRun, scope: LlamaScope, kind: PooledScope["kind"], origin: string): Promise<PooledScope> {
    const entry: PooledScope = { name: `L${this.loop}.S${++this.made}`, scope, kind, origin, baseline: undefined, full: false, log: [] };
    this.pool.push(entry);
    await this.invariants.settle(run, entry, `made (${origin})`);
    return entry;
  }

  private remove(entry: PooledScope): void {
    this.pool.splice(this.pool.indexOf(entry), 1);
  }

  /**
   * One normal prompt. A refusal is expected only from a strict scope that may be full (its
   * tokens plus the most this prompt can take reach the slot's size); from any other scope a
   * normal prompt must be taken (it always fits beside a system prompt). Either way a refusal
   * must change nothing. Returns false if the prompt failed.
   */
  private async turn(
    run: OperationRun,
    entry: PooledScope,
    turn: Turn,
    via: "send" | "stream",
    before: Snapshot | undefined,
  ): Promise<boolean> {
    const mayNotFit =
      entry.kind === "strict" && (before === undefined || before.tokens + tokenBound(turn.text) >= this.context.contextSize);
    const label = `${via === "send" ? "generate" : "streamPrompt"}(${describeTurn(turn)})`;
    const result = await this.invariants.attempt(
      run,
      entry,
      label,
      () =>
        via === "send"
          ? entry.scope.generate(turn.text, { maxTokens: turn.maxTokens })
          : drain(entry.scope.streamPrompt(turn.text, { maxTokens: turn.maxTokens })),
      { overflow: mayNotFit },
    );
    await this.invariants.refused(run, entry, before, result, label);
    if (result.ok && result.value.finishReason === "contextFull") entry.full = true;
    await this.invariants.settle(run, entry, `${label} → ${outcome(result)}`);
    return result.ok;
  }

  /**
   * Short turns sent to one scope at once. Every one must be taken (a strict scope may refuse
   * some once full); afterwards a chat scope's history holds one exchange more per turn taken,
   * less what shifts erased.
   */
  private async burst(run: OperationRun, entry: PooledScope, turns: Turn[]): Promise<void> {
    const before = await this.invariants.checkIdle(run, entry);
    const mayNotFit =
      entry.kind === "strict" &&
      (before === undefined || before.tokens + turns.reduce((sum, turn) => sum + tokenBound(turn.text), 0) >= this.context.contextSize);
    const results = await Promise.all(
      turns.map((turn, i) =>
        this.invariants.attempt(
          run,
          entry,
          `generate(${describeTurn(turn)}), turn ${i + 1} of ${turns.length} sent at once`,
          () => entry.scope.generate(turn.text, { maxTokens: turn.maxTokens }),
          {
            overflow: mayNotFit,
          },
        ),
      ),
    );
    if (results.some((result) => !result.ok) && entry.kind === "strict") entry.full = true;
    await this.invariants.settle(run, entry, `${turns.length} turns at once → ${results.map(outcome).join(", ")}`);
  }

  /**
   * A stream stopped after a few chunks, by its AbortSignal or by leaving the loop. The reply so
   * far is kept (finishReason "aborted"); an abort before the prompt was sent rejects it with
   * AbortError and must leave the conversation unchanged.
   */
  private async abortedStream(
    run: OperationRun,
    entry: PooledScope,
    operation: Extract<Operation, { kind: "abortedStream" }>,
  ): Promise<void> {
    const before = await this.invariants.checkIdle(run, entry);
    const { turn, afterChunks, how } = operation;
    const label = `streamPrompt(${describeTurn(turn)}) stopped by ${how === "signal" ? "its signal" : "leaving the loop"} after ${afterChunks} chunks`;
    const mayNotFit =
      entry.kind === "strict" && (before === undefined || before.tokens + tokenBound(turn.text) >= this.context.contextSize);
    const result = await this.invariants.attempt(
      run,
      entry,
      label,
      async () => {
        const controller = new AbortController();
        const stream = entry.scope.streamPrompt(turn.text, { maxTokens: turn.maxTokens, signal: controller.signal });
        const stop = async () => (how === "signal" ? controller.abort() : void (await stream.return?.()));
        if (afterChunks === 0) await stop();
        let chunks = 0;
        for await (const _chunk of stream) {
          if (++chunks === afterChunks) {
            if (how === "break") break;
            controller.abort();
          }
        }
        return stream.result;
      },
      { abort: true, overflow: mayNotFit },
    );
    await this.invariants.refused(run, entry, before, result, label);
    if (!result.ok && (result.error as Error).name === "AbortError")
      await this.invariants.checkUnchanged(run, entry, before, `${label}, aborted before it was sent,`);
    await this.invariants.settle(run, entry, `${label} → ${outcome(result)}`);
  }

  /** A prompt that can never fit must be refused, and the refusal must change nothing. */
  private async oversized(run: OperationRun, entry: PooledScope, text: string, refusedBy: "engine" | "parent"): Promise<void> {
    const before = await this.invariants.checkIdle(run, entry);
    const label = `an oversized prompt (${text.split(" ").length} words, ${text.length} characters, for the ${refusedBy} to refuse)`;
    const result = await this.invariants.attempt(run, entry, label, () => entry.scope.generate(text, { maxTokens: 8 }), { overflow: true });
    if (result.ok)
      this.context.ledger.violation(
        "not refused",
        `${where(this.context, run, entry)}: ${label} was taken: ${JSON.stringify(clip(text, 60))} (a slot holds ${this.context.contextSize} tokens) gave ` +
          `${JSON.stringify(result.value)} on a conversation of ${before === undefined ? "?" : describeSnapshot(before)}${recent(entry)}`,
      );
    await this.invariants.refused(run, entry, before, result, label);
    await this.invariants.settle(run, entry, `${label} → ${outcome(result)}`);
  }

  /**
   * A fork, or a state saved and revived, of an idle scope or while a prompt of it runs (sent
   * just before the copy is asked for), then compared with its origin (see `compareCopy`).
   */
  private async copy(
    run: OperationRun,
    entry: PooledScope,
    kind: "fork" | "revive" | "store",
    during: Turn | undefined,
    probe: Turn,
  ): Promise<Replay | undefined> {
    const before = await this.invariants.checkIdle(run, entry);
    const mayNotFit = (turn: Turn) =>
      entry.kind === "strict" && (before === undefined || before.tokens + tokenBound(turn.text) >= this.context.contextSize);
    const prompt =
      during === undefined
        ? undefined
        : this.invariants.attempt(
            run,
            entry,
            `generate(${describeTurn(during)}) during the ${kind}`,
            () => entry.scope.generate(during.text, { maxTokens: during.maxTokens }),
            {
              overflow: mayNotFit(during),
            },
          );
    const what = { fork: "fork", revive: "revived state", store: "conversation from the store" }[kind];
    const how = `${what} ${during === undefined ? "taken while idle" : "taken while a prompt ran"}`;
    const made =
      kind === "fork"
        ? await this.invariants.attempt(run, entry, "fork()", () => entry.scope.fork())
        : kind === "store"
          ? await this.throughStore(run, entry)
          : await this.revive(run, entry);
    const prompted = await prompt;
    if (prompted !== undefined) await this.invariants.refused(run, entry, before, prompted, "the prompt during the copy");
    await this.invariants.settle(
      run,
      entry,
      `${kind}${prompted === undefined ? "" : ` during ${describeTurn(during!)} → ${outcome(prompted)}`}`,
    );
    if (!made.ok) return undefined;
    const copy = await this.adopt(run, made.value, entry.kind, `${how} from ${entry.name}`);
    copy.full = entry.full;
    const replay = await compareCopy(this.context, this.invariants, run, entry, copy, probe, how);
    await this.invariants.settle(run, entry, `compared with ${copy.name} (${describeTurn(probe)})`);
    await this.invariants.settle(run, copy, `compared with ${entry.name} (${describeTurn(probe)})`);
    return replay;
  }

  /** The scope saved to the conversation store (Redis) under a name of its own, then opened from it as a new scope. */
  private async throughStore(run: OperationRun, entry: PooledScope) {
    const conversations = this.context.parent.conversations!;
    const name = `${entry.name}-${++this.stored}`;
    const saved = await this.invariants.attempt(run, entry, `conversations.save("${name}")`, () => conversations.save(name, entry.scope));
    if (!saved.ok) return saved;
    this.context.ledger.storeRoundTrips++;
    return this.invariants.attempt(run, entry, `conversations.open("${name}")`, async () => {
      const opened = await conversations.open(name);
      if (opened?.scope === undefined) throw new Error(`conversations.open("${name}") found nothing right after its save`);
      return opened.scope;
    });
  }

  private async revive(run: OperationRun, entry: PooledScope) {
    const saved = await this.invariants.attempt(run, entry, "saveState()", () => entry.scope.saveState());
    if (!saved.ok) return saved;
    const state = saved.value;
    // A strict scope's copy is strict too (a fork copies its context shift; a state does not carry it).
    return this.invariants.attempt(run, entry, "getScope({ state })", async () =>
      this.context.parent.getScope(entry.kind === "strict" ? { state, contextShift: false } : { state }),
    );
  }

  /**
   * `loadState` of another scope's state (or its own): afterwards the target holds exactly what
   * was saved, as a copy (the same token ids, erased count and chat turns in its next saved
   * state; the same tokenCount() and getChatHistory() as the source when it was saved).
   */
  private async loadState(run: OperationRun, target: PooledScope, source: PooledScope): Promise<void> {
    const targetBefore = await this.invariants.checkIdle(run, target);
    const sourceView = source === target ? targetBefore : await this.invariants.checkIdle(run, source);
    const saved = await this.invariants.attempt(run, source, "saveState() to load it elsewhere", () => source.scope.saveState());
    if (source !== target) await this.invariants.settle(run, source, `saved for ${target.name}`);
    if (!saved.ok) return;
    const loaded = await this.invariants.attempt(run, target, `loadState() of ${source.name}'s state`, () =>
      target.scope.loadState(saved.value),
    );
    if (loaded.ok) {
      target.full = source.full;
      const after = await this.invariants.attempt(run, target, "saveState() after loadState()", () => target.scope.saveState());
      const view = await this.invariants.observe(run, target);
      const differences = after.ok ? stateDifferences(saved.value, after.value, !this.context.killer?.hitSince(run.started)) : [];
      const change = view === undefined || sourceView === undefined ? undefined : snapshotDifference(sourceView, view);
      if (change !== undefined) differences.push(`source when saved → target after loading: ${change}`);
      this.context.ledger.copiesChecked++;
      if (differences.length > 0)
        this.context.ledger.violation(
          "copy differs",
          `${where(this.context, run, target)}: after loadState() of ${source.name}'s state it does not hold it: ${differences.join("; ")}${recent(target)}`,
        );
    }
    await this.invariants.settle(run, target, `loadState(${source.name}'s state) → ${loaded.ok ? "loaded" : (loaded.error as Error).name}`);
  }

  /** Disposes a scope after `afterChunks` chunks of its stream: the stream ends, or rejects with DisposedError. */
  private async disposeMidStream(run: OperationRun, entry: PooledScope, turn: Turn, afterChunks: number): Promise<void> {
    const before = await this.invariants.checkIdle(run, entry);
    const mayNotFit =
      entry.kind === "strict" && (before === undefined || before.tokens + tokenBound(turn.text) >= this.context.contextSize);
    const stream = entry.scope.streamPrompt(turn.text, { maxTokens: turn.maxTokens });
    const iterator = stream[Symbol.asyncIterator]();
    const label = `streamPrompt(${describeTurn(turn)}) disposed after ${afterChunks} chunks`;
    const started = await this.invariants.attempt(
      run,
      entry,
      label,
      async () => {
        for (let i = 0; i < afterChunks; i++) if ((await iterator.next()).done) break;
      },
      { overflow: mayNotFit },
    );
    const disposal = this.invariants.attempt(run, entry, "dispose() during a stream", () => entry.scope.dispose());
    if (started.ok)
      await this.invariants.attempt(run, entry, `the rest of ${label}`, () => drainIterator(iterator, stream), {
        disposed: true,
        overflow: mayNotFit,
      });
    else stream.result.catch(() => {});
    await disposal;
    this.remove(entry);
  }
}

/**
 * The most tokens a prompt of this soak can take: two per word (every word of the list is one or
 * two tokens), plus a few for the line break and "Why?"'s punctuation.
 */
function tokenBound(text: string): number {
  return 2 * text.split(/\s+/).length + 6;
}

const HUNG = Symbol("hung");

/** The promise's value, or HUNG if it has not settled after `ms`. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<typeof HUNG>((resolve) => (timer = setTimeout(() => resolve(HUNG), ms)));
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

async function drain(stream: PromptStream): Promise<GenerationResult> {
  for await (const _chunk of stream);
  return stream.result;
}

async function drainIterator(iterator: AsyncIterator<string>, stream: PromptStream): Promise<GenerationResult> {
  while (!(await iterator.next()).done);
  return stream.result;
}

function describeTurn(turn: Turn): string {
  return `${JSON.stringify(clip(turn.text, 40))}, maxTokens ${turn.maxTokens}`;
}

function outcome(result: { ok: true; value: GenerationResult } | { ok: false; error: unknown }): string {
  return result.ok
    ? `${result.value.promptTokenCount}+${result.value.tokenCount} tokens, ${result.value.finishReason}`
    : (result.error as Error).name;
}

function describe(operation: Operation): string {
  return JSON.stringify(operation, (key, value: unknown) => (typeof value === "string" && key === "text" ? clip(value, 40) : value));
}
