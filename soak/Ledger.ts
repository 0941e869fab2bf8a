import { OPERATION_KINDS, type OperationKind } from "./operations.js";

/** The invariants the soak checks; each violation counts under one of them. */
export const VIOLATION_KINDS = [
  "unexpected error",
  "idle change",
  "copy differs",
  "copy reply differs",
  "rejection changed",
  "not refused",
  "choices",
  "embedding",
  "function call",
  "hung operation",
  "engine",
  "resources",
  "files left",
  "leftovers",
  "exit",
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** What one kind of operation did. */
export interface OperationTally {
  count: number;
  /** Errors the operation legitimately causes (see `expectedErrors.ts`). */
  expectedErrors: number;
  unexpectedErrors: number;
}

/** A fork or revived copy whose reply differed from its origin's while other scopes were decoding. */
export interface ReplyMismatch {
  where: string;
  /** Replayed from both saved states, each alone: "same" (the batch made the difference), "differ" (a violation) or why not replayed. */
  replay: string;
}

/** Every count the report prints, and the violations with the lines that say how to reproduce them. */
export class Ledger {
  readonly operations = new Map<OperationKind, OperationTally>(
    OPERATION_KINDS.map((kind) => [kind, { count: 0, expectedErrors: 0, unexpectedErrors: 0 }]),
  );
  readonly expectedErrorNames = new Map<string, number>();
  readonly unexpectedErrorNames = new Map<string, number>();
  readonly violations = new Map<ViolationKind, string[]>(VIOLATION_KINDS.map((kind) => [kind, []]));
  /** Prompts refused as they should be (oversized, a full strict scope). */
  expectedRefusals = 0;
  /** Prompts refused that should have been taken (also counted as unexpected errors). */
  unexpectedRefusals = 0;
  /** Idle checks made: a scope's snapshot compared with the one its last operation left. */
  idleChecks = 0;
  /** Refusals and aborts before sending checked for changes. */
  rejectionsChecked = 0;
  /** Copies (forks, revivals) compared with their origin, by state and by reply. */
  copiesChecked = 0;
  /** Copies not compared by reply because the engine was killed meanwhile (a rebuilt slot is evaluated anew). */
  copiesUndetermined = 0;
  readonly batchMismatches: ReplyMismatch[] = [];
  /** generateChoices calls checked (count, alike at temperature 0, the scope going on with choice 0). */
  choicesChecked = 0;
  /** embed calls checked, and vectors compared with an earlier one of the same text. */
  embedsChecked = 0;
  vectorsCompared = 0;
  /** Of those, vectors computed by an engine killed since (process isolation with --kill-engine). */
  vectorsAcrossRestarts = 0;
  /** Tool round trips completed and checked (their copies count in copiesChecked). */
  toolRoundTrips = 0;
  /** Scopes saved to the conversation store (Redis) and opened from it as copies. */
  storeRoundTrips = 0;
  shifts = 0;
  private readonly printed = new Map<string, number>();
  freezes = 0;
  spills = 0;

  constructor(
    /** Printed violations per kind; the rest are counted only, so one recurring bug cannot flood the output. */
    private readonly printLimit = 12,
    private readonly print: (line: string) => void = (line) => console.log(line),
  ) {}

  operation(kind: OperationKind): void {
    this.operations.get(kind)!.count++;
  }

  expectedError(kind: OperationKind, name: string): void {
    this.operations.get(kind)!.expectedErrors++;
    this.expectedErrorNames.set(name, (this.expectedErrorNames.get(name) ?? 0) + 1);
  }

  unexpectedError(kind: OperationKind, name: string): void {
    this.operations.get(kind)!.unexpectedErrors++;
    this.unexpectedErrorNames.set(name, (this.unexpectedErrorNames.get(name) ?? 0) + 1);
  }

  /**
   * Records a violation and prints it at once, up to the print limit per kind and `variant` (an
   * error's name), so a flood of one error cannot hide the first of another.
   */
  violation(kind: ViolationKind, message: string, variant = ""): void {
    this.violations.get(kind)!.push(message);
    const key = `${kind}${variant === "" ? "" : ` ${variant}`}`;
    const printed = (this.printed.get(key) ?? 0) + 1;
    this.printed.set(key, printed);
    if (printed <= this.printLimit) this.print(`VIOLATION [${key}] ${message}`);
    else if (printed === this.printLimit + 1) this.print(`VIOLATION [${key}] … more of these are counted, not printed`);
  }

  get violationCount(): number {
    let total = 0;
    for (const list of this.violations.values()) total += list.length;
    return total;
  }
}
