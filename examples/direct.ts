// The seed's scenario on the direct API: two users share one model through slots, user 1 comes
// back and continues, then is frozen to bytes, freed, restored and continues again.
// Run with `npm run demo:direct`; LLAMA_SCOPE_MODEL picks another model.
import { Llama } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";

const TURN = { maxTokens: 48 };
const ms = (start: number) => `${(performance.now() - start).toFixed(3)} ms`;

async function turn(llama: Llama, user: string, prompt: string): Promise<void> {
  const switchStart = performance.now();
  llama.setSlot(user);
  const switchTime = ms(switchStart);
  llama.setPrompt(prompt);
  process.stdout.write(`\n[${user}] (switch ${switchTime}) ${JSON.stringify(prompt)}\n  → `);
  const start = performance.now();
  let firstChunk: string | undefined;
  for await (const chunk of llama.generateText(TURN)) {
    firstChunk ??= ms(start);
    process.stdout.write(chunk.replaceAll("\n", "\n    "));
  }
  process.stdout.write(`\n  (first text after ${firstChunk ?? "-"}, whole reply ${ms(start)})\n`);
}

const loadStart = performance.now();
const llama = await Llama.load(testLoadOptions({ slots: 2, logLevel: "error" }));
console.log(
  `Loaded ${llama.modelInfo.name} in ${ms(loadStart)}: ${llama.slotCapacity} slots × ${llama.contextSize} tokens, ${llama.threads} thread(s).`,
);

llama.createSlot("user_1");
await turn(llama, "user_1", "Once upon a time, there was a girl named Alice.");
llama.createSlot("user_2");
await turn(llama, "user_2", "Bob had a big red ball.");
await turn(llama, "user_1", "\nAlice said,");

console.log("\n--- freezing user_1 to bytes and freeing its slot ---");
llama.setSlot("user_1");
const tokens = llama.tokenCount("user_1");
let start = performance.now();
const frozen = await llama.saveState();
const saveTime = ms(start);
await llama.freeSlot("user_1");
console.log(
  `saveState: ${tokens} tokens → ${frozen.length} bytes (${(frozen.length / tokens).toFixed(0)} bytes/token) in ${saveTime}; slots now: ${llama.slots.join(", ")}`,
);

llama.createSlot("user_1");
llama.setSlot("user_1");
start = performance.now();
await llama.loadState(frozen);
console.log(`loadState: restored user_1 in ${ms(start)}`);
await turn(llama, "user_1", "\nThe next day");

await llama.dispose();
console.log("\nDisposed; the process exits on its own.");
