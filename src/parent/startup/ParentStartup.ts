import os from "node:os";
import path from "node:path";
import type { LoadProgress } from "../../engine/index.js";
import { stateKeyBytes } from "../../loading/LlamaLoadOptions.js";
import { fetchModel, isModelUri } from "../../loading/modelSource.js";
import type { ModelReady, WireLoadOptions } from "../../protocol/index.js";
import { DisposedError } from "../../shared/errors/index.js";
import { removeStaleDirectories } from "../../shared/ownedDirectories.js";
import type { ConversationHost, ConversationStore } from "../conversations/ConversationStore.js";
import { openConversationStore } from "../conversations/openConversationStore.js";
import { connectRedis } from "../conversations/redisConnection.js";
import type { LlamaLoad, ParentLoadOptions } from "../LlamaLoad.js";
import { DEFAULT_PREFIX_CACHE_MIN_TOKENS } from "../PrefixCacheOptions.js";
import { ScratchDirectory } from "./ScratchDirectory.js";
import type { EngineSupervisor } from "../supervisor/EngineSupervisor.js";

/** What a start needs of its parent besides the load. */
export interface StartupHost {
  readonly supervisor: EngineSupervisor;
  /** The model's download and load, as `loadProgress` events. */
  progress(update: LoadProgress): void;
  /** What the conversation store takes of the parent: new scopes from its states. */
  readonly conversations: Pick<ConversationHost, "sharedStates" | "scopeFrom">;
}

/** What a start made. */
export interface Started {
  info: ModelReady;
  /** The conversation store, with `LlamaLoad({ store })`. */
  conversations: ConversationStore | undefined;
}

/**
 * What a `LlamaParent` does before its first scope can prompt, and takes back at dispose: the
 * scratch directory for the engine's state files (what dead processes left beside it swept
 * first), the model file (downloaded when `modelPath` is a URI), the engine started on it, and
 * the conversation store's connection.
 */
export class ParentStartup {
  private readonly scratch = new ScratchDirectory();
  /** The local model file the engine loads: `modelPath`, or its download. Set before the engine starts. */
  private modelFile: string | undefined;
  /** Stops a download or load in progress when the parent is disposed. */
  private readonly loadAbort = new AbortController();

  constructor(private readonly load: LlamaLoad) {}

  /** The options every engine loads with, the first and each restarted one. */
  engineOptions(): WireLoadOptions {
    // Off, the cache still has shared prefixes evaluated apart: replies never depend on it.
    const { prefixCache } = this.load;
    const prefixes = prefixCache === false ? { maxBytes: 0, minTokens: DEFAULT_PREFIX_CACHE_MIN_TOKENS } : prefixCache;
    return {
      ...this.load.options,
      ...embeddingModelFile(this.load.options.embeddings),
      modelPath: this.modelFile!,
      stateDir: this.scratch.path!,
      prefixCache: prefixes,
    };
  }

  /** The model's download (in this thread, so the engine gets a file), then the engine and its load. */
  async run(host: StartupHost, signal: AbortSignal | undefined): Promise<Started> {
    const aborted = signal === undefined ? this.loadAbort.signal : AbortSignal.any([signal, this.loadAbort.signal]);
    const { options, store } = this.load;
    const scratchParent = options.stateDir ?? os.tmpdir();
    const sweep = this.removeStaleDirectories(scratchParent);
    // Made before anything is awaited, so a dispose() during init always finds it to remove.
    this.scratch.make(scratchParent);
    let conversations: ConversationStore | undefined;
    // Connected beside the download, so a missing redis package fails before the model loads.
    const connecting = store === undefined ? undefined : connectRedis(store.redis, (error) => conversations?.connectionFailed(error));
    try {
      const [modelFile, , connection] = await Promise.all([
        fetchModel(options.modelPath, { cacheDir: options.modelCacheDir, signal: aborted, onProgress: (update) => host.progress(update) }),
        sweep,
        connecting,
      ]);
      aborted.throwIfAborted(); // disposed meanwhile: no engine may start
      this.modelFile = modelFile;
      const info = await host.supervisor.start((update) => host.progress(update));
      if (store !== undefined)
        conversations = openConversationStore(store, connection!, info, {
          stateKey: stateKeyBytes(options.stateKey),
          ...host.conversations,
        });
      return { info, conversations };
    } catch (error) {
      (await connecting?.catch(() => undefined))?.close(); // no store came of it
      throw error;
    }
  }

  /** Stops a download or load in progress: the parent is disposed. */
  abort(): void {
    this.loadAbort.abort(new DisposedError("The LlamaParent was disposed while it loaded the model."));
  }

  /** Removes the scratch directory (once). Never rejects. */
  removeScratch(): Promise<void> {
    return this.scratch.remove();
  }

  /**
   * Removes what killed processes left where this parent keeps its files: scratch directories
   * beside its own and spill directories in the swap directory (see `ownedDirectories`). Only
   * directories whose recorded owner is dead go. Never rejects.
   */
  private async removeStaleDirectories(scratchParent: string): Promise<void> {
    const { swap } = this.load;
    await Promise.all([
      removeStaleDirectories(scratchParent, "scratch"),
      removeStaleDirectories((swap === false ? undefined : swap.dir) ?? os.tmpdir(), "swap"),
    ]);
  }
}

/**
 * The `embeddings` option as the engine gets it: a second model's local path made absolute here
 * (the engine process may not share this one's working directory); a URI is downloaded there.
 */
function embeddingModelFile(embeddings: ParentLoadOptions["embeddings"]): Pick<ParentLoadOptions, "embeddings"> {
  if (typeof embeddings !== "object" || embeddings.modelPath === undefined || isModelUri(embeddings.modelPath)) return {};
  return { embeddings: { ...embeddings, modelPath: path.resolve(embeddings.modelPath) } };
}
