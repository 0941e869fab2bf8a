import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  ContextOverflowError,
  DisposedError,
  InvalidArgumentError,
  Llama,
  LlamaScopeError,
  ModelLoadError,
  NoActiveSlotError,
  SlotCapacityError,
  SlotExistsError,
  SlotNotFoundError,
  StateMismatchError,
} from "../../src/index.js";
import { soloReplies } from "../support/conversations.js";
import { testLoadOptions } from "../support/testModel.js";

let llama: Llama;
beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 2 }))));
afterAll(() => llama.dispose());

async function freeAll(target: Llama): Promise<void> {
  for (const id of target.slots) await target.freeSlot(id);
}

describe("slot bookkeeping", () => {
  test("slots beyond capacity throw SlotCapacityError; freeing one makes room", async () => {
    llama.createSlot("a");
    llama.createSlot("b");
    expect(llama.slots).toEqual(["a", "b"]);
    expect(() => llama.createSlot("c")).toThrow(SlotCapacityError);
    expect(() => llama.createSlot("c")).toThrow(/free one with freeSlot/);
    await llama.freeSlot("a");
    llama.createSlot("c");
    expect(llama.slots).toEqual(["b", "c"]);
    await freeAll(llama);
  });

  test("duplicate and unknown ids throw their errors", async () => {
    llama.createSlot("a");
    expect(() => llama.createSlot("a")).toThrow(SlotExistsError);
    expect(() => llama.setSlot("nope")).toThrow(SlotNotFoundError);
    await expect(llama.freeSlot("nope")).rejects.toBeInstanceOf(SlotNotFoundError);
    expect(() => llama.createSlot("")).toThrow(InvalidArgumentError);
    await freeAll(llama);
  });

  test("activeSlot follows setSlot and is cleared when the active slot is freed", async () => {
    expect(llama.activeSlot).toBeNull();
    llama.createSlot("a");
    expect(llama.activeSlot).toBeNull();
    llama.setSlot("a");
    expect(llama.activeSlot).toBe("a");
    await llama.freeSlot("a");
    expect(llama.activeSlot).toBeNull();
    expect(() => llama.setPrompt("hi")).toThrow(NoActiveSlotError);
    await expect(llama.generateCompleteText()).rejects.toBeInstanceOf(NoActiveSlotError);
    await expect(llama.saveState()).rejects.toBeInstanceOf(NoActiveSlotError);
  });

  test("a freed slot starts from scratch when created again", async () => {
    const firstTurn = async () => {
      llama.createSlot("a");
      llama.setSlot("a");
      llama.setPrompt("Once upon a time");
      return llama.generateCompleteText({ maxTokens: 16 });
    };
    const first = await firstTurn();
    await llama.freeSlot("a");
    expect(await firstTurn()).toBe(first);
    await freeAll(llama);
  });

  test("every error is a LlamaScopeError with its class name", () => {
    for (const ErrorClass of [SlotCapacityError, SlotExistsError, SlotNotFoundError, DisposedError, ModelLoadError]) {
      const error = new ErrorClass("x");
      expect(error).toBeInstanceOf(LlamaScopeError);
      expect(error.name).toBe(ErrorClass.name);
    }
  });
});

