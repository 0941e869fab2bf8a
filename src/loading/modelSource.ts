import { stat } from "node:fs/promises";
import path from "node:path";
import { resolveModelFile } from "node-llama-cpp";
import { ModelLoadError } from "../shared/errors/index.js";
import { PhaseProgress, type LoadProgress } from "./LoadProgress.js";

/**
 * What node-llama-cpp's `resolveModelFile` downloads: Hugging Face URIs and URLs
 * (`hf:user/repo:quant`, `hf:user/repo/file.gguf`, `huggingface:…`, `hf.co/…`, `https://…`). Anything
 * else is a local path, relative to the working directory as everywhere in Node (resolveModelFile
 * would take it relative to its models directory).
 */
const URI_PREFIXES = ["hf:", "huggingface:", "hf.co/", "huggingface.co/"];

/** Whether `modelPath` names a model to download rather than a local file. */
export function isModelUri(modelPath: string): boolean {
  const lower = modelPath.toLowerCase();
  return URI_PREFIXES.some((prefix) => modelPath.startsWith(prefix)) || lower.startsWith("http://") || lower.startsWith("https://");
}

/** Options of {@link fetchModel}. */
export interface FetchModelOptions {
  /** Where downloads go (and are found again). Default: node-llama-cpp's models directory, `~/.node-llama-cpp/models`. */
  cacheDir: string | undefined;
  signal: AbortSignal | undefined;
  /** Download progress; called only when something is downloaded. */
  onProgress: ((progress: LoadProgress) => void) | undefined;
}

/**
 * The local file of a model: a path as it is (made absolute), a URI's file in the cache
 * directory, downloaded first if it is not there yet.
 * @throws {ModelLoadError} when the download fails.
 * @throws the reason of `signal` when it is aborted first.
 */
export async function fetchModel(modelPath: string, { cacheDir, signal, onProgress }: FetchModelOptions): Promise<string> {
  if (!isModelUri(modelPath)) return path.resolve(modelPath);
  signal?.throwIfAborted();
  const download = new PhaseProgress("download", onProgress);
  let downloaded = false;
  let file: string;
  try {
    file = await resolveModelFile(modelPath, {
      ...(cacheDir === undefined ? {} : { directory: cacheDir }),
      cli: false,
      ...(signal === undefined ? {} : { signal }),
      onProgress: ({ downloadedSize, totalSize }) => {
        downloaded = true;
        download.update(downloadedSize, totalSize);
      },
    });
  } catch (cause) {
    signal?.throwIfAborted();
    throw new ModelLoadError(
      `Could not download the model "${modelPath}" (${cause instanceof Error ? cause.message : String(cause)}). ` +
        "Check the URI and the network (a gated Hugging Face model needs HF_TOKEN set), or pass the path of a local GGUF file.",
      { cause },
    );
  }
  // node-llama-cpp resolves even when the signal stopped the download (with the path of the file it removed).
  signal?.throwIfAborted();
  if (downloaded) download.finish((await stat(file)).size);
  return file;
}
