import { ContextOverflowError } from "../src/index.js";
import { logOperation, recent, where, type OperationRun, type PooledScope, type SoakContext } from "./context.js";
import { describeError, errorName, isExpected, type Allowed } from "./expectedErrors.js";
import { describeSnapshot, readSnapshot, snapshotDifference, type Snapshot } from "./snapshots.js";

export type Attempt<T> = { ok: true; value: T } | { ok: false; error: unknown; expected: boolean };

/**
 * The checks every operation goes through: errors sorted into expected and unexpected, no change
 * while idle, and a refused or aborted-before-sent prompt that leaves the conversation as it was.
 */
export class Invariants {
  constructor(private readonly context: SoakContext) {}

  /**
   * Runs one call of an operation. An error it is allowed to cause (`allowed`; `crashed` is set
   * here, when the engine was killed since the call started) is counted as expected; any other is
   * a violation, printed with what the call was.
   */
  async attempt<T>(
    run: OperationRun,
    entry: PooledScope | undefined,
    label: string,
    call: () => Promise<T>,
    allowed: Allowed = {},
  ): Promise<Attempt<T>> {
    const mark = this.context.killer?.mark();
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      const crashed = mark !== undefined && this.context.killer!.hitSince(mark);
      const expected = isExpected(error, { ...allowed, crashed });
      const { ledger } = this.context;
      if (expected) ledger.expectedError(run.kind, errorName(error));
      else {
        ledger.unexpectedError(run.kind, errorName(error));
        ledger.violation(
          "unexpected error",
          `${where(this.context, run, entry)}: ${label} failed with ${describeError(error)}${entry === undefined ? "" : recent(entry)}`,
          errorName(error),
        );
      }
      return { ok: false, error, expected };
    }
  }

  /** The scope's snapshot now, or undefined if it cannot be read (after a kill: expected). */
  async observe(run: OperationRun, entry: PooledScope): Promise<Snapshot | undefined> {
    const read = await this.attempt(run, entry, "reading tokenCount()/getChatHistory()", () => readSnapshot(entry.scope));
    return read.ok ? read.value : undefined;
  }

  /**
   * No change while idle: the scope's snapshot before its next operation is the one taken when
   * its last operation ended (only its own loop uses a scope, so nothing it did came between).
   * Returns the snapshot, the "before" of the operation.
   */
  async checkIdle(run: OperationRun, entry: PooledScope): Promise<Snapshot | undefined> {
    const now = await this.observe(run, entry);
    const { baseline } = entry;
    if (now !== undefined && baseline !== undefined) {
      this.context.ledger.idleChecks++;
      const change = snapshotDifference(baseline, now);
      if (change !== undefined)
        this.context.ledger.violation(
          "idle change",
          `${where(this.context, run, entry)}: changed while idle, before this operation: ${change}${recent(entry)}`,
        );
    }
    return now;
  }

  /** Ends an operation on a scope: its snapshot becomes the baseline of the next idle check. */
  async settle(run: OperationRun, entry: PooledScope, summary: string): Promise<void> {
    entry.baseline = await this.observe(run, entry);
    logOperation(entry, run, `${summary} → ${entry.baseline === undefined ? "unreadable" : describeSnapshot(entry.baseline)}`);
  }

  /**
   * A prompt that was rejected before it joined the conversation (refused with
   * `ContextOverflowError`, or aborted before it was sent) must leave it exactly as before.
   */
  async checkUnchanged(run: OperationRun, entry: PooledScope, before: Snapshot | undefined, what: string): Promise<void> {
    const after = await this.observe(run, entry);
    if (before === undefined || after === undefined) return;
    this.context.ledger.rejectionsChecked++;
    const change = snapshotDifference(before, after);
    if (change !== undefined)
      this.context.ledger.violation(
        "rejection changed",
        `${where(this.context, run, entry)}: ${what} changed the conversation: ${change}${recent(entry)}`,
      );
  }

  /** Counts a refusal (expected or not) and checks that it changed nothing. */
  async refused(
    run: OperationRun,
    entry: PooledScope,
    before: Snapshot | undefined,
    attempt: Attempt<unknown>,
    label: string,
  ): Promise<void> {
    if (attempt.ok || !(attempt.error instanceof ContextOverflowError)) return;
    if (attempt.expected) this.context.ledger.expectedRefusals++;
    else this.context.ledger.unexpectedRefusals++;
    if (entry.kind === "strict") entry.full = true;
    await this.checkUnchanged(run, entry, before, `the refusal of ${label}`);
  }
}
