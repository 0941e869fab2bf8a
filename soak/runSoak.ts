import { LlamaLoad, LlamaParent } from "../src/index.js";
import { startRedisServer } from "../test/support/redisServer.js";
import type { ParentStats } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";
import type { SoakContext } from "./context.js";
import { EngineKiller } from "./EngineKiller.js";
import { Gate } from "./Gate.js";
import { Ledger } from "./Ledger.js";
import { ResourceMonitor, type ResourceLevels } from "./ResourceMonitor.js";
import type { SoakOptions } from "./SoakOptions.js";
import { SoakLoop } from "./SoakLoop.js";
import { leftBehind, llamaScopeEntries } from "./tmpFiles.js";

/**
 * The parent the soak drives: 3 slots of 256 tokens for 5 loops of 2–4 scopes each (12–20
 * scopes), so scopes are frozen and restored all the time; and at most 512 KiB of frozen bytes in
 * memory (a full slot's state is ~170 KB), so most freezes spill to the disk.
 */
export const SOAK_PARENT = { slots: 3, contextSize: 256, maxRamBytes: 512 * 1024 } as const;
export const LOOPS = 5;
/**
 * The tool round trips' parent: a function's documentation in this model's chat wrapper is ~550
 * tokens, more than a soak slot holds, so they run on one slot of 2,048 (one sequence at a time:
 * its copies' replies cannot differ by batch). The same isolation; the killer kills only the main engine.
 */
export const TOOL_PARENT = { slots: 1, contextSize: 2048 } as const;

export interface SoakResult {
  options: SoakOptions;
  ledger: Ledger;
  seconds: number;
  resources: { rss: ResourceLevels; fds: ResourceLevels; engineRss: ResourceLevels | undefined };
  /** `llama-scope-*` entries in the OS temporary directory before and after, and those this run left. */
  files: { before: number; after: number; left: string[] };
  kills: number;
  restarts: number;
  stats: ParentStats;
  /** From how many generating slots the engine decodes one batch (fewer take turns, decoded as alone); see docs/api.md. */
  lockstepMinBatch: number | undefined;
}

