import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { ChatWrapper, LlamaText } from "node-llama-cpp";
import {
  FunctionResultsError,
  FunctionSchemaError,
  InvalidArgumentError,
  UnknownFunctionError,
  type ChatFunction,
  type LlamaParent,
  type LlamaScope,
} from "../../src/index.js";
import { startParent } from "../support/parents.js";

/** A function whose arguments are bounded (an enum, short strings, a boolean): the tiny model always finishes them. */
const WEATHER: ChatFunction = {
  description: "Gets the weather in a city",
  params: {
    type: "object",
    properties: {
      city: { type: "string", maxLength: 12 },
      unit: { enum: ["celsius", "fahrenheit"] },
      tomorrow: { type: "boolean" },
    },
  },
};
const TIME: ChatFunction = {
  description: "Gets the time in a city",
  params: { type: "object", properties: { city: { type: "string", maxLength: 8 } } },
};
const FUNCTIONS = { getWeather: WEATHER, getTime: TIME };
const OPTIONS = { temperature: 0, maxTokens: 96 };
const RESULT = [{ name: "getWeather", result: { temperature: 21, sky: "sunny" } }];

let parent: LlamaParent;
beforeAll(async () => {
  parent = await startParent({ slots: 3 });
});
afterAll(async () => {
  await parent.dispose();
});

/** The arguments match WEATHER's schema: every property, of its type, and nothing else. */
function expectWeatherArguments(args: unknown): void {
  expect(Object.keys(args as object).sort()).toEqual(["city", "tomorrow", "unit"]);
  const { city, unit, tomorrow } = args as Record<string, unknown>;
  expect(typeof city).toBe("string");
  expect((city as string).length).toBeLessThanOrEqual(12);
  expect(["celsius", "fahrenheit"]).toContain(unit);
  expect(typeof tomorrow).toBe("boolean");
}

/** A chat scope after a forced call and its result, and the reply to the result. */
async function roundTrip(scope: LlamaScope): Promise<string> {
  const call = await scope.generate("What is the weather in Paris?", {
    ...OPTIONS,
    functions: FUNCTIONS,
    functionCall: { name: "getWeather" },
  });
  expect(call.finishReason).toBe("functionCall");
  return (await scope.generate("", { ...OPTIONS, functions: FUNCTIONS, functionResults: RESULT })).text;
}

test("a forced call's arguments parse and match the schema; its result continues the reply", async () => {
  const chat = parent.getScope({ mode: "chat", systemPrompt: "You are a helpful assistant." });
  const call = await chat.generate("What is the weather in Paris?", {
    ...OPTIONS,
    functions: FUNCTIONS,
    functionCall: { name: "getWeather" },
  });
  expect(call.finishReason).toBe("functionCall");
  expect(call.text).toBe("");
  expect(call.functionCalls).toHaveLength(1);
  const [made] = call.functionCalls!;
  expect(made!.name).toBe("getWeather");
  expect(JSON.parse(made!.rawArguments)).toEqual(made!.arguments);
  expectWeatherArguments(made!.arguments);

  // The history keeps the call, waiting for its result; a new message is refused until it comes.
  const waiting = await chat.getChatHistory();
  expect(waiting.at(-1)).toMatchObject({
    type: "model",
    response: [{ type: "functionCall", name: "getWeather", params: made!.arguments }],
  });
  await expect(chat.generate("Hello?", OPTIONS)).rejects.toBeInstanceOf(FunctionResultsError);
  await expect(chat.generate("", { ...OPTIONS, functionResults: [{ name: "getTime", result: 1 }] })).rejects.toBeInstanceOf(
    UnknownFunctionError,
  );

  const tokensBefore = await chat.tokenCount();
  const reply = await chat.generate("", { ...OPTIONS, functions: FUNCTIONS, functionResults: RESULT });
  expect(reply.finishReason).not.toBe("functionCall");
  // Only the result's text was evaluated: everything before it stayed in the slot.
  expect(await chat.tokenCount()).toBe(tokensBefore + reply.promptTokenCount + reply.tokenCount);
  const history = await chat.getChatHistory();
  expect(history.at(-1)).toMatchObject({
    type: "model",
    response: [{ type: "functionCall", name: "getWeather", result: RESULT[0]!.result }, reply.text],
  });
  // The same round trip on a fresh scope gives the same reply (the engine is deterministic at temperature 0).
  expect(await roundTrip(parent.getScope({ mode: "chat", systemPrompt: "You are a helpful assistant." }))).toBe(reply.text);
  // A message after the round trip goes on.
  expect((await chat.generate("Thanks!", { ...OPTIONS, functions: FUNCTIONS })).finishReason).not.toBe("functionCall");
  await chat.dispose();
});

test('functionCall: "required" makes the model pick one of several functions by name', async () => {
  const chat = parent.getScope({ mode: "chat" });
  const call = await chat.generate("Weather or time?", { ...OPTIONS, functions: FUNCTIONS, functionCall: "required" });
  expect(call.finishReason).toBe("functionCall");
  const [made] = call.functionCalls!;
  expect(Object.keys(FUNCTIONS)).toContain(made!.name);
  if (made!.name === "getWeather") expectWeatherArguments(made!.arguments);
  else expect(Object.keys(made!.arguments as object)).toEqual(["city"]);
  await chat.dispose();
});

