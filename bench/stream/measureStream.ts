import path from "node:path";
import { fileURLToPath } from "node:url";
import { LlamaLoad, LlamaParent, type GenerationResult } from "../../src/index.js";
import { LlamaServer } from "../../src/server/index.js";
import { addonGreedyLoop } from "../../src/engine/internals/addonGreedyLoop.js";
import { getBackend } from "../../src/engine/model/backend.js";
import { testLoadOptions } from "../../test/support/testModel.js";
import { seededRandom } from "../../test/support/randomText.js";
import { median, pairedRatio, RawNodeLlamaCpp, shuffled, timed, warmUp } from "../support.js";
import { ChildServer, timedCompletion, timedRequest } from "./ChildServer.js";
import type { LlamaCppTools } from "./llamaCppTools.js";

export interface StreamOptions {
  modelPath: string;
  threads: number;
  /** Tokens per request (the setup: 48). */
  maxTokens: number;
  prompt: string;
  /** Rounds of each phase; a round runs every way once. */
  rounds: number;
  contextSize: number;
}

/** One way of running the request. */
interface Way {
  name: string;
  run(): Promise<{ ms: number; tokens: number; text: string; serverTokensPerSecond?: number }>;
}

/** What one phase measured: per way, each round's request time and rate. */
interface Phase {
  ms: Record<string, number[]>;
  rates: Record<string, number[]>;
  tokens: Record<string, number>;
  texts: Record<string, string>;
  /** llama-server's `timings.predicted_per_second` of each of its requests. */
  serverLoop: number[];
}

export interface StreamResult {
  /** Per way: tokens/s of each round's request (tokens ÷ wall time of the whole request), and the median. */
  rates: Record<string, { rounds: number[]; median: number }>;
  /** Per way: each round's request time, in ms. */
  requestMs: Record<string, number[]>;
  /** The ratios, each the median of per-round paired ratios. */
  ratios: Record<string, number>;
  /** A request through `serve` minus the same scope call in process (getScope, generate, dispose): the median of per-round differences, ms. */
  serveCostMs: number;
  /** The same, streamed. */
  serveStreamedCostMs: number;
  /**
   * A 1-token request through a `LlamaServer` on the same parent, less the same scope call on it:
   * no generation speed hides or adds anything, and nothing differs but the request itself (HTTP,
   * JSON, routing, the server's queues and bookkeeping).
   */
  serveOneTokenCostMs: number;
  /** The same through the `serve` process, less the scope call in this one (two processes, two parents). */
  serveProcessOneTokenCostMs: number;
  /** A `GET /health` round trip (no model work): HTTP alone, per server, median ms. */
  healthMs: Record<string, number>;
  /** llama-server's own decode-loop rate (`timings.predicted_per_second`), median. */
  llamaServerLoopTokensPerSecond: number | undefined;
  tokens: Record<string, number>;
  /**
   * Ways whose reply differs from the scope's (at temperature 0 all should be identical). Raw
   * node-llama-cpp is left out: LlamaCompletion tokenizes the prompt without SentencePiece's
   * leading space ("Once", not "▁Once"), so it continues another prompt of as many tokens.
   */
  differentText: string[];
}

const cliMain = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli", "main.js");

/**
 * One stream: the same greedy request of `maxTokens` tokens, many ways, in two phases.
 *
 * 1. In this process: raw node-llama-cpp (`LlamaCompletion` on a fresh sequence) against a fresh
 *    scope of a `LlamaParent` (what `serve` does per request); then raw against node-llama-cpp's
 *    addon driven alone (`addonGreedyLoop`, the floor for JavaScript on this addon).
 * 2. With only the scope's parent left in this process, like `serve`'s own: llama.cpp's
 *    llama-server and `llama-scope serve` over HTTP (whole and streamed), both in child
 *    processes with one slot and the same threads, and the scope again. Then 1-token requests
 *    through a `LlamaServer` on the scope's own parent against the scope call, and a
 *    `GET /health` on each server.
 *
 * Phases apart, because a process holding three models measured its own ways 5–10 % slower than
 * the same code in a process of its own (serve), which would bias every in-process ÷ server
 * ratio. Without llama.cpp's tools, the llama-server ways are left out.
 */
