import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { InvalidArgumentError, Llama, LlamaLoad, type GenerateOptions, type LlamaParent } from "../../src/index.js";
import { expectPet, generateOnNewSlot, PET_MAX_TOKENS, PET_SCHEMA } from "../support/options.js";
import { startParent } from "../support/parents.js";
import { testLoadOptions } from "../support/testModel.js";

let parent: LlamaParent;
/** The reference: the same options on the direct engine in this thread. */
let direct: Llama;
beforeAll(async () => {
  [parent, direct] = await Promise.all([startParent({ slots: 1 }), Llama.load(testLoadOptions({ slots: 1 }))]);
});
afterAll(() => Promise.all([parent.dispose(), direct.dispose()]));

async function collect(stream: AsyncIterable<string>): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk;
  return text;
}

describe("generation options through scopes", () => {
  test("jsonSchema: the reply is JSON of the schema, as the direct engine gives it", async () => {
    const scope = parent.getScope();
    const options = { jsonSchema: PET_SCHEMA, maxTokens: PET_MAX_TOKENS };
    const result = await scope.generate("Once upon a time, Lily", options);
    expect(result.finishReason).toBe("endOfText");
    expectPet(result.text);
    expect(result.text).toBe((await generateOnNewSlot(direct, "ref", "Once upon a time, Lily", options)).result.text);
    await scope.dispose();
  });

  test("grammar, streamed: yes or no", async () => {
    const scope = parent.getScope();
    expect(["yes", "no"]).toContain(await collect(scope.streamPrompt("Is it?", { grammar: 'root ::= ("yes" | "no")' })));
    await scope.dispose();
  });

  test("tokenBias (-Infinity included) and repeatPenalty reach the worker intact: the direct engine's replies", async () => {
    const prompt = "The cat sat.";
    const plain = await generateOnNewSlot(direct, "ref", prompt, { maxTokens: 32 });
    const firstText = direct.model.detokenize(plain.generated.slice(0, 1));
    const options: GenerateOptions = {
      maxTokens: 32,
      tokenBias: { [firstText]: -Infinity },
      repeatPenalty: { penalty: 1.3, lastTokens: 32 },
    };
    const expected = (await generateOnNewSlot(direct, "ref", prompt, options)).result.text;
    expect(expected).not.toBe(plain.result.text);
    const scope = parent.getScope();
    expect(await scope.sendPrompt(prompt, options)).toBe(expected);
    await scope.dispose();
  });

  test("unknown and unsendable options reject in the caller's thread with InvalidArgumentError; the scope keeps working", async () => {
    class Options {
      maxTokens = 8;
    }
    const cases: [unknown, RegExp][] = [
      [{ foo: 1 }, /Unknown generate option "foo"/],
      [{ grammer: 'root ::= "x"' }, /did you mean "grammar"/],
      [{ maxTokens: 8, onToken: () => {} }, /Unknown generate option "onToken"/],
      [{ jsonSchema: () => ({ type: "string" }) }, /jsonSchema .*not a function/],
      [{ jsonSchema: { type: "string", default: new URL("http://x") } }, /jsonSchema\.default .*instance of URL/],
      [{ tokenBias: new Map([["x", -1]]) }, /tokenBias .*instance of Map/],
      [{ repeatPenalty: { penalty: 1n } }, /repeatPenalty\.penalty .*BigInt/],
      [new Options(), /plain object.*instance of Options/],
      // A reactive framework's state passes every check above, but structured cloning refuses it.
      [{ tokenBias: new Proxy({ " the": -1 }, {}) }, /options\.tokenBias is a Proxy/],
      [
        { jsonSchema: { type: "object", properties: new Proxy({ name: { type: "string" } }, {}) } },
        /options\.jsonSchema\.properties is a Proxy/,
      ],
    ];
    const history = [{ type: "user", text: "Hi" }, new Proxy({ type: "model", response: ["Hello"] }, {})];
    expect(() => parent.getScope({ mode: "chat", history: history as never })).toThrow(/history\[1\] is a Proxy/);
    const scope = parent.getScope();
    for (const [bad, message] of cases) {
      await expect(scope.sendPrompt("Once", bad as GenerateOptions)).rejects.toThrow(InvalidArgumentError);
      await expect(scope.generate("Once", bad as GenerateOptions)).rejects.toThrow(message);
      await expect(scope.streamPrompt("Once", bad as GenerateOptions).next()).rejects.toThrow(message);
    }
    // Nothing crossed to the worker: the scope has not even taken a slot.
    expect(parent.stats()).toMatchObject({ scopes: { resident: 0 }, slots: { held: 0 } });
    const reply = await scope.sendPrompt("Once upon a time", { maxTokens: 16 });
    expect(reply).toBe((await generateOnNewSlot(direct, "ref", "Once upon a time", { maxTokens: 16 })).result.text);
    await scope.dispose();
  });

  test("a grammar llama.cpp refuses fails in the worker with InvalidArgumentError; the scope keeps working", async () => {
    const scope = parent.getScope();
    await scope.sendPrompt("Once upon a time", { maxTokens: 8 });
    await expect(scope.sendPrompt("\nThen", { grammar: "root ::= (" })).rejects.toThrow(InvalidArgumentError);
    const chat = parent.getScope({ mode: "chat" });
    await expect(chat.sendPrompt("Hi", { grammar: "root ::= (" })).rejects.toThrow(/start rule must be named root/);
    expect(["yes", "no"]).toContain(await chat.sendPrompt("Is it?", { grammar: 'root ::= ("yes" | "no")' }));
    // The refused prompt left no trace: the conversation continues as if it had never been sent.
    direct.createSlot("ref");
    try {
      direct.setSlot("ref");
      direct.setPrompt("Once upon a time");
      await direct.generate({ maxTokens: 8 });
      direct.setPrompt("\nThe end");
      expect(await scope.sendPrompt("\nThe end", { maxTokens: 16 })).toBe(await direct.generateCompleteText({ maxTokens: 16 }));
    } finally {
      await direct.freeSlot("ref");
    }
    await Promise.all([scope.dispose(), chat.dispose()]);
  });
});

describe("LlamaLoad options are plain data: anything structured cloning refuses is InvalidArgumentError, with what to do", () => {
  const modelPath = "model.gguf";
  test.each([
    ["onLoadProgress", { onLoadProgress: () => {} }, 'parent.on("loadProgress"'],
    ["onProgress", { onProgress: () => {} }, 'parent.on("loadProgress"'],
    ["signal", { signal: new AbortController().signal }, "parent.init({ signal })"],
    ["a function inside an option", { contextShift: { size: () => 64 } }, "contextShift.size is a function"],
    ["a Proxy", { contextShift: new Proxy({ size: 64 }, {}) }, "contextShift is a Proxy"],
  ])("%s", (_, options, says) => {
    const make = () => new LlamaLoad({ modelPath, ...(options as object) });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(says);
  });
});