test("a tool round trip forked or frozen and restored continues with exactly the tokens of one that was not", async () => {
  const system = "You answer with the weather.";
  const reference = parent.getScope({ mode: "chat", systemPrompt: system });
  await roundTrip(reference);
  // The next reply, with its tokens as the slot holds them.
  const next = async (scope: LlamaScope) => {
    await scope.generate("And tomorrow?", { ...OPTIONS, functions: FUNCTIONS });
    return (await scope.getChatHistory()).at(-1);
  };

  const origin = parent.getScope({ mode: "chat", systemPrompt: system });
  await roundTrip(origin);
  const fork = await origin.fork();
  // A revived state and a scope from the history continue the same way.
  const revived = parent.getScope({ state: await origin.saveState() });
  const fromHistory = parent.getScope({ mode: "chat", history: await origin.getChatHistory() });
  // Three slots: the scopes below freeze the others and restore them for their turn.
  const expected = await next(reference);
  expect(expected).toMatchObject({ type: "model", tokens: expect.any(Array) });
  for (const scope of [origin, fork, revived, fromHistory]) expect(await next(scope)).toEqual(expected);
  expect(parent.stats().freezes).toBeGreaterThan(0);
  for (const scope of [reference, origin, fork, revived, fromHistory]) await scope.dispose();
});

test("\"auto\": when the reply's text reaches the wrapper's call prefix, it goes on as a call, which forks and continues alike", async () => {
  // The test model's wrapper (Llama 2's) writes calls in node-llama-cpp's default syntax. The tiny
  // model never writes its call prefix on its own: a grammar on the reply's text makes it.
  const prefix = LlamaText(ChatWrapper.defaultSettings.functions.call.prefix).toString();
  const grammar = `root ::= ${JSON.stringify(`Let me look. ${prefix}get`)}`;
  const chat = parent.getScope({ mode: "chat" });
  const streamed = chat.streamPrompt("Weather in Paris?", { ...OPTIONS, functions: FUNCTIONS, grammar });
  let text = "";
  for await (const chunk of streamed) text += chunk;
  const call = await streamed.result;
  expect(call.finishReason).toBe("functionCall");
  expect(call.text).toBe("Let me look. ");
  expect(text).toBe(call.text);
  const [made] = call.functionCalls!;
  expect(Object.keys(FUNCTIONS)).toContain(made!.name);
  if (made!.name === "getWeather") expectWeatherArguments(made!.arguments);
  const item = (await chat.getChatHistory()).at(-1);
  expect(item).toMatchObject({
    type: "model",
    response: ["Let me look. ", { type: "functionCall", name: made!.name, params: made!.arguments }],
  });

  const fork = await chat.fork();
  const results = { ...OPTIONS, functions: FUNCTIONS, functionResults: [{ name: made!.name, result: "done" }] };
  const replies = [await chat.generate("", results), await fork.generate("", results)];
  expect(replies[1]).toEqual(replies[0]);
  expect((await fork.getChatHistory()).at(-1)).toEqual((await chat.getChatHistory()).at(-1));
  await Promise.all([chat.dispose(), fork.dispose()]);
});

test("a call cut short by maxTokens stays in the reply as its text, and nothing waits for a result", async () => {
  const chat = parent.getScope({ mode: "chat" });
  const cut = await chat.generate("Weather?", { temperature: 0, maxTokens: 3, functions: FUNCTIONS, functionCall: { name: "getWeather" } });
  expect(cut.finishReason).toBe("maxTokens");
  expect(cut.functionCalls).toBeUndefined();
  expect(cut.text).toContain("getWeather");
  expect((await chat.getChatHistory()).at(-1)).toEqual({ type: "model", response: [cut.text] });
  await expect(chat.generate("", { functionResults: RESULT })).rejects.toBeInstanceOf(FunctionResultsError);
  // The next turn goes on, as with a scope started from the same history.
  const history = await chat.getChatHistory();
  const next = await chat.generate("Hello?", OPTIONS);
  expect(next.text).toBe(await parent.getScope({ mode: "chat", history }).sendPrompt("Hello?", OPTIONS));
  await chat.dispose();
});

test("bad function options are refused with named errors, and the conversation goes on", async () => {
  const chat = parent.getScope({ mode: "chat" });
  await expect(chat.generate("Hi", { functions: FUNCTIONS, functionCall: { name: "nope" } })).rejects.toBeInstanceOf(UnknownFunctionError);
  await expect(
    // node-llama-cpp has no grammar for an object literal.
    chat.generate("Hi", {
      functions: { bad: { params: { type: "object", properties: { x: { const: { a: 1 } } } } as never } },
      functionCall: "required",
    }),
  ).rejects.toBeInstanceOf(FunctionSchemaError);
  await expect(chat.generate("", { functionResults: RESULT })).rejects.toBeInstanceOf(FunctionResultsError);
  await expect(chat.generate("Hi", { functionResults: RESULT })).rejects.toBeInstanceOf(FunctionResultsError);
  await expect(parent.getScope().generate("Hi", { functions: FUNCTIONS })).rejects.toBeInstanceOf(InvalidArgumentError);
  await expect(
    chat.generate("Hi", { functions: FUNCTIONS, functionCall: "required", jsonSchema: { type: "string" } }),
  ).rejects.toBeInstanceOf(InvalidArgumentError);
  expect(await chat.getChatHistory()).toEqual([]);
  expect(await chat.tokenCount()).toBe(0);
  const reply = await chat.generate("Hi", OPTIONS);
  expect(reply.tokenCount).toBeGreaterThan(0);
  await chat.dispose();
});
