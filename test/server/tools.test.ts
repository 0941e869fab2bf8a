import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type OpenAI from "openai";
import { metric, readMetrics, startTestServer, type TestServer } from "../support/servers.js";

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type ToolCall = OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;

/** Bounded arguments (an enum, a short string, a boolean): the tiny model always finishes them. */
const PARAMETERS = {
  type: "object",
  properties: {
    city: { type: "string", maxLength: 12 },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    tomorrow: { type: "boolean" },
  },
  required: ["city", "unit", "tomorrow"],
  additionalProperties: false,
} as const;
const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Gets the weather in a city", parameters: PARAMETERS } },
  { type: "function", function: { name: "get_time", description: "Gets the time", parameters: { type: "object", properties: {} } } },
];
const FORCED = { type: "function", function: { name: "get_weather" } } as const;
const GREEDY = { model: "m", temperature: 0, max_tokens: 96 };
const QUESTION: Message[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is the weather in Paris?" },
];
const RESULT = JSON.stringify({ temperature: 21, sky: "sunny" });

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ slots: 2 });
});
afterAll(async () => {
  await t.close();
});

/** The arguments JSON matches PARAMETERS: its required properties, of their types, in the enum, and no others. */
function expectMatchesSchema(argumentsJson: string): void {
  const args = JSON.parse(argumentsJson) as Record<string, unknown>;
  for (const name of PARAMETERS.required) expect(args).toHaveProperty(name);
  expect(Object.keys(args).sort()).toEqual(Object.keys(PARAMETERS.properties).sort());
  expect(typeof args.city).toBe("string");
  expect((args.city as string).length).toBeLessThanOrEqual(PARAMETERS.properties.city.maxLength);
  expect(PARAMETERS.properties.unit.enum).toContain(args.unit);
  expect(typeof args.tomorrow).toBe("boolean");
}

/** The tool messages of a round trip: the assistant's call as it came back, and the tool's reply to it. */
function roundTrip(call: ToolCall): Message[] {
  return [...QUESTION, { role: "assistant", content: null, tool_calls: [call] }, { role: "tool", tool_call_id: call.id, content: RESULT }];
}

