import type { GenerationResult } from "../src/index.js";
import { decodeState } from "../src/state/StateFormat.js";
import { recent, where, type OperationRun, type PooledScope, type SoakContext } from "./context.js";
import type { Allowed } from "./expectedErrors.js";
import type { Invariants } from "./invariants.js";
import type { ScopeKind, Turn } from "./operations.js";
import { clip, historyDifference } from "./snapshots.js";

/** A copy whose reply differed from its origin's while other scopes ran: to replay alone. */
export interface Replay {
  run: OperationRun;
  description: string;
  originState: Uint8Array;
  copyState: Uint8Array;
  kind: ScopeKind;
  strict: boolean;
  probe: Turn;
  originReply: string;
  copyReply: string;
}

/**
 * Forks and revived states continue like their origin.
 *
 * 1. Exactly (no randomness, no batches involved): once the calls sent before the copy have
 *    settled, origin and copy hold the same conversation: the same token ids (tokens and pending),
 *    the same count of erased tokens, the same chat turns in their saved states, and the same
 *    `tokenCount()` and `getChatHistory()`. A copy taken while a prompt of the origin runs must
 *    hold that prompt and its reply (a fork "holds the calls sent to the origin before fork()",
 *    a state is saved "after the prompts already sent").
 * 2. By reply: the same next prompt, at temperature 0, sent to both at once (so both are decoded
 *    in the same lock-step batches as far as the scheduler allows) gives the same reply.
 *    Because a sequence decoded in a batch can (rarely) differ from the same decoded alone, a
 *    mismatch is not yet a violation: {@link replayAlone} replays both from the states saved in
 *    step 1, each alone with every loop paused. Differing alone too is a violation; agreeing
 *    alone is a batch effect, reported apart with its details.
 * Kills of the engine void step 2 (a scope rebuilt after a kill is re-evaluated, in other batches).
 */
export async function compareCopy(
  context: SoakContext,
  invariants: Invariants,
  run: OperationRun,
  origin: PooledScope,
  copy: PooledScope,
  /** The next prompt to compare their replies with; undefined compares their states only. */
  probe: Turn | undefined,
  how: string,
): Promise<Replay | undefined> {
  const { ledger, killer } = context;
  const originState = await invariants.attempt(run, origin, `saveState() of the origin to compare it with its ${how}`, () =>
    origin.scope.saveState(),
  );
  const copyState = await invariants.attempt(run, copy, `saveState() of the ${how} to compare it with its origin`, () =>
    copy.scope.saveState(),
  );
  const originView = await invariants.observe(run, origin);
  const copyView = await invariants.observe(run, copy);
  if (!originState.ok || !copyState.ok || originView === undefined || copyView === undefined) return undefined;
  ledger.copiesChecked++;
  // A scope rebuilt after a kill is re-evaluated from its tokens: its count of erased tokens starts again at 0.
  const differences = stateDifferences(originState.value, copyState.value, !killer?.hitSince(run.started));
  if (originView.tokens !== copyView.tokens) differences.push(`tokenCount(): origin ${originView.tokens}, copy ${copyView.tokens}`);
  const history = historyDifference(originView.history, copyView.history);
  if (history !== undefined) differences.push(`getChatHistory() origin → copy: ${history}`);
  const description = `${where(context, run, origin)}: its ${how} ${copy.name} (id ${copy.scope.id})`;
  if (differences.length > 0) {
    ledger.violation("copy differs", `${description} does not hold the origin's conversation: ${differences.join("; ")}${recent(origin)}`);
    return undefined;
  }
  if (probe === undefined) return undefined;
  if (killer?.hitSince(run.started)) {
    ledger.copiesUndetermined++;
    return undefined;
  }
  const strict = origin.kind === "strict";
  const [originReply, copyReply] = await Promise.all([
    reply(invariants, run, origin, probe, strict),
    reply(invariants, run, copy, probe, strict),
  ]);
  if (originReply === copyReply || originReply === undefined || copyReply === undefined) return undefined;
  if (killer?.hitSince(run.started)) {
    ledger.copiesUndetermined++;
    return undefined;
  }
  return {
    run,
    description,
    originState: originState.value,
    copyState: copyState.value,
    kind: origin.kind,
    strict,
    probe,
    originReply,
    copyReply,
  };
}

