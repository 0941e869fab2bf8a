import path from "node:path";
import { fileURLToPath } from "node:url";
import { LlamaLoad, LlamaParent } from "../../src/index.js";
import { testLoadOptions } from "../../test/support/testModel.js";
import { median, pairedRatio, RawNodeLlamaCpp, timed } from "../support.js";
import { ChildServer, timedCompletion, type CompletionTiming } from "./ChildServer.js";
import type { LlamaCppTools } from "./llamaCppTools.js";

export interface StreamOptions {
  modelPath: string;
  threads: number;
  /** Tokens per request (the setup: 48). */
  maxTokens: number;
  prompt: string;
  rounds: number;
  /** Requests per measurement in a round; the round's figure is their median. */
  requests: number;
  contextSize: number;
}

/** One way of running the request, each round: its median time and tokens. */
interface Way {
  name: string;
  run(): Promise<{ ms: number; tokens: number; text: string; serverTokensPerSecond?: number }>;
}

export interface StreamResult {
  /** Per way: tokens/s of each round (tokens ÷ wall time of the whole request), and the median. */
  rates: Record<string, { rounds: number[]; median: number }>;
  /** Per way: the median request time of each round, in ms. */
  requestMs: Record<string, number[]>;
  /** The ratios, each the median of per-round paired ratios. */
  ratios: Record<string, number>;
  /** A request through `serve` minus the same scope call in process (getScope, generate, dispose): the median of per-round differences, ms. */
  serveCostMs: number;
  /** The same, streamed. */
  serveStreamedCostMs: number;
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
 * One stream, the same greedy request of `maxTokens` tokens six ways, in a rotating order each
 * round: through llama.cpp's llama-server and through `llama-scope serve` over HTTP (whole and
 * streamed), both in child processes with one slot and the same threads; and in this process,
 * raw node-llama-cpp (`LlamaCompletion` on a fresh sequence) and a fresh scope of a `LlamaParent`
 * (what `serve` does per request). Without the tools, the llama-server ways are left out.
 */
export async function measureStream(options: StreamOptions, tools: LlamaCppTools | undefined): Promise<StreamResult> {
  const { modelPath, threads, maxTokens, prompt, contextSize } = options;
  const servers: ChildServer[] = [];
  const ways: Way[] = [];
  const raw = await RawNodeLlamaCpp.load(modelPath, 1, threads);
  const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath, slots: 1, threads, contextSize })));
  await parent.init();
  try {
    const http = (name: string, server: ChildServer, stream: boolean, extra: Record<string, unknown> = {}): Way => ({
      name,
      run: async () => {
        const reply: CompletionTiming = await timedCompletion(server.url, { prompt, max_tokens: maxTokens, stream, ...extra });
        return {
          ms: reply.ms,
          tokens: reply.completionTokens,
          text: reply.text,
          ...(reply.serverTokensPerSecond === undefined ? {} : { serverTokensPerSecond: reply.serverTokensPerSecond }),
        };
      },
    });
    if (tools !== undefined) {
      const port = 18_000 + (process.pid % 1000);
      const llamaServer = await ChildServer.start(
        "llama-server",
        tools.server,
        [
          "-m",
          modelPath,
          "-t",
          String(threads),
          "-tb",
          String(threads),
          "-c",
          String(contextSize),
          "-np",
          "1",
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          "--no-webui",
        ],
        port,
        "/health",
      );
      servers.push(llamaServer);
      // Both evaluate the whole prompt every time: llama-server would otherwise keep it from the
      // request before, which a fresh scope of llama-scope's does not.
      ways.push(
        http("llama-server", llamaServer, false, { cache_prompt: false }),
        http("llama-server streamed", llamaServer, true, { cache_prompt: false }),
      );
    }
    const port = 19_000 + (process.pid % 1000);
    const serve = await ChildServer.start(
      "llama-scope serve",
      process.execPath,
      [
        cliMain,
        "serve",
        "--model",
        modelPath,
        "--threads",
        String(threads),
        "--slots",
        "1",
        "--context-size",
        String(contextSize),
        "--port",
        String(port),
        "--embeddings",
        "off",
      ],
      port,
      "/health",
    );
    servers.push(serve);
    ways.push(http("serve", serve, false), http("serve streamed", serve, true));
    ways.push(
      {
        name: "raw node-llama-cpp",
        run: async () => {
          const [reply, ms] = await timed(() => raw.complete(prompt, maxTokens));
          return { ms, tokens: reply.tokens, text: reply.text };
        },
      },
      {
        name: "scope",
        run: async () => {
          const [result, ms] = await timed(async () => {
            const scope = parent.getScope();
            try {
              return await scope.generate(prompt, { maxTokens, temperature: 0 });
            } finally {
              await scope.dispose();
            }
          });
          return { ms, tokens: result.tokenCount, text: result.text };
        },
      },
    );

    // Warm-up, untimed: a fresh server's first requests fault the weights in and JIT its paths.
    for (let i = 0; i < 3; i++) for (const way of ways) await way.run();
    const ms: Record<string, number[]> = {};
    const rates: Record<string, number[]> = {};
    const tokens: Record<string, number> = {};
    const texts: Record<string, string> = {};
    const loop: number[] = [];
    for (let round = 0; round < options.rounds; round++)
      for (let i = 0; i < ways.length; i++) {
        const way = ways[(round + i) % ways.length]!;
        const runs = [];
        for (let r = 0; r < options.requests; r++) runs.push(await way.run());
        const roundMs = median(runs.map((run) => run.ms));
        (ms[way.name] ??= []).push(roundMs);
        tokens[way.name] = runs[0]!.tokens;
        texts[way.name] = runs[0]!.text;
        (rates[way.name] ??= []).push(runs[0]!.tokens / (roundMs / 1000));
        for (const run of runs) if (run.serverTokensPerSecond !== undefined) loop.push(run.serverTokensPerSecond);
      }

    const ratio = (a: string, b: string) => (rates[a] !== undefined && rates[b] !== undefined ? pairedRatio(rates[a], rates[b]) : NaN);
    const cost = (a: string, b: string) => median(ms[a]!.map((value, i) => value - ms[b]![i]!));
    return {
      rates: Object.fromEntries(Object.entries(rates).map(([name, rounds]) => [name, { rounds, median: median(rounds) }])),
      requestMs: ms,
      ratios: {
        "serve ÷ llama-server": ratio("serve", "llama-server"),
        "serve streamed ÷ llama-server streamed": ratio("serve streamed", "llama-server streamed"),
        "raw node-llama-cpp ÷ llama-server": ratio("raw node-llama-cpp", "llama-server"),
        "scope ÷ raw node-llama-cpp": ratio("scope", "raw node-llama-cpp"),
        "scope ÷ llama-server": ratio("scope", "llama-server"),
      },
      serveCostMs: cost("serve", "scope"),
      serveStreamedCostMs: cost("serve streamed", "scope"),
      llamaServerLoopTokensPerSecond: loop.length === 0 ? undefined : median(loop),
      tokens,
      differentText: Object.keys(texts).filter((name) => name !== "raw node-llama-cpp" && texts[name] !== texts.scope),
    };
  } finally {
    for (const server of servers) await server.stop();
    await parent.dispose();
    await raw.dispose();
  }
}