/** A streamed reply put back together: its text, its tool calls (by index) and its finish reason. */
async function streamed(body: object, headers: Record<string, string> = {}) {
  const stream = await t.client.chat.completions.create({ ...GREEDY, ...body, stream: true } as never, { headers, timeout: 60_000 });
  let content = "";
  let finish: string | null = null;
  const calls: ToolCall[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
    const choice = chunk.choices[0];
    if (choice === undefined) continue;
    content += choice.delta.content ?? "";
    for (const delta of choice.delta.tool_calls ?? []) {
      const call = (calls[delta.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (delta.id !== undefined) call.id = delta.id;
      call.function.name += delta.function?.name ?? "";
      call.function.arguments += delta.function?.arguments ?? "";
    }
    finish = choice.finish_reason ?? finish;
  }
  return { content, calls, finish };
}

describe("tool calls through the openai client", () => {
  test("a forced tool call and a tool reply, whole and streamed, without a session", async () => {
    const whole = await t.client.chat.completions.create({
      ...GREEDY,
      messages: QUESTION,
      tools: TOOLS,
      tool_choice: FORCED,
      parallel_tool_calls: false,
    });
    const [choice] = whole.choices;
    expect(choice!.finish_reason).toBe("tool_calls");
    expect(choice!.message.content).toBeNull();
    expect(choice!.message.tool_calls).toHaveLength(1);
    const call = choice!.message.tool_calls![0]! as ToolCall;
    expect(call.id).toMatch(/^call_/);
    expect(call.type).toBe("function");
    expect(call.function.name).toBe("get_weather");
    expectMatchesSchema(call.function.arguments);

    // Streamed: the same call (greedy), in delta.tool_calls.
    const stream = await streamed({ messages: QUESTION, tools: TOOLS, tool_choice: FORCED });
    expect(stream.finish).toBe("tool_calls");
    expect(stream.content).toBe("");
    expect(stream.calls).toHaveLength(1);
    expect(stream.calls[0]!.id).toMatch(/^call_/);
    expect(stream.calls[0]!.function).toEqual(call.function);

    // The tool's reply: the model answers; whole and streamed alike.
    const answer = await t.client.chat.completions.create({ ...GREEDY, messages: roundTrip(call), tools: TOOLS });
    expect(answer.choices[0]!.finish_reason).not.toBe("tool_calls");
    expect(typeof answer.choices[0]!.message.content).toBe("string");
    const answerStream = await streamed({ messages: roundTrip(stream.calls[0]!), tools: TOOLS });
    expect(answerStream.content).toBe(answer.choices[0]!.message.content);
    expect(answerStream.calls).toEqual([]);

    // tool_choice "required" picks one of the tools.
    const required = await t.client.chat.completions.create({ ...GREEDY, messages: QUESTION, tools: TOOLS, tool_choice: "required" });
    const picked = required.choices[0]!.message.tool_calls![0]! as ToolCall;
    expect(["get_weather", "get_time"]).toContain(picked.function.name);
    if (picked.function.name === "get_weather") expectMatchesSchema(picked.function.arguments);
    else expect(JSON.parse(picked.function.arguments)).toEqual({});
  });

  test("a session continues across a tool round trip, evaluating only the new messages, whole and streamed", async () => {
    const fresh = await t.client.chat.completions.create({ ...GREEDY, messages: QUESTION, tools: TOOLS, tool_choice: FORCED });
    const reference = fresh.choices[0]!.message.tool_calls![0]! as ToolCall;
    for (const [i, stream] of [false, true].entries()) {
      const headers = { "X-Session-Id": `tools-${i}` };
      const before = await readMetrics(t.url);
      const call = stream
        ? (await streamed({ messages: QUESTION, tools: TOOLS, tool_choice: FORCED }, headers)).calls[0]!
        : ((await t.client.chat.completions.create({ ...GREEDY, messages: QUESTION, tools: TOOLS, tool_choice: FORCED }, { headers }))
            .choices[0]!.message.tool_calls![0]! as ToolCall);
      // A session's first request renders like a request without one: the same call.
      expect(call.function).toEqual(reference.function);
      const reply = await t.client.chat.completions.create({ ...GREEDY, messages: roundTrip(call), tools: TOOLS }, { headers });
      expect(typeof reply.choices[0]!.message.content).toBe("string");
      // Only the tool's result was evaluated: fewer tokens than the conversation so far.
      expect(reply.usage!.prompt_tokens).toBeLessThan(fresh.usage!.prompt_tokens);
      const next = await streamed(
        {
          messages: [
            ...roundTrip(call),
            { role: "assistant", content: reply.choices[0]!.message.content },
            { role: "user", content: "Thanks!" },
          ],
          tools: TOOLS,
        },
        headers,
      );
      expect(next.finish).not.toBeNull();
      const after = await readMetrics(t.url);
      const continued = 'llama_scope_completions_total{endpoint="chat",session="continued"}';
      expect(metric(after, continued) - metric(before, continued)).toBe(2);
    }
  });

  test("bad tool requests are refused with 400s that name the param", async () => {
    const refused = async (body: object, param: string) => {
      const error = await t.client.chat.completions.create({ ...GREEDY, ...body } as never).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 400, param });
    };
    await refused(
      { messages: QUESTION, tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } },
      "tool_choice.function.name",
    );
    await refused({ messages: QUESTION, tools: [{ type: "web_search" }] }, "tools[0].type");
    await refused({ messages: QUESTION, functions: [{ name: "f" }] }, "functions");
    await refused({ messages: QUESTION, tool_choice: "required" }, "tool_choice");
    await refused({ messages: QUESTION, tools: TOOLS, parallel_tool_calls: "no" }, "parallel_tool_calls");
    const call = { id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } };
    await refused(
      { messages: [...QUESTION, { role: "assistant", content: null, tool_calls: [call] }, { role: "user", content: "?" }] },
      "messages[2].tool_calls[0]",
    );
    await refused({ messages: [...QUESTION, { role: "tool", tool_call_id: "call_9", content: "1" }] }, "messages[2].tool_call_id");
    await refused(
      {
        messages: [
          ...QUESTION,
          { role: "assistant", content: null, tool_calls: [{ ...call, function: { name: "get_weather", arguments: "{" } }] },
        ],
      },
      "messages[2].tool_calls[0].function.arguments",
    );
  });
});
