// The seed's high-level scenario: two chat windows (scopes) on one parent whose model runs in a
// worker thread. A speaks, B speaks, A comes back and the model still has A's story; every reply
// is streamed as it is generated. Then a third window on the two slots: the least recently used
// idle window is frozen to make room and restored when it speaks again.
// Run with `npm run demo`; LLAMA_SCOPE_MODEL picks another model.
import { LlamaLoad, LlamaParent, type LlamaScope } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";

const ms = (start: number) => `${(performance.now() - start).toFixed(1)} ms`;

async function say(window: string, scope: LlamaScope, prompt: string): Promise<void> {
  process.stdout.write(`\n[window ${window}] ${JSON.stringify(prompt)}\n`);
  const start = performance.now();
  let firstChunk: string | undefined;
  for await (const chunk of scope.streamPrompt(prompt, { maxTokens: 60 })) {
    if (firstChunk === undefined) process.stdout.write("  → ");
    firstChunk ??= ms(start);
    process.stdout.write(chunk.replaceAll("\n", "\n    "));
  }
  process.stdout.write(`\n  (first text after ${firstChunk ?? "-"}, whole reply ${ms(start)})\n`);
}

const start = performance.now();
const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ slots: 2 })));
const names = new Map<string, string>();
parent.on("slotFreed", (id) => console.log(`  · window ${names.get(id)} freed its slot`));
parent.on("scopeFrozen", (id, { bytes, ms, storage }) =>
  console.log(`  · window ${names.get(id)} frozen to make room: ${bytes} B in ${ms.toFixed(1)} ms (${storage})`),
);
parent.on("scopeRestored", (id, { bytes, ms }) => console.log(`  · window ${names.get(id)} restored: ${bytes} B in ${ms.toFixed(1)} ms`));
const info = await parent.init();
console.log(
  `Worker ready in ${ms(start)} (model "${info.modelName}" loaded in ${info.loadMs.toFixed(1)} ms): ${info.slots} slots × ${info.contextSize} tokens, ${info.threads} thread(s).`,
);

const windowA = parent.getScope();
const windowB = parent.getScope();
names.set(windowA.id, "A").set(windowB.id, "B");
await say("A", windowA, "Once upon a time, there was a girl named Alice.");
await say("B", windowB, "Bob had a big red ball.");
await say("A", windowA, "\nAlice said,");

console.log("\nBoth windows at once:");
const [a, b] = await Promise.all([
  windowA.sendPrompt("\nThe next day", { maxTokens: 40 }),
  windowB.sendPrompt("\nThen", { maxTokens: 40 }),
]);
console.log(`  A → ${JSON.stringify(a)}\n  B → ${JSON.stringify(b)}`);

console.log("\nA third window, and still two slots:");
const windowC = parent.getScope();
names.set(windowC.id, "C");
await say("C", windowC, "The cat sat on the mat.");
await say("A", windowA, "\nThe end. Alice");
const { slots, scopes, frozenBytes, freezes, restores, tokensGenerated } = parent.stats();
console.log(
  `\nstats: ${slots.held}/${slots.total} slots held, ${scopes.resident} windows resident, ${scopes.frozen} frozen (${frozenBytes.ram} B in memory), ` +
    `${freezes} freezes, ${restores} restores, ${tokensGenerated} tokens generated`,
);

await Promise.all([windowA.dispose(), windowB.dispose(), windowC.dispose()]);
await parent.dispose();
console.log("\nDisposed the windows and the parent; the process exits on its own.");
