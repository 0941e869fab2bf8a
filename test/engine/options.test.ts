import { afterAll, beforeAll, describe, expect, jest, test } from "@jest/globals";
import { InvalidArgumentError, Llama, type GenerateOptions } from "../../src/index.js";
import { resolveGenerateOptions } from "../../src/engine/generate/GenerateOptions.js";
import { GrammarCache } from "../../src/engine/generate/GrammarCache.js";
import { nodeModelOf } from "../../src/engine/model/nodeModel.js";
import { expectPet, generateOnNewSlot, PET_MAX_TOKENS, PET_SCHEMA, repeatedCount } from "../support/options.js";
import { testLoadOptions } from "../support/testModel.js";

let llama: Llama;
beforeAll(async () => (llama = await Llama.load(testLoadOptions({ slots: 2 }))));
afterAll(() => llama.dispose());

const YES_NO = 'root ::= ("yes" | "no")';
/** A prompt whose greedy reply repeats itself ("She liked to play with her toys." again and again). */
const REPEATING_PROMPT = "The cat sat.";

const OPENINGS = ["Once upon a time,", "One day,", "Tom said,", "The dog", "In the park,"];
const NAMES = ["Lily", "Ben", "Mia", "Max"];
const TWENTY_PROMPTS = OPENINGS.flatMap((opening) => NAMES.map((name) => `${opening} ${name}`));

describe("jsonSchema", () => {
  test("20 prompts, greedy and sampled: each reply is JSON of the schema, ends as end of text, and is all the slot added", async () => {
    expect(new Set(TWENTY_PROMPTS).size).toBe(20);
    const texts = new Set<string>();
    for (const [i, prompt] of TWENTY_PROMPTS.entries()) {
      const options: GenerateOptions = {
        jsonSchema: PET_SCHEMA,
        maxTokens: PET_MAX_TOKENS,
        ...(i % 2 === 0 ? {} : { temperature: 1, seed: i }),
      };
      const { result, history } = await generateOnNewSlot(llama, "json", prompt, options);
      expect(result.finishReason).toBe("endOfText");
      expectPet(result.text);
      texts.add(result.text);
      // The end-of-text token is not kept, and nothing else is either: start token, prompt, reply.
      expect(history.length).toBe(1 + llama.model.tokenize(prompt).length + result.tokenCount);
    }
    expect(texts.size).toBeGreaterThan(1);
  });

  test("properties come out in the schema's key order (so schemas differing in order are distinct grammars)", async () => {
    const reversed = { type: "object", properties: { likesCats: { type: "boolean" }, name: { type: "string", maxLength: 12 } } } as const;
    const { result } = await generateOnNewSlot(llama, "json", "Once upon a time", { jsonSchema: reversed, maxTokens: PET_MAX_TOKENS });
    expect(Object.keys(JSON.parse(result.text) as object)).toEqual(["likesCats", "name"]);
  });

  test("the reply stays JSON across turns of one slot", async () => {
    llama.createSlot("turns");
    llama.setSlot("turns");
    for (const prompt of ["Once upon a time, Lily", "\nThen", "\nThe end."]) {
      llama.setPrompt(prompt);
      const result = await llama.generate({ jsonSchema: PET_SCHEMA, maxTokens: PET_MAX_TOKENS });
      expect(result.finishReason).toBe("endOfText");
      expectPet(result.text);
    }
    await llama.freeSlot("turns");
  });
});