/** Replays a mismatch alone (the caller holds the gate exclusively): see {@link compareCopy}. */
export async function replayAlone(context: SoakContext, invariants: Invariants, replay: Replay): Promise<void> {
  const { ledger, killer, parent } = context;
  const mark = killer?.mark();
  const alone = async (state: Uint8Array, label: string): Promise<string | undefined> => {
    const made = await invariants.attempt(replay.run, undefined, `replaying the ${label} alone: getScope({ state })`, async () =>
      parent.getScope(replay.strict ? { state, contextShift: false } : { state }),
    );
    if (!made.ok) return undefined;
    const entry: PooledScope = {
      name: `replay of the ${label}`,
      scope: made.value,
      kind: replay.kind,
      origin: "replayed alone",
      baseline: undefined,
      full: false,
      log: [],
    };
    const text = await reply(invariants, replay.run, entry, replay.probe, replay.strict);
    await invariants.attempt(replay.run, entry, "disposing a replay scope", () => made.value.dispose());
    return text;
  };
  const originAlone = await alone(replay.originState, "origin");
  const copyAlone = await alone(replay.copyState, "copy");
  const detail =
    `given ${JSON.stringify(clip(replay.probe.text, 60))} (maxTokens ${replay.probe.maxTokens}) together, the origin replied ${JSON.stringify(replay.originReply)} ` +
    `and the copy ${JSON.stringify(replay.copyReply)}; replayed alone from their states: origin ${JSON.stringify(originAlone)}, copy ${JSON.stringify(copyAlone)}`;
  if (originAlone === undefined || copyAlone === undefined || (mark !== undefined && killer!.hitSince(mark))) {
    ledger.copiesUndetermined++;
    ledger.batchMismatches.push({ where: `${replay.description}: ${detail}`, replay: "not replayed (an error or a kill)" });
  } else if (originAlone !== copyAlone) {
    ledger.violation("copy reply differs", `${replay.description} replies differently: ${detail}`);
  } else {
    // Which one the batch changed: always the copy would point at the copy's live state, not at batches.
    const changed = [replay.originReply === originAlone ? undefined : "origin", replay.copyReply === copyAlone ? undefined : "copy"]
      .filter(Boolean)
      .join(" and ");
    ledger.batchMismatches.push({
      where: `${replay.description}: ${detail}`,
      replay: `same alone; together, the ${changed} replied otherwise`,
    });
    console.log(`NOTE [batch-dependent reply] ${replay.description}: ${detail}`);
  }
}

/** A scope's reply to `probe`, or a refusal's name; undefined after another error (already counted). */
async function reply(
  invariants: Invariants,
  run: OperationRun,
  entry: PooledScope,
  probe: Turn,
  strict: boolean,
): Promise<string | undefined> {
  const allowed: Allowed = { overflow: strict };
  const result = await invariants.attempt<GenerationResult>(
    run,
    entry,
    `the comparison prompt on ${entry.name}`,
    () => entry.scope.generate(probe.text, { maxTokens: probe.maxTokens }),
    allowed,
  );
  if (result.ok) return `${result.value.text} [${result.value.finishReason}]`;
  return result.expected ? `<${(result.error as Error).name}>` : undefined;
}

/** Where two saved states' conversations differ: token ids, erased count (unless `compareErased` is false), chat turns. */
export function stateDifferences(originBytes: Uint8Array, copyBytes: Uint8Array, compareErased = true): string[] {
  const origin = decodeState(originBytes);
  const copy = decodeState(copyBytes);
  const differences: string[] = [];
  const a = [...origin.tokens, ...origin.pending];
  const b = [...copy.tokens, ...copy.pending];
  const firstDifference = a.findIndex((token, i) => token !== b[i]);
  if (a.length !== b.length || firstDifference >= 0)
    differences.push(
      `saved tokens: origin ${a.length} (${origin.pending.length} pending), copy ${b.length} (${copy.pending.length} pending), first different at ${firstDifference >= 0 ? firstDifference : Math.min(a.length, b.length)}`,
    );
  if (compareErased && origin.erasedTokens !== copy.erasedTokens)
    differences.push(`erased tokens: origin ${origin.erasedTokens}, copy ${copy.erasedTokens}`);
  const turns = (bytes: typeof origin) => JSON.stringify((bytes.header.meta as { chatTurns?: unknown } | undefined)?.chatTurns ?? null);
  if (turns(origin) !== turns(copy))
    differences.push(`saved chat turns differ: origin ${clip(turns(origin), 120)}, copy ${clip(turns(copy), 120)}`);
  return differences;
}
