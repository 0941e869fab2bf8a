// Replicas sharing sessions through Redis: `npm run bench:replicas` (the sized model unless another
// is named, as for `npm run bench`). Starts its own redis-server (Debian's package, as the tests do).
//   1. A long session continued on another replica, from the store, against evaluating it again there.
//   2. Bytes a chat turn writes to the store, against the KV bytes of the tokens it added.
//   3. Two replicas' throughput against one's, 8 sessions each.
import path from "node:path";
import { startRedisServer } from "../../test/support/redisServer.js";
import { benchModel } from "../benchModel.js";
import { median } from "../support.js";
import { measureReplicas, type ReplicaRun } from "./measureReplicas.js";
import { bytesRatio, measureMove, measureTurnBytes } from "./measureStore.js";

const args = process.argv.slice(2);
const model = args.length === 0 && (process.env.LLAMA_SCOPE_BENCH_MODEL ?? "") === "" ? benchModel(["--model", "sized"]) : benchModel(args);
const MOVE_TOKENS = Number(process.env.BENCH_MOVE_TOKENS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TURNS = Number(process.env.BENCH_TURNS ?? 12);
const f = (value: number, digits = 1) => value.toFixed(digits);

console.log(`Replicas on ${path.basename(model.path)} (${model.source}): 1 thread per replica, a redis-server of the bench's own\n`);
const redis = await startRedisServer();
try {
  const move = await measureMove(model.path, redis.url, MOVE_TOKENS, ROUNDS);
  const [fromStore, again] = [median(move.fromStoreMs), median(move.reEvaluatedMs)];
  console.log(`1. A ${move.tokens}-token session's first streamed token on another serve replica (median of ${ROUNDS} rounds, HTTP)`);
  console.log(`   from the store  ${f(fromStore).padStart(8)} ms   (the session continued: its state loaded from Redis, then one token)`);
  console.log(`   evaluated again ${f(again).padStart(8)} ms   (the same text as a new session)`);
  console.log(`   ratio           ${f(again / fromStore).padStart(8)}×   (budget ≥ 10×)\n`);

  console.log(
    `2. Bytes a chat turn writes (${TURNS} turns, replies of up to 48 tokens), ÷ the new tokens' KV bytes; turns after the first`,
  );
  for (const chunkTokens of [16, 32, 64]) {
    const turns = await measureTurnBytes(model.path, redis.url, chunkTokens, TURNS);
    const ratio = bytesRatio(turns);
    const tokens = median(turns.turns.slice(1).map((turn) => turn.tokens));
    const record = turns.turns.at(-1)!.recordBytes;
    console.log(
      `   chunks of ${String(chunkTokens).padStart(2)} tokens: median ${f(ratio.median, 2)}, max ${f(ratio.max, 2)}, all turns ${f(ratio.whole, 2)}` +
        `   (${tokens} tokens a turn × ${turns.kvBytesPerToken} B; the record, written whole each turn: ${record} B at the end)`,
    );
  }
  console.log("   budget ≤ 1.5×\n");

  const options = { modelPath: model.path, redis: redis.url, sessionsPerReplica: 8, turns: 4, maxTokens: 48, contextSize: 1024 };
  const runs: ReplicaRun[] = [];
  for (const [count, routing] of [
    [1, "affinity"],
    [2, "affinity"],
    [2, "moving"],
  ] as const)
    runs.push(await measureReplicas(count, routing, options, `r${runs.length}`));
  console.log(
    `3. Throughput, 8 sessions per replica, ${options.turns} turns of up to ${options.maxTokens} tokens each (--redis, durability turn)`,
  );
  for (const run of runs)
    console.log(
      `   ${run.replicas} replica${run.replicas === 1 ? " " : "s"}, ${run.routing.padEnd(8)} ${f(run.rate).padStart(7)} tok/s   (${run.tokens} tokens in ${f(run.seconds, 2)} s)`,
    );
  console.log(`   2 replicas ÷ 1, sessions kept on their replica: ${f(runs[1]!.rate / runs[0]!.rate, 2)}× (budget ≥ 1.7×)`);
  console.log(`   2 replicas ÷ 1, each turn on the other replica:  ${f(runs[2]!.rate / runs[0]!.rate, 2)}×`);
} finally {
  await redis.stop();
}