export async function measureStream(options: StreamOptions, tools: LlamaCppTools | undefined): Promise<StreamResult> {
  const { modelPath, threads, maxTokens, prompt, contextSize, rounds } = options;
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots: 1, threads, contextSize })));
  await parent.init();
  const servers: ChildServer[] = [];
  try {
    /** What `serve` does for a request without a session: a new scope, the prompt, the scope disposed. */
    const scopeCall = async (tokens: number): Promise<GenerationResult> => {
      const scope = parent.getScope();
      try {
        return await scope.generate(prompt, { maxTokens: tokens, temperature: 0 });
      } finally {
        await scope.dispose();
      }
    };
    const scopeWay: Way = {
      name: "scope",
      run: async () => {
        const [result, ms] = await timed(() => scopeCall(maxTokens));
        return { ms, tokens: result.tokenCount, text: result.text };
      },
    };

    const inProcess = await inProcessPhase(options, scopeWay);

    const llamaServer =
      tools === undefined
        ? undefined
        : await ChildServer.start(
            "llama-server",
            tools.server,
            [
              ...["-m", modelPath, "-t", String(threads), "-tb", String(threads), "-c", String(contextSize), "-np", "1"],
              ...["--host", "127.0.0.1", "--port", String(18_000 + (process.pid % 1000)), "--no-webui"],
            ],
            18_000 + (process.pid % 1000),
            "/health",
          );
    if (llamaServer !== undefined) servers.push(llamaServer);
    const port = 19_000 + (process.pid % 1000);
    const serve = await ChildServer.start(
      "llama-scope serve",
      process.execPath,
      [
        ...[cliMain, "serve", "--model", modelPath, "--threads", String(threads), "--slots", "1"],
        ...["--context-size", String(contextSize), "--port", String(port), "--embeddings", "off"],
      ],
      port,
      "/health",
    );
    servers.push(serve);
    const http = (name: string, server: ChildServer, stream: boolean, extra: Record<string, unknown> = {}): Way => ({
      name,
      run: async () => {
        const reply = await timedCompletion(server.url, { prompt, max_tokens: maxTokens, stream, ...extra });
        return {
          ms: reply.ms,
          tokens: reply.completionTokens,
          text: reply.text,
          ...(reply.serverTokensPerSecond === undefined ? {} : { serverTokensPerSecond: reply.serverTokensPerSecond }),
        };
      },
    });
    const served = await runRounds(
      [
        // Both evaluate the whole prompt every time: llama-server would otherwise keep it from the
        // request before, which a fresh scope of llama-scope's does not.
        ...(llamaServer === undefined
          ? []
          : [
              http("llama-server", llamaServer, false, { cache_prompt: false }),
              http("llama-server streamed", llamaServer, true, { cache_prompt: false }),
            ]),
        http("serve", serve, false),
        http("serve streamed", serve, true),
        scopeWay,
      ],
      rounds,
    );

    // The request's own cost: 1-token requests through a LlamaServer on this very parent, and the
    // same scope call on it, alternating (and through the serve process, for comparison).
    const local = new LlamaServer(parent);
    const { url: localUrl } = await local.listen({ port: 0 });
    const oneToken: number[] = [];
    const oneTokenServe: number[] = [];
    const health: Record<string, number[]> = {};
    try {
      const viaLocal = async () => (await timedCompletion(localUrl, { prompt, max_tokens: 1, stream: false })).ms;
      const viaServe = async () => (await timedCompletion(serve.url, { prompt, max_tokens: 1, stream: false })).ms;
      const called = async () => (await timed(() => scopeCall(1)))[1];
      for (let i = 0; i < 3; i++) for (const warm of [viaLocal, viaServe, called]) await warm();
      for (let round = 0; round < rounds * 3; round++) {
        let [servedMs, calledMs] = [0, 0];
        if (round % 2 === 0) [servedMs, calledMs] = [await viaLocal(), await called()];
        else [calledMs, servedMs] = [await called(), await viaLocal()];
        oneToken.push(servedMs - calledMs);
        oneTokenServe.push((await viaServe()) - (await called()));
        for (const server of servers) (health[server.name] ??= []).push((await timedRequest(server.url, "/health")).ms);
      }
    } finally {
      await local.close();
    }

    const ratio = (phase: Phase, a: string, b: string) =>
      phase.rates[a] !== undefined && phase.rates[b] !== undefined ? pairedRatio(phase.rates[a], phase.rates[b]) : NaN;
    const cost = (a: string, b: string) => median(served.ms[a]!.map((value, i) => value - served.ms[b]![i]!));
    const scopeVsServer = ratio(served, "scope", "llama-server");
    // The scope ran in both phases: its second run is "scope (phase 2)".
    const merged = <T>(first: Record<string, T>, second: Record<string, T>): Record<string, T> => ({
      ...first,
      ...Object.fromEntries(Object.entries(second).map(([name, value]) => [name === "scope" ? "scope (phase 2)" : name, value])),
    });
    const rates = merged(inProcess.rates, served.rates);
    const ms = merged(inProcess.ms, served.ms);
    // Every reply compared with the scope's of phase 1.
    const texts = merged(inProcess.texts, served.texts);
    return {
      rates: Object.fromEntries(Object.entries(rates).map(([name, values]) => [name, { rounds: values, median: median(values) }])),
      requestMs: ms,
      ratios: {
        "serve ÷ llama-server": ratio(served, "serve", "llama-server"),
        "serve streamed ÷ llama-server streamed": ratio(served, "serve streamed", "llama-server streamed"),
        "scope ÷ llama-server (phase 2)": scopeVsServer,
        "serve ÷ scope (phase 2)": ratio(served, "serve", "scope"),
        "scope ÷ raw node-llama-cpp": ratio(inProcess, "scope", "raw node-llama-cpp"),
        "raw node-llama-cpp ÷ addon alone": ratio(inProcess, "raw node-llama-cpp (1b)", "addon alone"),
      },
      serveCostMs: cost("serve", "scope"),
      serveStreamedCostMs: cost("serve streamed", "scope"),
      serveOneTokenCostMs: median(oneToken),
      serveProcessOneTokenCostMs: median(oneTokenServe),
      healthMs: Object.fromEntries(Object.entries(health).map(([name, values]) => [name, median(values)])),
      llamaServerLoopTokensPerSecond: served.serverLoop.length === 0 ? undefined : median(served.serverLoop),
      tokens: merged(inProcess.tokens, served.tokens),
      differentText: Object.keys(texts).filter((name) => !name.startsWith("raw node-llama-cpp") && texts[name] !== texts.scope),
    };
  } finally {
    for (const server of servers) await server.stop();
    await parent.dispose();
  }
}

