import { stat } from "node:fs/promises";
import type { LlamaModel } from "node-llama-cpp";
import { ModelLoadError } from "../../shared/errors/index.js";
import { getBackend } from "./backend.js";
import type { ResolvedLoadOptions } from "../../loading/LlamaLoadOptions.js";
import type { LoadControl } from "../LlamaOptions.js";
import { PhaseProgress } from "../../loading/LoadProgress.js";
import { fetchModel } from "../../loading/modelSource.js";
import { modelFingerprint } from "../../state/modelFingerprint.js";
import { StateFiles } from "../slots/StateFiles.js";

/** A model loaded for a `Llama`, before its context exists. */
export interface OpenedModel {
  model: LlamaModel;
  /** The load settings, `modelPath` now the file loaded (a URI's download). */
  settings: ResolvedLoadOptions;
  /** The model file's fingerprint, as saved states record it. */
  fingerprint: string;
  modelBytes: number;
  /** The load phase's progress: finished once the slots are allocated too. */
  loading: PhaseProgress;
  signal: AbortSignal | undefined;
}

/**
 * The first half of `Llama.load`: downloads a model URI (unless cached), checks the file, starts
 * llama.cpp and reads the weights, reporting progress; removes state directories left by killed
 * processes meanwhile.
 * @throws {ModelLoadError} for a missing file, a failed download, a file that is not a model.
 * @throws the reason of `control.signal` when it is aborted first.
 */
export async function openModel(resolved: ResolvedLoadOptions, control: LoadControl): Promise<OpenedModel> {
  const { signal, onProgress } = control;
  signal?.throwIfAborted();
  const modelPath = await fetchModel(resolved.modelPath, { cacheDir: resolved.modelCacheDir, signal, onProgress });
  const settings = { ...resolved, modelPath };
  const modelBytes = await assertModelFile(modelPath);
  const loading = new PhaseProgress("load", onProgress);
  const onLoadProgress =
    onProgress === undefined ? undefined : (ratio: number) => loading.update(Math.round(ratio * modelBytes), modelBytes);
  const [backend, fingerprint] = await Promise.all([
    getBackend(settings).catch((cause: unknown) => {
      throw new ModelLoadError(
        `Could not start llama.cpp (${errorText(cause)}). Check that node-llama-cpp's prebuilt binary is installed (npm ci).`,
        { cause },
      );
    }),
    modelFingerprint(modelPath),
    StateFiles.removeStale(settings.stateDir), // left by killed processes; never rejects
  ]);
  signal?.throwIfAborted();
  const model = await backend
    .loadModel({
      modelPath,
      ...(signal === undefined ? {} : { loadSignal: signal }),
      ...(onLoadProgress === undefined ? {} : { onLoadProgress }),
    })
    .catch((cause: unknown) => {
      signal?.throwIfAborted();
      throw new ModelLoadError(`Could not load "${modelPath}" as a model (${errorText(cause)}). Pass the path of a GGUF model file.`, {
        cause,
      });
    });
  return { model, settings, fingerprint, modelBytes, loading, signal };
}

/** Checks that a model file is there; resolves with its size. */
async function assertModelFile(modelPath: string): Promise<number> {
  const info = await stat(modelPath).catch(() => undefined);
  if (info === undefined) throw new ModelLoadError(`No model file at "${modelPath}". Pass the path of a GGUF model file or a model URI.`);
  if (!info.isFile()) throw new ModelLoadError(`"${modelPath}" is not a file. Pass the path of a GGUF model file or a model URI.`);
  return info.size;
}

/** An error's message, for wrapping it in one of ours. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
