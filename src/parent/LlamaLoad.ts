import { statSync } from "node:fs";
import type { LlamaLoadOptions } from "../engine/index.js";
import { LOAD_OPTION_NAMES, resolveLoadOptions } from "../loading/LlamaLoadOptions.js";
import { cloneProblem } from "../shared/plainData.js";
import { assertKnownKeys } from "../shared/validate.js";
import { InvalidArgumentError } from "../shared/errors/index.js";
import type { PrefixCachePolicy } from "../protocol/index.js";
import type { Isolation } from "./supervisor/Isolation.js";
import {
  resolveConversationStore,
  type ConversationStoreOptions,
  type ConversationStorePolicy,
} from "./conversations/ConversationStoreOptions.js";
import { resolvePrefixCachePolicy, type PrefixCacheOptions } from "./PrefixCacheOptions.js";
import { resolveIsolation, resolveRestartPolicy, type RestartOptions, type RestartPolicy } from "./RestartOptions.js";
import { resolveSwapPolicy, type SwapOptions, type SwapPolicy } from "./SwapOptions.js";

/** Options of a {@link LlamaLoad}: the engine's, plus what the parent does when slots run out. */
export interface ParentLoadOptions extends LlamaLoadOptions {
  /**
   * More scopes than slots: by default the least recently used idle scope is frozen (in memory,
   * then on disk past `maxRamBytes`) and restored at its next prompt. `false` turns this off: a
   * scope that needs a slot when all are held fails with `SlotCapacityError`.
   */
  swap?: SwapOptions | false;
  /**
   * Where the engine runs. `"thread"` (default): a worker thread; cheapest, but a native crash in
   * llama.cpp ends your process. `"process"`: a child process; a segfault, an abort or an
   * out-of-memory kill there ends that process only, and the parent restarts it.
   */
  isolation?: Isolation;
  /**
   * Restart a dead engine, keeping every scope (see {@link RestartOptions}). Default: on with
   * `"process"`, off with `"thread"` (where it covers JavaScript-level deaths only).
   */
  restart?: RestartOptions | boolean;
  /**
   * Chat scopes whose history starts like an earlier scope's (the same system prompt, the same
   * template conversation) load that start's KV cache instead of evaluating it again. On by
   * default (`{ maxBytes: 256 MiB, minTokens: 32 }`, see {@link PrefixCacheOptions}); `false`
   * turns it off.
   */
  prefixCache?: PrefixCacheOptions | false;
  /**
   * A conversation store shared with other processes that load the same model (replicas): in
   * Redis, `{ redis: "redis://host:6379" }` (see {@link ConversationStoreOptions} and
   * docs/scaling.md). `parent.conversations` saves scopes there by name and opens them anywhere.
   * Needs the `redis` package beside llama-scope.
   */
  store?: ConversationStoreOptions;
}

/** Options the parent keeps; every other one is copied to the engine. */
const PARENT_OPTION_NAMES = ["swap", "isolation", "restart", "prefixCache", "store"];

/** What to pass instead of a callback or signal that users of node-llama-cpp's `loadModel` may try here. */
const INSTEAD: Record<string, string> = {
  onLoadProgress: 'For load progress, listen to the parent: parent.on("loadProgress", (progress) => …).',
  onProgress: 'For load progress, listen to the parent: parent.on("loadProgress", (progress) => …).',
  signal: "To cancel the load, pass the signal to init: await parent.init({ signal }).",
  loadSignal: "To cancel the load, pass the signal to init: await parent.init({ signal }).",
};

/**
 * The engine's options are copied to its worker thread or process by structured cloning, which
 * refuses functions (and drops a class's methods): refused here, with what to do instead of the
 * bare DataCloneError the copy would throw.
 */
function assertCloneable(options: object): void {
  for (const [key, value] of Object.entries(options)) {
    if (PARENT_OPTION_NAMES.includes(key)) continue;
    const instead = Object.hasOwn(INSTEAD, key) ? INSTEAD[key] : undefined;
    if (instead !== undefined) throw new InvalidArgumentError(`"${key}" is not a LlamaLoad option. ${instead}`);
    const problem = cloneProblem(value, key);
    if (problem !== undefined)
      throw new InvalidArgumentError(
        `LlamaLoad options are copied to the engine's worker thread or process, so they must be plain data, but ${problem}. ` +
          "Pass strings, numbers, booleans, arrays and plain objects (stateKey may be a Uint8Array).",
      );
  }
}

/**
 * What a `LlamaParent` loads in its worker, and how it shares the slots. Checked here, so a bad
 * value fails in the caller's thread before any worker starts.
 */
export class LlamaLoad {
  /** The engine options sent to the worker. */
  readonly options: Readonly<LlamaLoadOptions>;
  readonly swap: SwapPolicy;
  readonly isolation: Isolation;
  readonly restart: RestartPolicy;
  readonly prefixCache: PrefixCachePolicy;
  /** Slots the worker will allocate. */
  readonly slots: number;
  /** The conversation store's settings; undefined without one. */
  readonly store: ConversationStorePolicy | undefined;

  constructor(options: ParentLoadOptions) {
    if (options !== null && typeof options === "object") {
      assertCloneable(options);
      assertKnownKeys(options, [...LOAD_OPTION_NAMES, ...PARENT_OPTION_NAMES], "LlamaLoad option", "LlamaLoad options");
    }
    const { swap, isolation, restart, prefixCache, store, ...engine } = options ?? ({} as ParentLoadOptions);
    this.isolation = resolveIsolation(isolation);
    this.restart = resolveRestartPolicy(restart, this.isolation);
    this.slots = resolveLoadOptions(engine).slots;
    this.swap = resolveSwapPolicy(swap);
    this.prefixCache = resolvePrefixCachePolicy(prefixCache);
    this.store = store === undefined ? undefined : resolveConversationStore(store);
    if (this.swap !== false && this.swap.dir !== undefined && statSync(this.swap.dir, { throwIfNoEntry: false })?.isDirectory() !== true)
      throw new InvalidArgumentError(
        `swap.dir "${this.swap.dir}" is not a directory. Create it, or leave dir out to use the OS temporary directory.`,
      );
    this.options = engine;
  }
}