describe("grammar", () => {
  test("a GBNF grammar decides the reply: yes or no, then end of text", async () => {
    for (const prompt of ["Is the sky blue?", "Once upon a time", "Tom said"]) {
      const { result } = await generateOnNewSlot(llama, "yn", prompt, { grammar: YES_NO, maxTokens: 16 });
      expect(["yes", "no"]).toContain(result.text);
      expect(result.finishReason).toBe("endOfText");
    }
  });

  test("a grammar llama.cpp cannot parse rejects the call with InvalidArgumentError; the slot is unchanged and keeps working", async () => {
    llama.createSlot("bad");
    llama.setSlot("bad");
    llama.setPrompt("Once upon a time");
    await llama.generate({ maxTokens: 4 });
    const before = llama.tokenCount("bad");
    llama.setPrompt("\nThen");
    await expect(llama.generate({ grammar: 'root ::= ("yes" | ' })).rejects.toThrow(InvalidArgumentError);
    await expect(llama.generate({ grammar: 'answer ::= "yes"' })).rejects.toThrow(/start rule must be named root/);
    expect(llama.tokenCount("bad")).toBe(before);
    llama.setPrompt("\nThen");
    expect((await llama.generate({ grammar: YES_NO })).finishReason).toBe("endOfText");
    await llama.freeSlot("bad");
  });

  test("each distinct grammar is compiled once, however many calls and slots use it", async () => {
    // Grammars no other test uses: the cache belongs to the Llama and outlives each test.
    const gbnf = 'root ::= ("up" | "down")';
    const schema = () => ({ type: "object", properties: { up: { type: "boolean" } } }) as const;
    const backend = nodeModelOf(llama).llama;
    const createGrammar = jest.spyOn(backend, "createGrammar");
    const createForSchema = jest.spyOn(backend, "createGrammarForJsonSchema");
    try {
      // Eight calls on four pairs of slots, the pair's two at once; they share two grammars.
      for (const id of ["a", "b", "a", "b"])
        await Promise.all([
          generateOnNewSlot(llama, id, "Is it?", { grammar: gbnf }),
          // An equal schema as another object is the same grammar.
          generateOnNewSlot(llama, `${id}-json`, "Once", { jsonSchema: schema(), maxTokens: PET_MAX_TOKENS }),
        ]);
      expect(createForSchema).toHaveBeenCalledTimes(1);
      // One for the GBNF text, one for the schema's grammar without node-llama-cpp's newline tail.
      expect(createGrammar).toHaveBeenCalledTimes(2);
      await generateOnNewSlot(llama, "c", "Is it?", { grammar: 'root ::= ("down" | "up")' });
      expect(createGrammar).toHaveBeenCalledTimes(3);
    } finally {
      createGrammar.mockRestore();
      createForSchema.mockRestore();
    }
  });

  test("GrammarCache: one compilation per distinct text, least recently used dropped past capacity, failures not kept", async () => {
    const cache = new GrammarCache(nodeModelOf(llama).llama, 2);
    const request = (gbnf: string) => resolveGenerateOptions({ grammar: gbnf }).grammar;
    const [a, b, c] = ['root ::= "a"', 'root ::= "b"', 'root ::= "c"'].map(request);
    const first = await cache.get(a);
    expect(await cache.get(request('root ::= "a"'))).toBe(first);
    await cache.get(b);
    await cache.get(a); // a is now the most recently used
    await cache.get(c); // evicts b
    expect({ size: cache.size, compiled: cache.compiled }).toEqual({ size: 2, compiled: 3 });
    expect(await cache.get(a)).toBe(first);
    await cache.get(b);
    expect({ size: cache.size, compiled: cache.compiled }).toEqual({ size: 2, compiled: 4 });
    await expect(cache.get(request("root ::= ("))).rejects.toThrow(InvalidArgumentError);
    await expect(cache.get(request("root ::= ("))).rejects.toThrow(InvalidArgumentError);
    expect({ size: cache.size, compiled: cache.compiled }).toEqual({ size: 2, compiled: 6 });
    expect(await cache.get(undefined)).toBeUndefined();
  });
});

