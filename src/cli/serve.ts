import { mkdirSync } from "node:fs";
import { LlamaLoad, LlamaParent, LlamaScopeError, type ParentLoadOptions } from "../index.js";
import type { LlamaServer } from "../server/index.js";
import { CliUsageError } from "./CliUsageError.js";
import { loadServer } from "./loadServer.js";
import { showLoadProgress } from "./loadProgress.js";
import { parseServeOptions, SERVE_HELP } from "./serveOptions.js";

/** After a stop signal, the process ends by itself; this bounds a shutdown that hangs. */
const SHUTDOWN_LIMIT_MS = 60_000;

/**
 * `llama-scope serve`: loads the model, serves it over HTTP, and on SIGTERM or SIGINT saves every
 * session to the state directory and exits. Resolves with the exit code once it has stopped.
 */
export async function serve(args: string[]): Promise<number> {
  const options = parseServeOptions(args, process.env);
  if (options.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  const { LlamaServer } = await loadServer();
  const log = (line: string) => process.stderr.write(`llama-scope: ${line}\n`);
  if (options.stateDir !== undefined) mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  const load: ParentLoadOptions = { modelPath: options.model, slots: options.slots, isolation: options.isolation };
  if (options.contextSize !== undefined) load.contextSize = options.contextSize;
  if (options.threads !== undefined) load.threads = options.threads;
  if (options.maxRamBytes !== undefined) load.swap = { maxRamBytes: options.maxRamBytes };
  if (!options.embeddings) load.embeddings = false;
  if (options.embeddingModel !== undefined) load.embeddings = { modelPath: options.embeddingModel };
  if (options.redis !== undefined) load.store = { redis: options.redis };
  let parent: LlamaParent;
  let server: LlamaServer;
  try {
    parent = new LlamaParent(new LlamaLoad(load));
    server = new LlamaServer(parent, {
      maxQueue: options.maxQueue,
      maxSessions: options.maxSessions,
      maxStatelessScopes: options.maxStatelessScopes,
      maxSessionQueue: options.maxSessionQueue,
      maxMessages: options.maxMessages,
      maxSavedSessions: options.maxSavedSessions,
      maxStateBytes: options.maxStateBytes,
      durability: options.durability,
      log,
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
    });
  } catch (error) {
    if (error instanceof LlamaScopeError) throw new CliUsageError(error.message);
    throw error;
  }

  // Listening before the model is loaded: /health says "loading" meanwhile, completions get 503.
  const { url } = await server.listen({ host: options.host, port: options.port });
  process.stdout.write(`llama-scope: listening on ${url} (chat page at ${url}/), loading ${options.model}\n`);
  const stopped = stopOnSignal(server, parent, log);
  const endProgress = showLoadProgress(parent);
  try {
    const info = await parent.init();
    endProgress();
    process.stdout.write(
      `llama-scope: ready: ${info.slots} slots of ${info.contextSize} tokens, ${info.threads} thread${info.threads === 1 ? "" : "s"}, loaded in ${Math.round(info.loadMs)} ms\n`,
    );
  } catch (error) {
    endProgress();
    if (parent.disposed) return stopped; // a signal stopped the server while the model loaded
    log(`could not load the model: ${(error as Error).message}`);
    await server.close({ persist: false });
    await parent.dispose();
    return 1;
  }
  return stopped;
}

/** Resolves with the exit code once a SIGTERM or SIGINT has stopped the server, saved the sessions and freed the model. */
function stopOnSignal(server: LlamaServer, parent: LlamaParent, log: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    // A signal listener returns nothing: stopping() catches its own errors.
    const stop = (signal: NodeJS.Signals) => void stopping(signal);
    const stopping = async (signal: NodeJS.Signals) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      // A second signal while stopping ends the process at once.
      process.once("SIGTERM", () => process.exit(1));
      process.once("SIGINT", () => process.exit(1));
      setTimeout(() => {
        log(`shutdown took over ${SHUTDOWN_LIMIT_MS / 1000} s; exiting without finishing it`);
        process.exit(1);
      }, SHUTDOWN_LIMIT_MS).unref();
      log(`${signal}: stopping (requests in flight finish first)`);
      try {
        const { persisted } = await server.close();
        if (persisted > 0) log(`saved ${persisted} session${persisted === 1 ? "" : "s"}`);
        await parent.dispose();
        resolve(0);
      } catch (error) {
        log(`shutdown failed: ${(error as Error).stack ?? String(error)}`);
        resolve(1);
      }
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}
