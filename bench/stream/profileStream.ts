import { LlamaCompletion, LlamaLogLevel, type LlamaContext } from "node-llama-cpp";
import { Llama } from "../../src/index.js";
import { getBackend } from "../../src/engine/model/backend.js";
import { traceNativeCalls, type NativeCallTrace } from "../../src/engine/internals/nativeCallTrace.js";
import { addonGreedyLoop } from "../../src/engine/internals/addonGreedyLoop.js";
import { testLoadOptions } from "../../test/support/testModel.js";
import { median } from "../support.js";

/** Where one stream's time per generated token goes, in ms (medians over the generated tokens). */
export interface TokenProfile {
  name: string;
  tokens: number;
  /** Wall time of the whole generation ÷ tokens. */
  perTokenMs: number;
  /** A `decodeBatch` call, from JavaScript's call to its promise settling (native work plus two thread hand-offs). */
  decodeCallMs: number;
  /** A `sampleToken` call, the same way. */
  sampleCallMs: number;
  /** From one decode settling to the next decode being called: sampling, and the JavaScript around it. */
  gapMs: number;
  /** The gap less the sample call: JavaScript alone (node-llama-cpp's and llama-scope's). */
  javascriptMs: number;
  /** llama.cpp's own decode time per token (`llama_perf_context`'s eval time), when it was tracked. */
  nativeEvalMs?: number;
}

/**
 * Profiles one greedy stream of `tokens` tokens, `rounds` times (the median round is kept):
 * raw node-llama-cpp (`LlamaCompletion`, with llama.cpp's performance tracking on); the direct
 * engine in this thread (llama-scope's generation loop; a scope adds the worker's messages on
 * top, which the stream figure measures as a whole); and node-llama-cpp's addon alone, one
 * decode and one sample per token with no other JavaScript (the floor for this addon).
 */
export async function profileStream(
  modelPath: string,
  threads: number,
  prompt: string,
  tokens: number,
  rounds: number,
): Promise<TokenProfile[]> {
  const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 2048, sequences: 1, threads, performanceTracking: true });
  const engine = await Llama.load(testLoadOptions({ modelPath, slots: 1, threads }));
  const engineContext = (engine as unknown as { context: LlamaContext }).context;
  const bare = await model.createContext({ contextSize: 2048, sequences: 1, threads });
  const loop = addonGreedyLoop(bare);
  if (loop === undefined) throw new Error("node-llama-cpp's addon has moved: see src/engine/internals/addonGreedyLoop.ts");
  const promptTokens = model.tokenize(prompt, false);
  const start = model.tokens.bos === null ? [] : [model.tokens.bos];
  const raw: TokenProfile[] = [];
  const direct: TokenProfile[] = [];
  const alone: TokenProfile[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      raw.push(
        await traced("raw node-llama-cpp", context, async () => {
          const sequence = context.getSequence();
          try {
            await new LlamaCompletion({ contextSequence: sequence }).generateCompletion(prompt, { maxTokens: tokens, temperature: 0 });
          } finally {
            await sequence.dispose();
          }
        }),
      );
      const evalMs = await nativeEvalMs(context);
      if (evalMs !== undefined) raw.at(-1)!.nativeEvalMs = evalMs;
      direct.push(
        await traced("llama-scope engine", engineContext, async () => {
          engine.createSlot("profile");
          engine.setSlot("profile");
          engine.setPrompt(prompt);
          await engine.generate({ maxTokens: tokens });
          await engine.freeSlot("profile");
        }),
      );
      alone.push(await traced("node-llama-cpp's addon alone", bare, () => loop([...start, ...promptTokens], tokens).then(() => {})));
    }
  } finally {
    await bare.dispose();
    await engine.dispose();
    await context.dispose();
    await model.dispose();
  }
  const middle = (profiles: TokenProfile[]) => [...profiles].sort((a, b) => a.perTokenMs - b.perTokenMs)[Math.floor(profiles.length / 2)]!;
  return [middle(raw), middle(direct), middle(alone)];
}

async function traced(name: string, context: LlamaContext, generate: () => Promise<void>): Promise<TokenProfile> {
  const trace = traceNativeCalls(context);
  if (trace === undefined)
    throw new Error("node-llama-cpp's addon context has no decodeBatch/sampleToken to trace: see src/engine/internals/nativeCallTrace.ts");
  const start = performance.now();
  try {
    await generate();
  } finally {
    trace.stop();
  }
  return profileOf(name, trace, performance.now() - start);
}

function profileOf(name: string, trace: NativeCallTrace, ms: number): TokenProfile {
  // The first decode is the prompt's; every later one decodes the token sampled before it.
  const decodes = trace.decodes.slice(1);
  const gaps = trace.decodes.slice(1).map(([called], i) => called - trace.decodes[i]![1]);
  const samples = trace.samples.map(([called, settled]) => settled - called);
  const gapMs = median(gaps);
  const sampleCallMs = median(samples);
  return {
    name,
    tokens: trace.samples.length,
    perTokenMs: ms / Math.max(1, trace.samples.length),
    decodeCallMs: median(decodes.map(([called, settled]) => settled - called)),
    sampleCallMs,
    gapMs,
    javascriptMs: gapMs - sampleCallMs,
  };
}

/**
 * llama.cpp's eval time per token since the last call, from `llama_perf_context_print` (which
 * node-llama-cpp's `printTimings` logs at the info level, and resets).
 */
async function nativeEvalMs(context: LlamaContext): Promise<number | undefined> {
  const llama = context.model.llama;
  const [level, logger] = [llama.logLevel, llama.logger];
  const lines: string[] = [];
  llama.logLevel = LlamaLogLevel.info;
  llama.logger = (_, message) => lines.push(message);
  try {
    await context.printTimings();
    // The lines come from llama.cpp's thread through node-llama-cpp's log queue: wait for them.
    for (let waited = 0; waited < 1000 && !lines.some((line) => line.includes("total time")); waited += 10)
      await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    llama.logLevel = level;
    llama.logger = logger;
  }
  // "llama_perf_context_print:        eval time =     195.23 ms /    47 runs   (    4.15 ms per token, ..."
  const match = /eval time =\s*[\d.]+ ms \/\s*\d+ runs\s*\(\s*([\d.]+) ms per token/.exec(
    lines
      .flatMap((message) => message.split("\n"))
      .filter((line) => !line.includes("prompt eval"))
      .join("\n"),
  );
  return match === null ? undefined : Number(match[1]);
}