describe("tokenBias", () => {
  test("-Infinity on the token greedy decoding uses most: it never appears, and the reply changes", async () => {
    const plain = await generateOnNewSlot(llama, "bias", REPEATING_PROMPT, { maxTokens: 48 });
    const model = llama.model;
    // The most frequent generated token whose text, as a tokenBias key, names that token.
    const banned = (text: string) => new Set([...model.tokenize(text), ...model.tokenize(text, false, "trimLeadingSpace")]);
    const byCount = [...new Set(plain.generated)].sort(
      (x, y) => plain.generated.filter((t) => t === y).length - plain.generated.filter((t) => t === x).length,
    );
    const token = byCount.find((t) => banned(model.detokenize([t])).has(t));
    expect(token).toBeDefined();
    const text = model.detokenize([token!]);
    expect(plain.generated.filter((t) => t === token).length).toBeGreaterThan(1);

    const biased = await generateOnNewSlot(llama, "bias", REPEATING_PROMPT, { maxTokens: 48, tokenBias: { [text]: -Infinity } });
    for (const forbidden of banned(text)) expect(biased.generated).not.toContain(forbidden);
    expect(biased.result.text).not.toBe(plain.result.text);
    // A bias of 0 changes nothing.
    expect((await generateOnNewSlot(llama, "bias", REPEATING_PROMPT, { maxTokens: 48, tokenBias: { [text]: 0 } })).result.text).toBe(
      plain.result.text,
    );
  });

  test("-Infinity survives structured cloning (the scope path)", () => {
    const options = structuredClone({ tokenBias: { " the": -Infinity } });
    expect(resolveGenerateOptions(options).tokenBias).toEqual(new Map([[" the", -Infinity]]));
  });
});

describe("repeatPenalty", () => {
  test("changes a greedy reply that repeats itself, to one that repeats less", async () => {
    const plain = await generateOnNewSlot(llama, "rp", REPEATING_PROMPT, { maxTokens: 64 });
    expect(repeatedCount(plain.generated)).toBeGreaterThan(plain.generated.length / 2); // the premise: it loops
    for (const repeatPenalty of [{}, { penalty: 1.3 }, { penalty: 1, frequencyPenalty: 0.5, presencePenalty: 0.5 }]) {
      const penalised = await generateOnNewSlot(llama, "rp", REPEATING_PROMPT, { maxTokens: 64, repeatPenalty });
      expect(penalised.result.text).not.toBe(plain.result.text);
      expect(repeatedCount(penalised.generated)).toBeLessThan(repeatedCount(plain.generated));
    }
  });

  test("off by default, and lastTokens: 0 or penalty 1 alone turn it off", async () => {
    const plain = await generateOnNewSlot(llama, "rp", REPEATING_PROMPT, { maxTokens: 64 });
    for (const repeatPenalty of [{ lastTokens: 0 }, { penalty: 1 }]) {
      expect((await generateOnNewSlot(llama, "rp", REPEATING_PROMPT, { maxTokens: 64, repeatPenalty })).result.text).toBe(
        plain.result.text,
      );
    }
  });

  test("the prompt counts among the recent tokens, the reply's first token included", async () => {
    // node-llama-cpp samples the first reply token before it adds the prompt to contextTokens;
    // were the prompt left out, this penalty would see an empty history and change nothing.
    const prompt = "The cat sat. The cat sat. The cat sat. The";
    const promptTokens = llama.model.tokenize(prompt);
    const plain = await generateOnNewSlot(llama, "rp", prompt, { maxTokens: 1 });
    expect(promptTokens).toContain(plain.generated[0]); // the premise: greedy repeats the prompt
    const penalised = await generateOnNewSlot(llama, "rp", prompt, { maxTokens: 1, repeatPenalty: { penalty: 100 } });
    expect(penalised.generated[0]).not.toBe(plain.generated[0]);
  });
});

