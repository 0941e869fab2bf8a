import { VIOLATION_KINDS } from "./Ledger.js";
import type { SoakResult } from "./runSoak.js";

/** The table printed at the end of a run: what ran, what was expected, what was violated. */
export function formatReport(result: SoakResult): string {
  const { ledger, options, resources, files } = result;
  const lines: string[] = [];
  lines.push(
    "",
    `llama-scope soak: isolation ${options.isolation}, seed ${options.seed}, ${options.minutes} min (${result.seconds.toFixed(0)} s with load and dispose); ` +
      `lock-step batches from ${result.lockstepMinBatch ?? "-"} generating slots (probed at load)`,
  );

  lines.push(
    "",
    table(
      ["operation", "count", "expected errors", "unexpected errors"],
      [...ledger.operations].map(([kind, tally]) => [kind, tally.count, tally.expectedErrors, tally.unexpectedErrors]),
    ),
  );

  const names = (map: Map<string, number>) => [...map].map(([name, count]) => `${name} ${count}`).join(", ") || "none";
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const level = (l: { warmup: number; max: number; limit: number }, unit: (n: number) => string) =>
    `warm-up ${unit(l.warmup)}, max ${unit(l.max)}, bound ${unit(l.limit)}`;
  const count = (kind: (typeof VIOLATION_KINDS)[number]) => ledger.violations.get(kind)!.length;
  const batch = ledger.batchMismatches.length;
  const rows: Array<[string, string | number, string]> = [
    ["unexpected errors", count("unexpected error"), names(ledger.unexpectedErrorNames)],
    ["expected errors", "-", names(ledger.expectedErrorNames)],
    ["idle changes", count("idle change"), `${ledger.idleChecks} checks of tokenCount()/getChatHistory() between two operations`],
    [
      "copies differing (state)",
      count("copy differs"),
      `${ledger.copiesChecked} forks, revivals, conversations from the store (${ledger.storeRoundTrips}) and loaded states compared, ${ledger.copiesUndetermined} not compared by reply (engine killed)`,
    ],
    [
      "copies differing (reply, alone)",
      count("copy reply differs"),
      `${batch} differed only while decoded beside others (not violations, listed below)`,
    ],
    [
      "refusals that changed something",
      count("rejection changed"),
      `${ledger.rejectionsChecked} checked; ${ledger.expectedRefusals} expected refusals, ${ledger.unexpectedRefusals} unexpected (in unexpected errors)`,
    ],
    ["oversized prompts taken", count("not refused"), ""],
    [
      "choices",
      count("choices"),
      `${ledger.choicesChecked} generateChoices calls: n choices, alike at temperature 0, the scope going on with choice 0`,
    ],
    [
      "embeddings",
      count("embedding"),
      `${ledger.embedsChecked} embed calls: unit vectors, ${ledger.vectorsCompared} compared with the same text's earlier vector (exact), ${ledger.vectorsAcrossRestarts} of them across an engine restart`,
    ],
    [
      "function calls",
      count("function call"),
      `${ledger.toolRoundTrips} tool round trips: a call of the schema, then a fork, a revived state and a scope from its history continuing alike`,
    ],
    ["hung operations", count("hung operation"), ""],
    ["engine", count("engine"), `kills ${result.kills}, restarts ${result.restarts}`],
    [
      "resources",
      count("resources"),
      `RSS ${level(resources.rss, mib)}; fds ${level(resources.fds, String)}` +
        (resources.engineRss === undefined ? "" : `; engine RSS ${level(resources.engineRss, mib)}`),
    ],
    [
      "files left",
      count("files left"),
      `llama-scope-* in ${"tmp"}: ${files.before} before, ${files.after} after${files.left.length > 0 ? `: ${files.left.join(", ")}` : ""}`,
    ],
    ["leftovers after disposing all", count("leftovers"), ""],
  ];
  lines.push("", table(["invariant", "violations", "details"], rows));
  lines.push(
    "",
    `context shifts ${ledger.shifts}, freezes ${ledger.freezes} (${ledger.spills} to disk), restores ${result.stats.restores}, tokens generated ${result.stats.tokensGenerated}, ` +
      `prefix cache hits ${result.stats.prefixCache.hits}/misses ${result.stats.prefixCache.misses}`,
  );
  for (const mismatch of ledger.batchMismatches) lines.push(`batch-dependent reply (${mismatch.replay}): ${mismatch.where}`);
  const total = ledger.violationCount;
  lines.push("", total === 0 ? "no violations" : `${total} violations`);
  return lines.join("\n");
}

/** A plain-text table with aligned columns. */
function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const format = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [format(cells[0]!), widths.map((width) => "-".repeat(width)).join("  "), ...cells.slice(1).map(format)].join("\n");
}
