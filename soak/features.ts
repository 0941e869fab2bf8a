import type { ChatFunction, LlamaScope } from "../src/index.js";
import { stateDifferences } from "./copies.js";
import { recent, where, type OperationRun, type PooledScope, type SoakContext } from "./context.js";
import type { Invariants } from "./invariants.js";
import type { Operation } from "./operations.js";
import { clip, historyDifference, readSnapshot, snapshotDifference, type Snapshot } from "./snapshots.js";
import { decodeState } from "../src/state/StateFormat.js";

/**
 * The soak's operations on the newer features: several choices, embeddings and function calls.
 * Each is checked by what the docs promise (docs/scopes.md "Several choices" and "Function calls",
 * docs/embeddings.md).
 */

/** Vector lengths are float32 sums: unit within rounding. */
const UNIT_TOLERANCE = 1e-3;

/**
 * `generateChoices`: n choices; at temperature 0 all alike; and the scope goes on with choice 0,
 * as if it had generated it alone: a chat scope's history ends with the prompt and choice 0's text,
 * and (when no shift erased anything) the token count grew by the prompt and choice 0's tokens.
 * The snapshot it leaves is the baseline of the next idle check and of later copies, as a prompt's.
 */
export async function choices(
  context: SoakContext,
  invariants: Invariants,
  run: OperationRun,
  entry: PooledScope,
  before: Snapshot | undefined,
  operation: Extract<Operation, { kind: "choices" }>,
): Promise<string> {
  const { turn, n, temperature, seed } = operation;
  const label = `generateChoices(${JSON.stringify(clip(turn.text, 40))}, ${n}, maxTokens ${turn.maxTokens}, temperature ${temperature}${temperature > 0 ? `, seed ${seed}` : ""})`;
  const erased = async () => {
    const saved = await invariants.attempt(run, entry, "saveState() to read the erased count", () => entry.scope.saveState());
    return saved.ok ? decodeState(saved.value).erasedTokens : undefined;
  };
  const erasedBefore = await erased();
  const options = { maxTokens: turn.maxTokens, temperature, ...(temperature > 0 ? { seed } : {}) };
  const result = await invariants.attempt(run, entry, label, () => entry.scope.generateChoices(turn.text, n, options));
  if (!result.ok) return `${label} → ${(result.error as Error).name}`;
  const { choices } = result.value;
  const problems: string[] = [];
  if (choices.length !== n) problems.push(`${choices.length} choices, not ${n}`);
  const first = choices[0];
  if (temperature === 0 && first !== undefined)
    choices.forEach((choice, i) => {
      if (choice.text !== first.text)
        problems.push(`at temperature 0 choice ${i} is ${JSON.stringify(choice.text)}, choice 0 ${JSON.stringify(first.text)}`);
    });
  const after = await invariants.observe(run, entry);
  const erasedAfter = await erased();
  if (first !== undefined && after !== undefined && before !== undefined) {
    if (after.history !== undefined) {
      const reply = after.history.at(-1);
      const asked = after.history.at(-2);
      const text = reply?.type === "model" ? reply.response.filter((part) => typeof part === "string").join("") : undefined;
      if (text !== first.text)
        problems.push(`the history's last reply is ${JSON.stringify(text)}, not choice 0 ${JSON.stringify(first.text)}`);
      if (asked?.type !== "user" || asked.text !== turn.text)
        problems.push(`the history's last user item is ${clip(JSON.stringify(asked))}, not the prompt`);
    }
    if (erasedBefore !== undefined && erasedBefore === erasedAfter) {
      const expected = before.tokens + result.value.promptTokenCount + first.tokenCount;
      // A chat scope's first prompt counts what it evaluated: a system prompt loaded from the prefix
      // cache is in the slot but not in promptTokenCount (docs/scopes.md, Shared prefixes).
      const loadedPrefix = before.tokens === 0 && entry.kind === "chat";
      if (loadedPrefix ? after.tokens < expected : after.tokens !== expected)
        problems.push(
          `tokenCount ${before.tokens} → ${after.tokens}, not ${expected} (the prompt's ${result.value.promptTokenCount} and choice 0's ${first.tokenCount} tokens)`,
        );
    }
  }
  context.ledger.choicesChecked++;
  if (problems.length > 0)
    context.ledger.violation("choices", `${where(context, run, entry)}: ${label}: ${problems.join("; ")}${recent(entry)}`);
  return `${label} → ${choices.map((choice) => `${choice.tokenCount} tokens, ${choice.finishReason}`).join(" | ")}`;
}

