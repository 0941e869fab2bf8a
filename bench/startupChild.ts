// Run by bench/startup.ts in its own process: init a parent, prompt once, dispose, and report
// when dispose() began, so the parent can time dispose() to the process having exited.
import { LlamaLoad, LlamaParent } from "../src/index.js";
import { testLoadOptions } from "../test/support/testModel.js";

const now = () => performance.timeOrigin + performance.now();
const [modelPath, threads] = process.argv.slice(2);
const initStart = now();
const parent = new LlamaParent(new LlamaLoad(testLoadOptions({ modelPath: modelPath!, slots: 4, threads: Number(threads) })));
const info = await parent.init();
const initMs = now() - initStart;
await parent.getScope().sendPrompt("Once upon a time", { maxTokens: 16 });
const disposeStart = now();
await parent.dispose();
const disposeMs = now() - disposeStart;
console.log(JSON.stringify({ initMs, workerLoadMs: info.loadMs, disposeMs, disposeStart }));
