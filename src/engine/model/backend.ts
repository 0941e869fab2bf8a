import { getLlama, LlamaLogLevel, type Llama as LlamaBackend } from "node-llama-cpp";
import type { ResolvedLoadOptions } from "../../loading/LlamaLoadOptions.js";

/**
 * node-llama-cpp's `getLlama()` adds process listeners on every call, so each distinct backend
 * configuration is created once per process (per thread) and shared by every `Llama` instance.
 * A backend holds no handles of its own: the process can exit while it is cached.
 */
const backends = new Map<string, Promise<LlamaBackend>>();

export function getBackend(options: Pick<ResolvedLoadOptions, "gpu" | "build" | "logLevel">): Promise<LlamaBackend> {
  const key = `${String(options.gpu)}|${options.build}|${options.logLevel}`;
  let backend = backends.get(key);
  if (backend === undefined) {
    backend = getLlama({ gpu: options.gpu, build: options.build, logLevel: LOG_LEVELS[options.logLevel] });
    backends.set(key, backend);
    // A failed load (e.g. no binary) must not poison the cache for a later, fixed attempt.
    backend.catch(() => backends.delete(key));
  }
  return backend;
}

const LOG_LEVELS = {
  error: LlamaLogLevel.error,
  warn: LlamaLogLevel.warn,
  info: LlamaLogLevel.info,
  debug: LlamaLogLevel.debug,
  disabled: LlamaLogLevel.disabled,
} as const;
