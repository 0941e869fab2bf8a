import { LlamaCompletion, type LlamaContext, type LlamaModel } from "node-llama-cpp";
import { getBackend } from "../src/engine/model/backend.js";

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/**
 * The median of per-round ratios `a[i] / b[i]`. Each pair is measured back to back, so drift on a
 * noisy machine cancels within a pair; a ratio of medians would mix rounds measured minutes apart.
 */
export const pairedRatio = (a: number[], b: number[]): number => median(a.map((value, i) => value / b[i]!));

/**
 * A Fisher–Yates shuffle of a copy. Benchmarks shuffle the order of their ways each round (with a
 * seeded `random`): a rotation keeps every way behind the same neighbour, and what ran just before
 * (GC after another engine's run, a process at full speed) would bias that way in every round.
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/**
 * Tokens a way generates untimed before it is measured. V8 compiles each thread's per-token path
 * apart (the scope's worker is an isolate of its own), and a fresh thread is still speeding up after
 * ~2,000 tokens: on stories260K its first 256-token replies run at ~60 % of its later rate, raw
 * node-llama-cpp's and a scope's alike. Ways that share a thread (raw and the direct engine share
 * the main one) warm it together, and faster than a way alone warms its own: measured cold, the
 * rounds compare warm-up instead of the path (figure 1 read 0.89–0.93 that way, 0.98–1.03 warm).
 */
export const WARM_UP_TOKENS = 2_048;

/**
 * Runs `way` (which returns the tokens it generated) untimed until it has generated
 * `WARM_UP_TOKENS`, and at least `minRuns` times.
 */
export async function warmUp(way: () => Promise<number>, minRuns = 1): Promise<void> {
  let tokens = 0;
  for (let runs = 0; runs < minRuns || tokens < WARM_UP_TOKENS; runs++) {
    const generated = await way();
    if (generated <= 0) throw new Error("A benchmark's way generated no tokens while warming up: it would measure nothing.");
    tokens += generated;
  }
}

export async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
}

/**
 * `opening` followed by `sentences` in turn until the text is at least `tokens` tokens of the
 * model at `modelPath` (tokenized with its vocabulary alone), and its exact token count.
 */
export async function textOfTokens(
  modelPath: string,
  tokens: number,
  sentences: readonly string[],
  opening = "",
): Promise<{ text: string; tokens: number }> {
  const model = await (await getBackend({ gpu: false, build: "never", logLevel: "error" })).loadModel({ modelPath, vocabOnly: true });
  try {
    let text = opening;
    for (let i = 0; model.tokenize(text).length < tokens; i++) text += `${text === "" ? "" : " "}${sentences[i % sentences.length]}`;
    return { text, tokens: model.tokenize(text).length };
  } finally {
    await model.dispose();
  }
}

/** Eight different story openings, so concurrent sequences do different work. */
export const PROMPTS = [
  "Once upon a time",
  "Tom had a big red ball.",
  "The cat sat on the mat.",
  "Lily went to the park",
  "One day, a little bird",
  "Sam and his mom",
  "There was a big tree",
  "The sun was hot and",
];

/**
 * Plain node-llama-cpp, the reference every ratio is taken against: the same model file loaded
 * again, one context with `sequences` sequences, `LlamaCompletion` on each.
 */
export class RawNodeLlamaCpp {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
  ) {}

  static async load(modelPath: string, sequences: number, threads: number): Promise<RawNodeLlamaCpp> {
    // The same process-wide backend the engine uses: getLlama() adds process listeners per call.
    const llama = await getBackend({ gpu: false, build: "never", logLevel: "error" });
    const model = await llama.loadModel({ modelPath });
    const context = await model.createContext({ contextSize: 2048, sequences, threads });
    return new RawNodeLlamaCpp(model, context);
  }

  /** Generates on `prompts.length` fresh sequences at once; returns the tokens generated in all. */
  async generate(prompts: string[], maxTokens: number): Promise<number> {
    const sequences = prompts.map(() => this.context.getSequence());
    try {
      const counts = await Promise.all(
        sequences.map(async (sequence, i) => {
          const before = sequence.tokenMeter.usedOutputTokens;
          await new LlamaCompletion({ contextSequence: sequence }).generateCompletion(prompts[i]!, { maxTokens, temperature: 0 });
          return sequence.tokenMeter.usedOutputTokens - before;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    } finally {
      await Promise.all(sequences.map((sequence) => sequence.dispose()));
    }
  }

  /**
   * One greedy completion on a fresh sequence: the tokens it generated and their text. Without
   * LlamaCompletion's default repeat penalty, so it does the work a scope and llama-server do.
   */
  async complete(prompt: string, maxTokens: number): Promise<{ tokens: number; text: string }> {
    const sequence = this.context.getSequence();
    try {
      const before = sequence.tokenMeter.usedOutputTokens;
      const text = await new LlamaCompletion({ contextSequence: sequence }).generateCompletion(prompt, {
        maxTokens,
        temperature: 0,
        repeatPenalty: false,
      });
      return { tokens: sequence.tokenMeter.usedOutputTokens - before, text };
    } finally {
      await sequence.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
