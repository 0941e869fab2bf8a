import { statSync } from "node:fs";
import { InvalidArgumentError } from "../shared/errors/index.js";
import { checkContextShift, type ContextShiftOptions } from "../shared/ContextShift.js";
import { defaultThreads } from "./defaultThreads.js";
import { resolveEmbeddings, type EmbeddingOptions, type ResolvedEmbeddings } from "./EmbeddingOptions.js";
import { assertKnownKeys, optionalBoolean, positiveInteger } from "../shared/validate.js";

/** Options of {@link Llama.load}. */
export interface LlamaLoadOptions {
  /**
   * The model: the path of a GGUF file, or a URI that node-llama-cpp downloads into
   * `modelCacheDir` (once; later loads find it there): `hf:user/repo:Q4_K_M`,
   * `hf:user/repo/file.gguf`, or an `https://` URL of a GGUF file.
   */
  modelPath: string;
  /**
   * Where models given as URIs are downloaded to and found again. Default: node-llama-cpp's
   * models directory (`~/.node-llama-cpp/models`). Created when needed.
   */
  modelCacheDir?: string;
  /** How many slots (sequences of the shared context) to allocate. Default 4. */
  slots?: number;
  /** Tokens each slot can hold. Default 2048, capped by the model's training context. */
  contextSize?: number;
  /** CPU threads for decoding. Default: half the machine's cores, at least 1 (see `defaultThreads`). */
  threads?: number;
  /** Tokens decoded per batch across all slots. Default: node-llama-cpp's (`min(contextSize × slots, 512)`). */
  batchSize?: number;
  /**
   * llama.cpp's flash attention for the context. Default: node-llama-cpp's `"auto"`, which
   * llama.cpp resolves per backend (on CPU: enabled). Measured: on stories260K (8-dimension heads)
   * `false` was 12–35 % faster; on the 125M sized model `false` was slower at 8 slots. States
   * record the setting: a state saved with one does not load with the other.
   */
  flashAttention?: boolean;
  /** GPU backend, passed to node-llama-cpp's `getLlama`. Default `"auto"`. */
  gpu?: "auto" | false;
  /**
   * Whether node-llama-cpp may build llama.cpp from source when no prebuilt binary fits.
   * Default `"never"`: loading never compiles or downloads anything.
   */
  build?: "never" | "auto";
  /**
   * llama.cpp's log level. Default `"error"`: llama.cpp warns about things a user cannot act on
   * (loading many llama models prints two "bad special token" lines); `"warn"` shows them.
   */
  logLevel?: "error" | "warn" | "info" | "debug" | "disabled";
  /**
   * An existing directory for the short-lived files node-llama-cpp needs to save and load slot
   * states (it has no in-memory API). The files are always in a private directory made inside it
   * (mode 0700) on first use and removed by `dispose()`; the directory itself is never written to
   * or removed. Default: the OS temporary directory.
   */
  stateDir?: string;
  /**
   * What a full slot does: by default the oldest tokens are erased (`size` at a time, default a
   * tenth of the context) so a conversation never hits the context wall. `false`: a prompt that
   * does not fit throws `ContextOverflowError`, a reply that fills the slot ends with
   * `finishReason: "contextFull"`. Each slot can override it (`createSlot(id, { contextShift })`).
   */
  contextShift?: ContextShiftOptions | false;
  /**
   * A secret (a string, or bytes: at least 32 random bytes are best) that authenticates saved
   * states: `saveState` adds an HMAC-SHA256 under it, and `loadState` refuses a state without a
   * valid one before reading anything else. Use it whenever states leave the process's trust
   * boundary (a browser, a database, a file others can write). Default: none (a plain checksum).
   */
  stateKey?: string | Uint8Array;
  /**
   * Lock-step batching: slots generating at the same time wait for each other after every token
   * and queue their next tokens together, in sequence order, so llama.cpp decodes them in one
   * pass over the weights (a slot that stops, or is late by more than a few milliseconds, never
   * holds the others). Default `true`; `false` lets each slot run free, as node-llama-cpp does.
   *
   * A batch of a few tokens can cost more than its tokens one by one (llama.cpp's CPU kernels for
   * some weight types), so at load the engine times batches of 1 to `slots` tokens and decodes
   * lock-stepped slots as one batch only when there are enough of them for it to pay; fewer take
   * turns. `{ minBatch: n }` sets that number instead of probing (2: always one batch).
   */
  lockstep?: boolean | LockstepOptions;
  /**
   * Embeddings (`embed(texts)`): by default computed with the loaded model, in an embedding
   * context of its own made at the first `embed` (no memory until then; it never touches a slot).
   * `{ modelPath }` computes them with a second model, an embedding model, loaded with this one;
   * `{ contextSize }` sets the longest text. `false` turns them off: `embed` throws
   * `EmbeddingsUnavailableError`. See docs/embeddings.md.
   */
  embeddings?: boolean | EmbeddingOptions;
}

/** Lock-step batching with its threshold set rather than probed. */
export interface LockstepOptions {
  /**
   * The fewest slots generating at once that are decoded as one batch; fewer take turns, one
   * token per decode. Default: probed at load (the smallest size whose batches beat single
   * decodes on this model and machine).
   */
  minBatch?: number;
}

