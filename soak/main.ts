import { formatReport } from "./report.js";
import { runSoak } from "./runSoak.js";
import { parseSoakOptions, USAGE, type SoakOptions } from "./SoakOptions.js";

/**
 * `npm run soak -- --minutes N --isolation thread|process [--kill-engine K] [--seed S]`: random
 * operations on one LlamaParent, checked against the library's invariants. Prints each violation
 * as it happens and a table at the end; exits 1 on any violation, 0 otherwise, and exits on its
 * own after the parent is disposed (no handle may stay open: a watchdog reports one).
 */
const EXIT_GRACE_MS = 15_000;

let options: SoakOptions;
try {
  options = parseSoakOptions(process.argv.slice(2));
} catch (error) {
  const message = (error as Error).message;
  console.error(message === "help" ? USAGE : `${message}\n${USAGE}`);
  process.exit(message === "help" ? 0 : 2);
}

console.log(
  `soak: ${options.minutes} min, isolation ${options.isolation}, seed ${options.seed}${options.killEngine > 0 ? `, ${options.killEngine} engine kills` : ""}. ` +
    `Again: npm run soak -- --minutes ${options.minutes} --isolation ${options.isolation}${options.killEngine > 0 ? ` --kill-engine ${options.killEngine}` : ""} --seed ${options.seed}`,
);
const result = await runSoak(options);
console.log(formatReport(result));
process.exitCode = result.ledger.violationCount > 0 ? 1 : 0;

// Unref'd: it keeps nothing alive, and fires only if something else does.
setTimeout(() => {
  console.error(
    `VIOLATION [exit] the process did not exit within ${EXIT_GRACE_MS / 1000} s of dispose(); still open: ${process.getActiveResourcesInfo().join(", ")}`,
  );
  process.exit(1);
}, EXIT_GRACE_MS).unref();
