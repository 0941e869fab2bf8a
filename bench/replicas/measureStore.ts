// Figures 1 and 2 of `npm run bench:replicas`: two parents of one model with one Redis store stand
// for two replicas. (1) A long session continued on the other replica, from the store, against the
// same conversation evaluated there from its text. (2) The bytes each turn of a chat writes.
import { createClient } from "redis";
import { LlamaLoad, LlamaParent } from "../../src/index.js";
import { startReplicas } from "./measureReplicas.js";
import { median, textOfTokens } from "../support.js";

export interface MoveFigures {
  /** Tokens in the session moved. */
  tokens: number;
  /** Per round: ms to the first streamed token on the other replica, continuing from the store, and from the whole text. */
  fromStoreMs: number[];
  reEvaluatedMs: number[];
}

export interface TurnBytes {
  chunkTokens: number;
  /** Per turn: tokens it added, chunk bytes it wrote, and the record's size after it. */
  turns: { tokens: number; bytes: number; recordBytes: number }[];
  /** KV bytes of one token in this model's cache (the store's chunks hold these, plus 12 bytes of cell). */
  kvBytesPerToken: number;
}

const SENTENCES = [
  "The little fox ran through the tall green grass to find his friends.",
  "They played by the river until the sun went down behind the hills.",
  "Then they walked home together and talked about the day.",
];

async function startParent(modelPath: string, redis: string, chunkTokens: number, contextSize: number): Promise<LlamaParent> {
  const parent = new LlamaParent(
    new LlamaLoad({
      modelPath,
      slots: 1,
      threads: 1,
      contextSize,
      gpu: false,
      build: "never",
      store: { redis, chunkTokens, prefix: `bench-${chunkTokens}:` },
    }),
  );
  await parent.init();
  return parent;
}

/** ms from sending a streamed completion request to its first piece of text. */
async function firstTokenMs(url: string, session: string, prompt: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-session-id": session },
    body: JSON.stringify({ prompt, max_tokens: 1, temperature: 0, stream: true }),
  });
  if (response.status !== 200) throw new Error(`A request got ${response.status}: ${await response.text()}`);
  const reader = response.body!.getReader();
  await reader.read();
  const ms = performance.now() - started;
  while (!(await reader.read()).done);
  return ms;
}

/**
 * Two `serve` replicas with one store: replica A evaluates a long session (its turn is written to
 * the store before its response ends), then replica B continues it, against B given the whole
 * text as a new session. Round 0 warms both up and is not counted.
 */
export async function measureMove(modelPath: string, redis: string, tokens: number, rounds: number): Promise<MoveFigures> {
  const long = await textOfTokens(modelPath, tokens, SENTENCES, "Once upon a time,");
  // A slot for every session, so that no figure includes freezing another session to make room.
  const slots = 2 * (rounds + 1);
  const [a, b] = await startReplicas(2, { modelPath, redis, sessionsPerReplica: slots, turns: 0, maxTokens: 1, contextSize: tokens + 256 });
  try {
    const fromStoreMs: number[] = [];
    const reEvaluatedMs: number[] = [];
    for (let round = 0; round <= rounds; round++) {
      await firstTokenMs(a!.url, `move-${round}`, long.text);
      const moved = () => firstTokenMs(b!.url, `move-${round}`, " Then");
      const fresh = () => firstTokenMs(b!.url, `fresh-${round}`, `${long.text} Then`);
      // Alternated, so neither way always runs first.
      const [movedMs, freshMs] = round % 2 === 0 ? [await moved(), await fresh()] : [await fresh(), await moved()].reverse();
      if (round > 0) [fromStoreMs[round - 1], reEvaluatedMs[round - 1]] = [movedMs!, freshMs!];
    }
    return { tokens: long.tokens, fromStoreMs, reEvaluatedMs };
  } finally {
    await Promise.all([a!.stop(), b!.stop()]);
  }
}

export async function measureTurnBytes(modelPath: string, redis: string, chunkTokens: number, turns: number): Promise<TurnBytes> {
  const parent = await startParent(modelPath, redis, chunkTokens, 4096);
  const client = createClient({ url: redis });
  await client.connect();
  try {
    const layout = parent.modelInfo!.stateLimits.kv!;
    const kvBytesPerToken =
      layout.keys.reduce((sum, key) => sum + key.rowBytes, 0) +
      layout.values.reduce((sum, value) => sum + ("rowBytes" in value ? value.rowBytes : value.rows * value.elementBytes), 0);
    const scope = parent.getScope({ mode: "chat", systemPrompt: "You are a storyteller. Keep it short." });
    const measured: TurnBytes["turns"] = [];
    let before = 0;
    for (let turn = 0; turn < turns; turn++) {
      await scope.generate(`${SENTENCES[turn % SENTENCES.length]} What happened next?`, { maxTokens: 48, temperature: 0 });
      const { bytesWritten, tokenCount } = await parent.conversations!.save(`turns-${chunkTokens}`, scope);
      const recordBytes = await client.strLen(`bench-${chunkTokens}:record:turns-${chunkTokens}`);
      measured.push({ tokens: tokenCount - before, bytes: bytesWritten, recordBytes });
      before = tokenCount;
    }
    await scope.dispose();
    return { chunkTokens, turns: measured, kvBytesPerToken };
  } finally {
    client.destroy();
    await parent.dispose();
  }
}

/** Chunk bytes written ÷ the new tokens' KV bytes, over the turns after the first (which writes the system prompt too). */
export function bytesRatio({ turns, kvBytesPerToken }: TurnBytes): { median: number; max: number; whole: number } {
  const later = turns.slice(1);
  const ratios = later.map((turn) => turn.bytes / (turn.tokens * kvBytesPerToken));
  const whole = later.reduce((sum, turn) => sum + turn.bytes, 0) / (later.reduce((sum, turn) => sum + turn.tokens, 0) * kvBytesPerToken);
  return { median: median(ratios), max: Math.max(...ratios), whole };
}