describe("generation options", () => {
  beforeAll(() => {
    llama.createSlot("g");
    llama.setSlot("g");
  });
  afterAll(() => freeAll(llama));

  test("bad options reject with InvalidArgumentError and consume nothing", async () => {
    llama.setPrompt("Once upon a time");
    for (const bad of [
      { maxTokens: 0 },
      { maxTokens: 1.5 },
      { temperature: -1 },
      { topP: 0 },
      { minP: 2 },
      { stop: [""] },
      { seed: -3 },
      { signal: "x" },
    ])
      await expect(llama.generateCompleteText(bad as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    // The prompt is still there: the valid call below sees it.
    const withPrompt = await llama.generateCompleteText({ maxTokens: 8 });
    const [alone] = (await soloReplies([{ id: "alone", turns: ["Once upon a time"] }], { maxTokens: 8 })).values();
    expect(withPrompt).toBe(alone![0]);
  });

  test("maxTokens bounds the reply, and sampling with a seed is reproducible", async () => {
    const sample = async (seed: number) => {
      llama.createSlot("s");
      llama.setSlot("s");
      llama.setPrompt("Once upon a time");
      const text = await llama.generate({ maxTokens: 24, temperature: 1.2, topK: 40, topP: 0.95, seed });
      await llama.freeSlot("s");
      llama.setSlot("g");
      return text;
    };
    const a = await sample(7);
    const b = await sample(7);
    expect(a.tokenCount).toBe(24);
    expect(a.finishReason).toBe("maxTokens");
    expect(b.text).toBe(a.text);
    const others = [(await sample(8)).text, (await sample(9)).text];
    expect(others.some((text) => text !== a.text)).toBe(true);
  });

  test("generateText streams the same text generateCompleteText returns", async () => {
    const run = async (streamed: boolean) => {
      llama.createSlot("t");
      llama.setSlot("t");
      llama.setPrompt("The little dog");
      let text = "";
      if (streamed) for await (const chunk of llama.generateText({ maxTokens: 48 })) text += chunk;
      else text = await llama.generateCompleteText({ maxTokens: 48 });
      await llama.freeSlot("t");
      llama.setSlot("g");
      return text;
    };
    const whole = await run(false);
    expect(await run(true)).toBe(whole);
  });

  test("breaking out of generateText stops the generation; the slot goes on from what was seen", async () => {
    llama.createSlot("b");
    llama.setSlot("b");
    llama.setPrompt("Once upon a time");
    let seen = "";
    for await (const chunk of llama.generateText({ maxTokens: 400 })) {
      seen += chunk;
      if (seen.length > 20) break;
    }
    // The slot is usable at once (the stopped call released it) and continues the seen text.
    const next = await llama.generate({ maxTokens: 8 });
    expect(next.tokenCount).toBe(8);
    await llama.freeSlot("b");
    llama.setSlot("g");
  });

  test("an AbortSignal ends the reply early and keeps what was generated", async () => {
    llama.setPrompt("Once upon a time");
    const controller = new AbortController();
    let chunks = 0;
    const result = await llama.generate({ maxTokens: 1000, signal: controller.signal }, () => {
      if (++chunks === 5) controller.abort();
    });
    expect(result.finishReason).toBe("aborted");
    expect(result.tokenCount).toBeLessThan(20);
    // A signal aborted before the call starts rejects like fetch, and the prompt does not join.
    const before = llama.tokenCount("g");
    llama.setPrompt(" and then");
    await expect(llama.generate({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
    await expect(llama.generate({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(DOMException);
    expect(llama.tokenCount("g")).toBe(before);
  });

  test("stopGeneration ends only the generation running now; calls queued behind it still run", async () => {
    llama.setPrompt("Once upon a time");
    const running = llama.generate({ maxTokens: 1000 }, () => llama.stopGeneration("g"));
    const queued = llama.generate({ maxTokens: 8 });
    expect((await running).finishReason).toBe("aborted");
    expect(await queued).toMatchObject({ finishReason: "maxTokens", tokenCount: 8 });
    // A stop while a state is being saved touches neither the save nor the next generation.
    const saving = llama.saveState();
    const next = llama.generate({ maxTokens: 8 });
    await new Promise((resolve) => setImmediate(resolve)); // the save is writing its file by now
    llama.stopGeneration("g");
    expect((await saving).length).toBeGreaterThan(0);
    expect(await next).toMatchObject({ finishReason: "maxTokens", tokenCount: 8 });
    expect(() => llama.stopGeneration("nope")).toThrow(SlotNotFoundError);
  });

  test("with contextShift off, a prompt that does not fit the slot throws ContextOverflowError and leaves the slot usable", async () => {
    const small = await Llama.load(testLoadOptions({ slots: 1, contextSize: 256, contextShift: false }));
    try {
      expect(small.contextSize).toBe(256);
      small.createSlot("x");
      small.setSlot("x");
      small.setPrompt("Once upon a time there was a prompt far too long for its slot. ".repeat(20));
      const refused = small.generateCompleteText();
      await expect(refused).rejects.toBeInstanceOf(ContextOverflowError);
      await expect(refused).rejects.toThrow(/contextShift/);
      small.setPrompt("Once");
      const result = await small.generate();
      expect(result.finishReason).toBe("contextFull");
      await expect(small.generateCompleteText()).rejects.toBeInstanceOf(ContextOverflowError);
    } finally {
      await small.dispose();
    }
  });
});

describe("freeing and disposing while work is in flight", () => {
  test("freeSlot ends the running and queued calls of that slot only", async () => {
    const target = await Llama.load(testLoadOptions({ slots: 2 }));
    target.createSlot("doomed");
    target.createSlot("kept");
    target.setSlot("kept");
    target.setPrompt("Once upon a time");
    const kept = target.generate({ maxTokens: 64 });
    target.setSlot("doomed");
    target.setPrompt("Once upon a time");
    const running = target.generateCompleteText({ maxTokens: 2000 });
    const queued = target.generateCompleteText({ maxTokens: 10 });
    await target.freeSlot("doomed");
    await expect(running).rejects.toBeInstanceOf(SlotNotFoundError);
    await expect(queued).rejects.toBeInstanceOf(SlotNotFoundError);
    expect((await kept).tokenCount).toBe(64);
    await target.dispose();
  });

  test("dispose rejects calls in flight, is idempotent, and later use throws DisposedError", async () => {
    const target = await Llama.load(testLoadOptions({ slots: 1 }));
    target.createSlot("a");
    target.setSlot("a");
    target.setPrompt("Once upon a time");
    const running = expect(target.generateCompleteText({ maxTokens: 2000 })).rejects.toBeInstanceOf(DisposedError);
    const stream = target.generateText({ maxTokens: 10 });
    const disposal = target.dispose();
    expect(target.dispose()).toBe(disposal);
    await disposal;
    await running;
    await expect(stream.next()).rejects.toBeInstanceOf(DisposedError);
    expect(target.disposed).toBe(true);
    expect(() => target.createSlot("b")).toThrow(DisposedError);
    expect(() => target.setSlot("a")).toThrow(DisposedError);
    expect(() => target.setPrompt("x")).toThrow(DisposedError);
    await expect(target.generateCompleteText()).rejects.toBeInstanceOf(DisposedError);
    await expect(target.saveState()).rejects.toBeInstanceOf(DisposedError);
    await expect(target.loadState(new Uint8Array(8))).rejects.toBeInstanceOf(DisposedError);
    await expect(target.freeSlot("a")).rejects.toBeInstanceOf(DisposedError);
  });
});

describe("loading", () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-test-"))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("a missing file gives ModelLoadError", async () => {
    await expect(Llama.load(testLoadOptions({ modelPath: path.join(dir, "missing.gguf") }))).rejects.toThrow(ModelLoadError);
    await expect(Llama.load(testLoadOptions({ modelPath: path.join(dir, "missing.gguf") }))).rejects.toThrow(/No model file at/);
  });

  test("a non-GGUF file gives ModelLoadError, and the process goes on", async () => {
    const fake = path.join(dir, "fake.gguf");
    await writeFile(fake, "this is not a model\n".repeat(100));
    await expect(Llama.load(testLoadOptions({ modelPath: fake }))).rejects.toBeInstanceOf(ModelLoadError);
    const truncated = path.join(dir, "truncated.gguf");
    const { readFile } = await import("node:fs/promises");
    await writeFile(truncated, (await readFile(testLoadOptions().modelPath)).subarray(0, 4096));
    await expect(Llama.load(testLoadOptions({ modelPath: truncated }))).rejects.toBeInstanceOf(ModelLoadError);
    await expect(Llama.load(testLoadOptions({ modelPath: dir }))).rejects.toBeInstanceOf(ModelLoadError);
  });

  test("bad load options give InvalidArgumentError", async () => {
    for (const bad of [
      { slots: 0 },
      { contextSize: -1 },
      { threads: 1.5 },
      { gpu: "cuda" },
      { modelPath: "" },
      { stateDir: path.join(dir, "missing") },
      { lockstep: "yes" },
      { flashAttention: "on" },
    ])
      await expect(Llama.load(testLoadOptions(bad as never))).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test("flashAttention reaches the context, and a state records it: it loads only where the setting is the same", async () => {
    const off = await Llama.load(testLoadOptions({ slots: 1, flashAttention: false }));
    const auto = await Llama.load(testLoadOptions({ slots: 1 }));
    try {
      expect(off.stateIdentity.layout.flashAttention).toBe("false");
      expect(auto.stateIdentity.layout.flashAttention).toBe("auto");
      off.createSlot("a");
      off.setSlot("a");
      off.setPrompt("Once upon a time");
      expect((await off.generateCompleteText({ maxTokens: 8 })).length).toBeGreaterThan(0);
      const state = await off.saveState();
      auto.createSlot("b");
      auto.setSlot("b");
      await expect(auto.loadState(state)).rejects.toBeInstanceOf(StateMismatchError);
    } finally {
      await Promise.all([off.dispose(), auto.dispose()]);
    }
  });

  test("contextSize is capped by the model's training context, threads default to a safe count", async () => {
    const big = await Llama.load({ ...testLoadOptions({ slots: 1, contextSize: 1_000_000 }), threads: undefined as never });
    try {
      expect(big.contextSize).toBe(2048);
      expect(big.threads).toBeGreaterThanOrEqual(1);
      expect(big.threads).toBeLessThanOrEqual(os.availableParallelism());
    } finally {
      await big.dispose();
    }
  });
});
