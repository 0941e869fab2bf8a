// Errors the engine throws keep their class, `code` and `cause` on the way back to the caller:
// through a worker thread's MessagePort, and (npm run test:process) a child process's IPC channel.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError, LlamaScopeError, ModelLoadError, type LlamaParent } from "../../src/index.js";
import { startParent } from "../support/parents.js";

/** What a caller (or a JSON log) sees of an error: the cause's own fields as plain values. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof Error)) throw new Error(`expected a rejection with an Error, got ${String(error)}`);
  return error;
}

describe("an error with a cause, thrown in the engine", () => {
  let parent: LlamaParent;
  beforeAll(async () => (parent = await startParent({ slots: 1 })));
  afterAll(() => parent.dispose());

  test("a grammar llama.cpp refuses: InvalidArgumentError with its code, and llama.cpp's error as its cause", async () => {
    const scope = parent.getScope();
    const error = await rejectionOf(scope.sendPrompt("Once upon a time", { grammar: "root ::= (" }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const refused = error as InvalidArgumentError;
    expect(refused.code).toBe("LLAMA_SCOPE_ERR_INVALID_ARGUMENT");
    // The cause is node-llama-cpp's own error, kept as it came: a plain Error, not one of ours.
    expect(refused.cause).toBeInstanceOf(Error);
    expect(refused.cause).not.toBeInstanceOf(LlamaScopeError);
    const cause = refused.cause as Error;
    expect(cause.message.length).toBeGreaterThan(0);
    // The message quotes the cause's: the one that arrived is the one the engine caught.
    expect(refused.message).toContain(`(${cause.message};`);
    expect(cause.stack).toContain(cause.message);
    await scope.dispose();
  });
});

describe("a model file that is not a model", () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "llama-scope-errors-"))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("init rejects with ModelLoadError, its code, and the loader's error as its cause", async () => {
    const fake = path.join(dir, "fake.gguf");
    await writeFile(fake, "this is not a model\n".repeat(100));
    const error = await rejectionOf(startParent({ modelPath: fake }));
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe("LLAMA_SCOPE_ERR_MODEL_LOAD");
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.message).toContain((error.cause as Error).message);
  });
});