/**
 * `parent.embed(texts)` while other loops generate: each vector of unit length, and a text gives
 * exactly the vector it gave before in this run (`context.embeddings`), within a call and across
 * calls, and across engine restarts too: docs/embeddings.md says the restarted engine "gives the
 * same vectors" (same model, same threads, a new embedding context computing the same sums), so
 * no tolerance: any difference is a broken promise, not rounding.
 */
export async function embed(context: SoakContext, invariants: Invariants, run: OperationRun, texts: string[]): Promise<void> {
  const label = `embed(${JSON.stringify(texts)})`;
  const result = await invariants.attempt(run, undefined, label, () => context.parent.embed(texts));
  if (!result.ok) return;
  const { vectors } = result.value;
  const problems: string[] = [];
  if (vectors.length !== texts.length) problems.push(`${vectors.length} vectors for ${texts.length} texts`);
  vectors.forEach((vector, i) => {
    const text = texts[i]!;
    const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
    // All zeros is documented (a vector with no direction); anything else is unit length.
    if (Math.abs(norm - 1) > UNIT_TOLERANCE && !vector.every((value) => value === 0))
      problems.push(`the vector of ${JSON.stringify(text)} has length ${norm}`);
    const known = context.embeddings.get(text);
    const kills = context.killer?.kills ?? 0;
    if (known === undefined) context.embeddings.set(text, { vector, kills });
    else {
      context.ledger.vectorsCompared++;
      // Computed by an engine since killed: the promise "the same vectors" across a restart is checked too.
      if (known.kills !== kills) context.ledger.vectorsAcrossRestarts++;
      const at = known.vector.findIndex((value, j) => value !== vector[j]);
      if (known.vector.length !== vector.length || at >= 0)
        problems.push(
          `${JSON.stringify(text)} gave another vector than before (${vector.length} vs ${known.vector.length} dimensions, first difference at ${at}: ${vector[at]} vs ${known.vector[at]})`,
        );
    }
  });
  context.ledger.embedsChecked++;
  if (problems.length > 0) context.ledger.violation("embedding", `${where(context, run)}: ${label}: ${problems.join("; ")}`);
}

/** The function of the round trip: an enum and an integer, so the arguments' schema is checkable. */
export const CITIES = ["paris", "rome", "oslo"] as const;
const FUNCTIONS: Record<string, ChatFunction> = {
  lookup: {
    description: "Looks up the weather of a city for some days",
    params: { type: "object", properties: { city: { type: "string", enum: [...CITIES] }, days: { type: "integer" } } },
  },
};
/** Room for the call's arguments (a token per character or two on this model; 32 ran out in trials, with a long integer). */
const CALL_TOKENS = 64;
const NEXT = { text: "Why?", maxTokens: 16 };

/**
 * A tool round trip. The function's documentation alone is ~550 tokens in this model's chat
 * wrapper, more than the soak's 256-token slots hold, so it runs on the tool parent (one slot of
 * 2,048 tokens): a chat scope started there from the pooled scope's history gets a forced call to
 * `lookup` and its result. Checked: the reply ends with `functionCall`, its arguments parse and
 * match the schema (a city of the enum, an integer), and then a fork, a revived state and a scope
 * started from the history continue exactly like it: the same saved tokens and turns, and the same
 * next reply. One slot decodes one sequence at a time, so a different reply is no batch effect.
 */
