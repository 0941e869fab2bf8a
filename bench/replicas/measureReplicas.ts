// Figure 3 of `npm run bench:replicas`: what a second replica adds. `llama-scope serve` processes
// with one Redis store (`--redis`, each turn written before its response ends), each with 8
// sessions of multi-turn chat at once: one replica against two, on the same machine.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ChildServer } from "../stream/ChildServer.js";

const cliMain = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli", "main.js");

export interface ReplicaRun {
  replicas: number;
  /**
   * How sessions find their replica: always the same one (a load balancer hashing the session
   * id), or each turn the next replica (every turn loads the session from the store).
   */
  routing: "affinity" | "moving";
  tokens: number;
  seconds: number;
  /** Tokens generated per second, all sessions together. */
  rate: number;
}

export interface ReplicaOptions {
  modelPath: string;
  redis: string;
  sessionsPerReplica: number;
  turns: number;
  maxTokens: number;
  contextSize: number;
}

/** `count` serve processes with the store, 1 thread and `sessionsPerReplica` slots each. */
export async function startReplicas(count: number, options: ReplicaOptions): Promise<ChildServer[]> {
  const base = 21_000 + ((process.pid * 7) % 1000) * 4;
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      ChildServer.start(
        `replica ${i}`,
        process.execPath,
        [
          ...[cliMain, "serve", "--model", options.modelPath, "--threads", "1", "--slots", String(options.sessionsPerReplica)],
          ...["--context-size", String(options.contextSize), "--port", String(base + i), "--embeddings", "off", "--redis", options.redis],
        ],
        base + i,
        "/health",
      ),
    ),
  );
}

async function chatTurn(url: string, session: string, content: string, maxTokens: number): Promise<number> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-session-id": session },
    body: JSON.stringify({ messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0 }),
  });
  const body = (await response.json()) as { usage?: { completion_tokens: number }; error?: { message: string } };
  if (response.status !== 200) throw new Error(`A turn got ${response.status}: ${body.error?.message ?? ""}`);
  return body.usage!.completion_tokens;
}

/** Every session's turns, sessions at once; resolves with the tokens generated and the wall time. */
export async function measureReplicas(
  count: number,
  routing: ReplicaRun["routing"],
  options: ReplicaOptions,
  run: string,
): Promise<ReplicaRun> {
  const replicas = await startReplicas(count, options);
  try {
    const sessions = count * options.sessionsPerReplica;
    let tokens = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: sessions }, async (_, s) => {
        for (let turn = 0; turn < options.turns; turn++) {
          const replica = routing === "affinity" ? s % count : (s + turn) % count;
          const generated = await chatTurn(
            replicas[replica]!.url,
            `${run}-${s}`,
            `Tell me story ${s}, part ${turn + 1}.`,
            options.maxTokens,
          );
          tokens += generated;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { replicas: count, routing, tokens, seconds, rate: tokens / seconds };
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop()));
  }
}