/** {@link LlamaLoadOptions} with every default filled in and every value checked. */
export interface ResolvedLoadOptions {
  modelPath: string;
  modelCacheDir: string | undefined;
  slots: number;
  contextSize: number;
  threads: number;
  batchSize: number | undefined;
  flashAttention: boolean | undefined;
  gpu: "auto" | false;
  build: "never" | "auto";
  logLevel: "error" | "warn" | "info" | "debug" | "disabled";
  stateDir: string | undefined;
  contextShift: ContextShiftOptions | false;
  stateKey: Uint8Array | undefined;
  /** False, or lock-step with its `minBatch` (undefined: probe it at load). */
  lockstep: false | { minBatch: number | undefined };
  /** Off, or the embedding model (undefined: the loaded one) and its context size (undefined: the default). */
  embeddings: ResolvedEmbeddings;
}

const DEFAULT_SLOTS = 4;
const DEFAULT_CONTEXT_SIZE = 2048;
const LOG_LEVELS = ["error", "warn", "info", "debug", "disabled"] as const;
export const LOAD_OPTION_NAMES = [
  "modelPath",
  "modelCacheDir",
  "slots",
  "contextSize",
  "threads",
  "batchSize",
  "flashAttention",
  "gpu",
  "build",
  "logLevel",
  "stateDir",
  "contextShift",
  "stateKey",
  "lockstep",
  "embeddings",
] as const satisfies readonly (keyof LlamaLoadOptions)[];

export function resolveLoadOptions(options: LlamaLoadOptions): ResolvedLoadOptions {
  if (options == null || typeof options !== "object")
    throw new InvalidArgumentError('Llama.load needs an options object: Llama.load({ modelPath: "model.gguf" }).');
  if (Object.hasOwn(options, "onLoadProgress") || Object.hasOwn(options, "onProgress"))
    throw new InvalidArgumentError(
      'Load progress is not a load option: Llama.load takes it beside them (Llama.load(options, { onProgress })), and a LlamaParent emits it (parent.on("loadProgress", …)).',
    );
  assertKnownKeys(options, LOAD_OPTION_NAMES, "load option", "Load options");
  if (typeof options.modelPath !== "string" || options.modelPath.length === 0)
    throw new InvalidArgumentError(
      'modelPath must be the path of a GGUF model file or a model URI ("hf:user/repo:Q4_K_M", "https://…/model.gguf").',
    );
  if (options.modelCacheDir !== undefined && (typeof options.modelCacheDir !== "string" || options.modelCacheDir.length === 0))
    throw new InvalidArgumentError("modelCacheDir must be the path of a directory (it is created when a download needs it).");
  if (options.modelCacheDir !== undefined && statSync(options.modelCacheDir, { throwIfNoEntry: false })?.isDirectory() === false)
    throw new InvalidArgumentError(
      `modelCacheDir "${options.modelCacheDir}" is not a directory. Pass a directory, or leave modelCacheDir out to use node-llama-cpp's.`,
    );
  if (options.gpu !== undefined && options.gpu !== "auto" && options.gpu !== false)
    throw new InvalidArgumentError(`gpu must be "auto" or false, not ${String(options.gpu)}.`);
  if (options.build !== undefined && options.build !== "never" && options.build !== "auto")
    throw new InvalidArgumentError(`build must be "never" or "auto", not ${String(options.build)}.`);
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel))
    throw new InvalidArgumentError(`logLevel must be one of ${LOG_LEVELS.join(", ")}.`);
  if (options.stateDir !== undefined && (typeof options.stateDir !== "string" || options.stateDir.length === 0))
    throw new InvalidArgumentError("stateDir must be the path of an existing directory.");
  // Checked now: the private directory for state files is made inside it at the first save or load.
  if (options.stateDir !== undefined && statSync(options.stateDir, { throwIfNoEntry: false })?.isDirectory() !== true)
    throw new InvalidArgumentError(
      `stateDir "${options.stateDir}" is not a directory. Create it, or leave stateDir out to use the OS temporary directory.`,
    );
  return {
    modelPath: options.modelPath,
    modelCacheDir: options.modelCacheDir,
    slots: positiveInteger("slots", options.slots) ?? DEFAULT_SLOTS,
    contextSize: positiveInteger("contextSize", options.contextSize) ?? DEFAULT_CONTEXT_SIZE,
    threads: positiveInteger("threads", options.threads) ?? defaultThreads(),
    batchSize: positiveInteger("batchSize", options.batchSize),
    flashAttention: optionalBoolean("flashAttention", options.flashAttention),
    gpu: options.gpu ?? "auto",
    build: options.build ?? "never",
    logLevel: options.logLevel ?? "error",
    stateDir: options.stateDir,
    contextShift: checkContextShift(options.contextShift, "load"),
    stateKey: stateKeyBytes(options.stateKey),
    lockstep: checkLockstep(options.lockstep),
    embeddings: resolveEmbeddings(options.embeddings),
  };
}

function checkLockstep(lockstep: unknown): ResolvedLoadOptions["lockstep"] {
  if (lockstep === undefined || lockstep === true) return { minBatch: undefined };
  if (lockstep === false) return false;
  if (typeof lockstep !== "object" || lockstep === null || Array.isArray(lockstep))
    throw new InvalidArgumentError(`lockstep must be true, false or { minBatch }, not ${String(lockstep)}.`);
  assertKnownKeys(lockstep, ["minBatch"], "lockstep option", "lockstep");
  return { minBatch: positiveInteger("lockstep.minBatch", (lockstep as LockstepOptions).minBatch) };
}

/** The `stateKey` option as bytes (a string as UTF-8). */
export function stateKeyBytes(key: unknown): Uint8Array | undefined {
  if (key === undefined) return undefined;
  if (typeof key === "string" && key.length > 0) return new TextEncoder().encode(key);
  if (key instanceof Uint8Array && key.byteLength > 0) return new Uint8Array(key);
  throw new InvalidArgumentError("stateKey must be a non-empty string or Uint8Array (a secret: at least 32 random bytes are best).");
}
