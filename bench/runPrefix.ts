// Figure 9 of the suite alone (shared prefixes and forks): `npm run bench:prefix`, with the same
// model choices as `npm run bench` (`-- --model sized`, a path, LLAMA_SCOPE_BENCH_MODEL).
import path from "node:path";
import { defaultThreads } from "../src/index.js";
import { benchModel } from "./benchModel.js";
import { measurePrefix } from "./prefix.js";
import { printPrefix } from "./printPrefix.js";

const model = benchModel();
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
console.log(
  `llama-scope shared prefixes and forks on ${path.basename(model.path)} (${model.source}), threads ${defaultThreads()}, ${rounds} rounds\n`,
);
printPrefix(await measurePrefix(model.path, defaultThreads(), rounds));