describe("options the library does not know or cannot send to a worker", () => {
  class Schema {
    type = "string";
  }
  class Penalty {
    penalty = 1.2;
  }
  class Options {
    maxTokens = 8;
  }
  const cyclic: Record<string, unknown> = { type: "object" };
  cyclic.properties = { self: cyclic };
  const cases: [string, unknown, RegExp][] = [
    ["a misspelt option", { grammer: YES_NO }, /Unknown generate option "grammer": did you mean "grammar"\?/],
    ["an unknown option", { foo: 1 }, /Unknown generate option "foo"\. Generate options are maxTokens, .*tokenBias/],
    ["a callback", { maxTokens: 8, onToken: () => {} }, /Unknown generate option "onToken"/],
    ["a Symbol key", { [Symbol("x")]: 1 }, /Symbol\(x\)/],
    ["a function as jsonSchema", { jsonSchema: () => ({}) }, /jsonSchema must be a JSON schema as a plain object.*not a function/],
    ["a class instance as jsonSchema", { jsonSchema: new Schema() }, /jsonSchema .*not an instance of Schema/],
    [
      "a BigInt deep in jsonSchema",
      { jsonSchema: { type: "object", properties: { n: { type: "integer", maximum: 10n } } } },
      /jsonSchema\.properties\.n\.maximum .*BigInt/,
    ],
    [
      "a Date deep in jsonSchema",
      { jsonSchema: { type: "string", description: new Date(0) } },
      /jsonSchema\.description .*instance of Date/,
    ],
    ["undefined in jsonSchema", { jsonSchema: { enum: ["a", undefined] } }, /jsonSchema\.enum\[1\] .*not undefined/],
    ["NaN in jsonSchema", { jsonSchema: { type: "string", maxLength: NaN } }, /jsonSchema\.maxLength must be a finite number/],
    ["a cycle in jsonSchema", { jsonSchema: cyclic }, /jsonSchema\.properties\.self refers back/],
    ["jsonSchema and grammar", { jsonSchema: PET_SCHEMA, grammar: YES_NO }, /jsonSchema or grammar, not both/],
    ["a number as grammar", { grammar: 42 }, /grammar must be a GBNF grammar/],
    ["an empty grammar", { grammar: " " }, /grammar must be a GBNF grammar/],
    ["a class instance as repeatPenalty", { repeatPenalty: new Penalty() }, /repeatPenalty must be a plain object.*instance of Penalty/],
    ["an unknown repeatPenalty option", { repeatPenalty: { penalizeNewLine: true } }, /Unknown repeatPenalty option "penalizeNewLine"/],
    ["a zero penalty", { repeatPenalty: { penalty: 0 } }, /repeatPenalty\.penalty must be a number above 0/],
    ["a null penalty", { repeatPenalty: { penalty: null } }, /repeatPenalty\.penalty must be a number above 0/],
    ["a negative lastTokens", { repeatPenalty: { lastTokens: -1 } }, /repeatPenalty\.lastTokens must be a whole number/],
    [
      "a frequencyPenalty out of range",
      { repeatPenalty: { frequencyPenalty: 3 } },
      /repeatPenalty\.frequencyPenalty must be a number from -2 to 2/,
    ],
    ["a Map as tokenBias", { tokenBias: new Map([["x", -Infinity]]) }, /tokenBias must be a plain object.*instance of Map/],
    ["NaN as a bias", { tokenBias: { dragon: NaN } }, /tokenBias\.dragon must be a number/],
    ["a string as a bias", { tokenBias: { " the end": "never" } }, /tokenBias\[" the end"\] must be a number .*not "never"/],
    ["an empty text in tokenBias", { tokenBias: { "": -1 } }, /remove the "" key/],
    ["a BigInt as temperature", { temperature: 1n }, /temperature must be a number .*BigInt/],
    ["a Symbol as maxTokens", { maxTokens: Symbol("m") }, /maxTokens must be a whole number/],
    ["a class instance as the options", new Options(), /Generate options must be a plain object.*instance of Options/],
    ["inherited options", Object.create({ maxTokens: 8 }) as unknown, /Generate options must be a plain object.*custom prototype/],
  ];

  test.each(cases)("%s: InvalidArgumentError naming it; the prompt stays set and the slot keeps working", async (_, bad, message) => {
    llama.createSlot("invalid");
    try {
      llama.setSlot("invalid");
      llama.setPrompt("Once upon a time");
      const call = llama.generate(bad as GenerateOptions);
      await expect(call).rejects.toThrow(InvalidArgumentError);
      await expect(call).rejects.toThrow(message);
      expect(llama.tokenCount("invalid")).toBe(0);
      const next = await llama.generate({ maxTokens: 4 });
      expect(next.tokenCount).toBe(4);
    } finally {
      await llama.freeSlot("invalid");
    }
  });

  test("generateText refuses them too", async () => {
    llama.createSlot("invalid");
    try {
      llama.setSlot("invalid");
      await expect(llama.generateText({ foo: 1 } as GenerateOptions).next()).rejects.toThrow(/Unknown generate option "foo"/);
    } finally {
      await llama.freeSlot("invalid");
    }
  });
});
