import { expect, test } from "@jest/globals";
import { DisposedError, Llama, SlotNotFoundError } from "../../src/index.js";
import { runFixture } from "../support/runFixture.js";
import { otherModelPath, testLoadOptions } from "../support/testModel.js";

test("after dispose() the process exits on its own and leaves no temporary files", async () => {
  const run = await runFixture("disposeThenExit");
  expect(run.signal).toBeNull(); // killed = it hung on an open handle
  expect(run.code).toBe(0);
  expect(run.report).toEqual({ running: "rejected", leftovers: [] });
});

test("dispose() waits for a slot that is being freed before it frees the context", async () => {
  const llama = await Llama.load(testLoadOptions({ slots: 2 }));
  llama.createSlot("a");
  llama.setSlot("a");
  llama.setPrompt("Once upon a time");
  const running = llama.generate({ maxTokens: 1000 }).catch((error: unknown) => error);
  await new Promise((resolve) => setTimeout(resolve, 5));
  let freed = false;
  const freeing = llama.freeSlot("a").then(() => (freed = true));
  await llama.dispose();
  expect(freed).toBe(true); // its generation had ended and its sequence was released first
  await freeing;
  // Ended by the freeing, at a token boundary: not by a context freed under it ("Object is disposed").
  expect(await running).toBeInstanceOf(SlotNotFoundError);
});

test("dispose() during a long prompt's tokenizing ends it between pieces", async () => {
  const llama = await Llama.load(testLoadOptions({ slots: 1, modelPath: otherModelPath(), contextSize: 4096 }));
  llama.createSlot("long");
  llama.setSlot("long");
  const line = "Once upon a time, there was a little girl named Lily.\n";
  llama.setPrompt(line.repeat(Math.ceil(llama.maxPromptLength / line.length)).slice(0, llama.maxPromptLength)); // ~9 pieces
  const running = llama.generate({ maxTokens: 8 }).catch((error: unknown) => error);
  await new Promise((resolve) => setImmediate(resolve)); // the first piece is tokenized
  await llama.dispose();
  expect(await running).toBeInstanceOf(DisposedError);
});