export async function toolRoundTrip(
  context: SoakContext,
  invariants: Invariants,
  run: OperationRun,
  entry: PooledScope,
  operation: Extract<Operation, { kind: "toolRoundTrip" }>,
): Promise<void> {
  const tool = context.toolParent;
  const history = await invariants.attempt(run, entry, "getChatHistory() for the tool round trip", () => entry.scope.getChatHistory());
  if (!history.ok) return;
  const problems: string[] = [];
  const made: LlamaScope[] = [];
  const make = async (label: string, create: () => LlamaScope | Promise<LlamaScope>) => {
    const scope = await invariants.attempt(run, entry, label, async () => create());
    if (scope.ok) made.push(scope.value);
    return scope.ok ? scope.value : undefined;
  };
  try {
    const scope = await make("tool parent: getScope({ history })", () => tool.getScope({ mode: "chat", history: history.value }));
    if (scope === undefined) return;
    const label = `generate(${JSON.stringify(operation.question)}, forced call to lookup)`;
    const call = await invariants.attempt(run, entry, label, () =>
      scope.generate(operation.question, { functions: FUNCTIONS, functionCall: { name: "lookup" }, maxTokens: CALL_TOKENS }),
    );
    if (!call.ok) return;
    const made0 = call.value.functionCalls?.[0];
    if (call.value.finishReason !== "functionCall" || made0 === undefined) {
      problems.push(`${label} ended ${call.value.finishReason} with ${JSON.stringify(call.value.functionCalls)}, not a call`);
      return;
    }
    const args = made0.arguments as Record<string, unknown> | undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(made0.rawArguments);
    } catch {
      parsed = `unparsable ${JSON.stringify(made0.rawArguments)}`;
    }
    if (
      made0.name !== "lookup" ||
      JSON.stringify(parsed) !== JSON.stringify(args) ||
      Object.keys(args ?? {})
        .sort()
        .join() !== "city,days" ||
      !(CITIES as readonly unknown[]).includes(args!.city) ||
      !Number.isInteger(args!.days)
    )
      problems.push(`the call ${made0.name}(${made0.rawArguments}) (parsed ${JSON.stringify(args)}) does not match lookup's schema`);
    const answered = await invariants.attempt(run, entry, 'generate("", { functionResults })', () =>
      scope.generate("", { functions: FUNCTIONS, functionResults: [{ name: "lookup", result: operation.result }], maxTokens: 24 }),
    );
    if (!answered.ok) return;
    // Copies of the conversation with its call and result; each must continue exactly like it.
    const state = await invariants.attempt(run, entry, "tool parent: saveState()", () => scope.saveState());
    const copies: Array<[string, LlamaScope | undefined]> = [
      ["fork", await make("tool parent: fork()", () => scope.fork())],
      ["revived state", state.ok ? await make("tool parent: getScope({ state })", () => tool.getScope({ state: state.value })) : undefined],
      [
        "scope from getChatHistory()",
        await make("tool parent: getScope({ history })", async () =>
          tool.getScope({ mode: "chat", history: await scope.getChatHistory() }),
        ),
      ],
    ];
    const view = async (of: LlamaScope, name: string): Promise<Snapshot | undefined> => {
      const read = await invariants.attempt(run, entry, `tokenCount()/getChatHistory() of the ${name}`, () => readSnapshot(of));
      return read.ok ? read.value : undefined;
    };
    // The next turn gives the same functions, as the docs ask (other functions render the conversation anew).
    const next = async (of: LlamaScope, name: string) => {
      const reply = await invariants.attempt(run, entry, `the reply of the ${name} after the round trip`, () =>
        of.generate(NEXT.text, { functions: FUNCTIONS, maxTokens: NEXT.maxTokens }),
      );
      const saved = await invariants.attempt(run, entry, `saveState() of the ${name} after its reply`, () => of.saveState());
      return {
        reply: reply.ok ? `${reply.value.text} [${reply.value.finishReason}]` : undefined,
        state: saved.ok ? saved.value : undefined,
      };
    };
    const originView = await view(scope, "origin");
    const expected = await next(scope, "origin");
    for (const [how, copy] of copies) {
      if (copy === undefined) continue;
      context.ledger.copiesChecked++;
      const differences: string[] = [];
      // A scope started from a history holds no token until its first prompt: compare it by history, and after its reply by state.
      const fromHistory = how === "scope from getChatHistory()";
      const copyState = fromHistory ? undefined : await invariants.attempt(run, entry, `saveState() of the ${how}`, () => copy.saveState());
      if (state.ok && copyState?.ok) differences.push(...stateDifferences(state.value, copyState.value));
      const copyView = await view(copy, how);
      if (originView !== undefined && copyView !== undefined) {
        const change = fromHistory ? historyDifference(originView.history, copyView.history) : snapshotDifference(originView, copyView);
        if (change !== undefined) differences.push(`origin → ${how}: ${change}`);
      }
      const after = await next(copy, how);
      if (expected.reply !== undefined && after.reply !== undefined && after.reply !== expected.reply)
        differences.push(
          `replied ${JSON.stringify(after.reply)} to ${JSON.stringify(NEXT.text)}, the origin ${JSON.stringify(expected.reply)}`,
        );
      // Evaluated anew, the scope from the history has erased nothing: its erased count is its own.
      else if (expected.state !== undefined && after.state !== undefined)
        differences.push(
          ...stateDifferences(expected.state, after.state, !fromHistory).map((difference) => `after the reply, ${difference}`),
        );
      if (differences.length > 0) problems.push(`its ${how} differs: ${differences.join("; ")}`);
    }
    context.ledger.toolRoundTrips++;
  } finally {
    for (const scope of made) await invariants.attempt(run, entry, "tool parent: dispose()", () => scope.dispose());
    if (problems.length > 0)
      context.ledger.violation(
        "function call",
        `${where(context, run, entry)}: a tool round trip after its history (${history.ok ? history.value.length : "?"} items), ${JSON.stringify(operation.question)}: ${problems.join("; ")}${recent(entry)}`,
      );
  }
}