/**
 * Phase 1, in this process: raw node-llama-cpp against the scope; then, with the addon's own
 * context loaded beside raw's, raw against the addon alone ("raw node-llama-cpp (1b)"). Apart,
 * so that the scope is compared with raw with no third model in the process, as `serve` runs.
 */
async function inProcessPhase(options: StreamOptions, scopeWay: Way): Promise<Phase> {
  const { modelPath, threads, maxTokens, prompt, contextSize } = options;
  const raw = await RawNodeLlamaCpp.load(modelPath, 1, threads);
  const rawWay = (name: string): Way => ({
    name,
    run: async () => {
      const [reply, ms] = await timed(() => raw.complete(prompt, maxTokens));
      return { ms, tokens: reply.tokens, text: reply.text };
    },
  });
  try {
    const withScope = await runRounds([rawWay("raw node-llama-cpp"), scopeWay], options.rounds);
    const bareModel = await (await getBackend({ gpu: false, build: "never", logLevel: "error" })).loadModel({ modelPath });
    const bare = await bareModel.createContext({ contextSize, sequences: 1, threads });
    try {
      const addonLoop = addonGreedyLoop(bare);
      if (addonLoop === undefined) return withScope;
      const start = bareModel.tokens.bos === null ? [] : [bareModel.tokens.bos];
      const alone: Way = {
        name: "addon alone",
        run: async () => {
          const [tokens, ms] = await timed(() => addonLoop([...start, ...bareModel.tokenize(prompt, false)], maxTokens));
          return { ms, tokens: tokens.length, text: bareModel.detokenize(tokens) };
        },
      };
      const withAddon = await runRounds([rawWay("raw node-llama-cpp (1b)"), alone], options.rounds);
      return {
        ms: { ...withScope.ms, ...withAddon.ms },
        rates: { ...withScope.rates, ...withAddon.rates },
        tokens: { ...withScope.tokens, ...withAddon.tokens },
        texts: { ...withScope.texts, ...withAddon.texts },
        serverLoop: [],
      };
    } finally {
      await bare.dispose();
      await bareModel.dispose();
    }
  } finally {
    await raw.dispose();
  }
}

/**
 * Every way untimed first, at least 3 times (a fresh server's first requests fault the weights in)
 * and for `WARM_UP_TOKENS` (each thread compiles its per-token path over its first ~2,000), then
 * `rounds` rounds of one request per way. One request per way per round: this machine drifts by
 * ±10 % within a minute, and ways measured seconds apart would compare the drift; pairs within a
 * round do not. The order is shuffled each round (seeded): a rotation keeps
 * every way behind the same neighbour, and what ran just before (another process at full speed,
 * say) would bias it every time.
 */
async function runRounds(ways: Way[], rounds: number): Promise<Phase> {
  for (const way of ways) await warmUp(async () => (await way.run()).tokens, 3);
  const phase: Phase = { ms: {}, rates: {}, tokens: {}, texts: {}, serverLoop: [] };
  const random = seededRandom(21);
  for (let round = 0; round < rounds; round++)
    for (const way of shuffled(ways, random)) {
      const run = await way.run();
      (phase.ms[way.name] ??= []).push(run.ms);
      (phase.rates[way.name] ??= []).push(run.tokens / (run.ms / 1000));
      phase.tokens[way.name] = run.tokens;
      phase.texts[way.name] = run.text;
      if (run.serverTokensPerSecond !== undefined) phase.serverLoop.push(run.serverTokensPerSecond);
    }
  return phase;
}