/** Runs the soak: random operations for `options.minutes`, then the end-of-run checks. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const filesBefore = llamaScopeEntries();
  const ledger = new Ledger();
  // The conversation store's Redis: revivals go through it half the time (issue 22).
  const redis = await startRedisServer();
  const parent = new LlamaParent(
    new LlamaLoad({
      ...testLoadOptions({ slots: SOAK_PARENT.slots, contextSize: SOAK_PARENT.contextSize }),
      store: { redis: redis.url, chunkTokens: 16 },
      isolation: options.isolation,
      swap: { maxRamBytes: SOAK_PARENT.maxRamBytes },
      // Every kill must be survived: allow as many restarts as kills (at least the default 3).
      ...(options.isolation === "process" ? { restart: { maxRestarts: Math.max(3, options.killEngine), windowMs: 60_000 } } : {}),
    }),
  );
  const toolParent = new LlamaParent(
    new LlamaLoad({ ...testLoadOptions({ ...TOOL_PARENT, embeddings: false }), isolation: options.isolation }),
  );
  const started = performance.now();
  const ready = await parent.init();
  await toolParent.init();
  parent.on("scopeShifted", () => ledger.shifts++);
  parent.on("scopeFrozen", (_id, { storage }) => {
    ledger.freezes++;
    if (storage === "disk") ledger.spills++;
  });
  const durationMs = options.minutes * 60_000;
  const operationsStarted = performance.now();
  const killer = options.isolation === "process" ? new EngineKiller(parent, ledger, options.seed, operationsStarted) : undefined;
  const monitor = new ResourceMonitor(Math.max(10_000, durationMs / 4), () => parent.engine.pid);
  const context: SoakContext = {
    parent,
    ledger,
    gate: new Gate(),
    killer,
    seed: options.seed,
    contextSize: ready.contextSize,
    maxPromptLength: ready.maxPromptLength,
    started: operationsStarted,
    toolParent,
    embeddings: new Map(),
  };
  killer?.start(options.killEngine, durationMs);

  const deadline = performance.now() + durationMs;
  const loops = Array.from({ length: LOOPS }, (_, i) => new SoakLoop(context, i + 1));
  const finished = await Promise.all(loops.map((loop) => loop.run(deadline)));
  killer?.stop();
  if (killer !== undefined && !(await killer.settle(30_000)))
    ledger.violation(
      "engine",
      `seed ${options.seed}: the engine was not restarted within 30 s of kill ${killer.kills} (${killer.restarts} restarts)`,
    );
  // A loop with a hung operation is left alone: disposing its scopes would only wait on it too.
  await Promise.all(loops.filter((_, i) => finished[i]).map((loop) => loop.finish()));
  const stats = parent.stats();
  if (finished.every(Boolean)) {
    checkLeftovers(ledger, options.seed, stats);
    checkLeftovers(ledger, options.seed, toolParent.stats(), "the tool parent");
  }
  const resources = monitor.stop();
  checkResources(ledger, options.seed, resources);

  const toolPid = toolParent.engine.pid;
  await parent.dispose();
  await toolParent.dispose();
  await redis.stop();
  const filesAfter = llamaScopeEntries();
  const left = leftBehind(
    filesBefore,
    filesAfter,
    new Set([process.pid, ...(killer?.pids ?? []), ...(toolPid === undefined ? [] : [toolPid])]),
  );
  if (left.length > 0)
    ledger.violation("files left", `seed ${options.seed}: after dispose() these are left in the temporary directory: ${left.join(", ")}`);
  return {
    options,
    ledger,
    seconds: (performance.now() - started) / 1000,
    resources,
    files: { before: filesBefore.length, after: filesAfter.length, left },
    kills: killer?.kills ?? 0,
    restarts: parent.engine.restarts,
    stats,
    lockstepMinBatch: ready.lockstepMinBatch,
  };
}

/** Once every scope is disposed, the parent holds no slot, no frozen byte, no waiting call. */
function checkLeftovers(ledger: Ledger, seed: number, stats: ParentStats, which = "the parent"): void {
  const { scopes, slots, frozenBytes, queueDepth } = stats;
  if (scopes.total !== 0 || slots.held !== 0 || frozenBytes.ram !== 0 || frozenBytes.disk !== 0 || queueDepth !== 0)
    ledger.violation(
      "leftovers",
      `seed ${seed}: every scope is disposed, yet ${which} reports ${scopes.total} scopes (${scopes.frozen} frozen), ${slots.held} slots held, ` +
        `${frozenBytes.ram} frozen bytes in memory and ${frozenBytes.disk} on disk, ${queueDepth} calls waiting`,
    );
}

function checkResources(ledger: Ledger, seed: number, resources: SoakResult["resources"]): void {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const { rss, fds, engineRss } = resources;
  if (rss.max > rss.limit)
    ledger.violation(
      "resources",
      `seed ${seed}: RSS reached ${mib(rss.max)} at ${rss.maxAt.toFixed(0)} s, over its bound ${mib(rss.limit)} (warm-up ${mib(rss.warmup)})`,
    );
  if (fds.max > fds.limit)
    ledger.violation(
      "resources",
      `seed ${seed}: ${fds.max} open file descriptors at ${fds.maxAt.toFixed(0)} s, over the bound ${fds.limit} (warm-up ${fds.warmup})`,
    );
  if (engineRss !== undefined && engineRss.max > engineRss.limit)
    ledger.violation(
      "resources",
      `seed ${seed}: the engine process's RSS reached ${mib(engineRss.max)} at ${engineRss.maxAt.toFixed(0)} s, over its bound ${mib(engineRss.limit)} (warm-up ${mib(engineRss.warmup)})`,
    );
}
