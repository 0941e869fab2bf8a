import type { LlamaContext } from "node-llama-cpp";

/**
 * When each native decode and sample of a context ran, as JavaScript saw it, for profiling one
 * stream (`npm run bench:stream`). node-llama-cpp calls its addon's `decodeBatch` once per batch
 * and `sampleToken` once per generated token, each an asynchronous native call on a libuv
 * thread; the gaps between them are JavaScript and thread hand-offs.
 *
 * This wraps `LlamaContext._ctx` (the addon context, `@internal` in node-llama-cpp 3.22.1), like
 * everything in this folder: `test/engine/internals.test.ts` fails loudly when an upgrade moves it.
 */
export interface NativeCallTrace {
  /** `[called, settled]` in `performance.now()` ms, per `decodeBatch` call, in call order. */
  readonly decodes: Array<[number, number]>;
  /** The same per `sampleToken` call. */
  readonly samples: Array<[number, number]>;
  /** Puts the addon's own methods back. */
  stop(): void;
}

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

/** Starts recording `context`'s native calls; undefined when node-llama-cpp no longer has them. */
export function traceNativeCalls(context: LlamaContext): NativeCallTrace | undefined {
  const addon = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  if (addon === undefined || typeof addon.decodeBatch !== "function" || typeof addon.sampleToken !== "function") return undefined;
  const trace: NativeCallTrace = { decodes: [], samples: [], stop: () => {} };
  const wrap = (name: "decodeBatch" | "sampleToken", into: Array<[number, number]>) => {
    const own = Object.prototype.hasOwnProperty.call(addon, name);
    const original = addon[name] as AsyncMethod;
    // The addon's methods are read-only on its prototype: an own property shadows them.
    const traced = function (this: unknown, ...args: unknown[]) {
      const entry: [number, number] = [performance.now(), NaN];
      into.push(entry);
      const settle = () => (entry[1] = performance.now());
      const result = original.apply(this, args);
      void result.then(settle, settle);
      return result;
    };
    Object.defineProperty(addon, name, { value: traced, configurable: true, writable: true });
    return () => {
      if (own) Object.defineProperty(addon, name, { value: original, configurable: true, writable: true });
      else delete addon[name];
    };
  };
  const restore = [wrap("decodeBatch", trace.decodes), wrap("sampleToken", trace.samples)];
  trace.stop = () => restore.forEach((undo) => undo());
  return trace;
}
