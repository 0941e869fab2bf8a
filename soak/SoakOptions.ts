import type { Isolation } from "../src/index.js";

/** What `npm run soak -- …` was asked for. */
export interface SoakOptions {
  /** How long the random operations run (fractions allowed: `--minutes 0.5`). */
  minutes: number;
  isolation: Isolation;
  /** Engine processes to kill with SIGKILL at random moments (process isolation only). */
  killEngine: number;
  seed: number;
}

export const USAGE =
  "usage: npm run soak -- --minutes N --isolation thread|process [--kill-engine K] [--seed S]\n" +
  "  --minutes N       how long to run random operations (default 1; fractions allowed)\n" +
  "  --isolation I     where the engine runs: thread (default) or process\n" +
  "  --kill-engine K   kill the engine process K times with SIGKILL at random moments (process only)\n" +
  "  --seed S          the seed of every random choice (default: the current time; printed)";

/** Parses the command line; throws an Error whose message says what is wrong (print it with {@link USAGE}). */
export function parseSoakOptions(argv: readonly string[]): SoakOptions {
  const options: SoakOptions = { minutes: 1, isolation: "thread", killEngine: 0, seed: Date.now() % 2 ** 31 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (flag === "--help" || flag === "-h") throw new Error("help");
    if (value === undefined) throw new Error(`${flag} needs a value.`);
    i++;
    switch (flag) {
      case "--minutes":
        options.minutes = Number(value);
        if (!(options.minutes > 0) || !Number.isFinite(options.minutes))
          throw new Error(`--minutes must be a positive number, not ${value}.`);
        break;
      case "--isolation":
        if (value !== "thread" && value !== "process") throw new Error(`--isolation must be thread or process, not ${value}.`);
        options.isolation = value;
        break;
      case "--kill-engine":
        options.killEngine = Number(value);
        if (!Number.isSafeInteger(options.killEngine) || options.killEngine < 0)
          throw new Error(`--kill-engine must be a whole number, not ${value}.`);
        break;
      case "--seed":
        options.seed = Number(value);
        if (!Number.isSafeInteger(options.seed) || options.seed < 0)
          throw new Error(`--seed must be a whole number of at least 0, not ${value}.`);
        break;
      default:
        throw new Error(`Unknown option ${flag}.`);
    }
  }
  // A thread cannot be killed from outside without taking this process with it.
  if (options.killEngine > 0 && options.isolation !== "process") throw new Error("--kill-engine needs --isolation process.");
  return options;
}
