import { describe, expect, test } from "@jest/globals";
import type { ChatHistoryItem } from "../../src/index.js";
import { chatTurnsOf, continuationOf } from "../../src/server/requests/chatMessages.js";

const call = (id: string, city: string) => ({
  id,
  type: "function",
  function: { name: "get_weather", arguments: JSON.stringify({ city }) },
});

describe("OpenAI messages with tool calls as chat history (model-free)", () => {
  test("an assistant's tool calls, their tool messages and the text after them are one model turn; trailing tool messages are the results", () => {
    const turns = chatTurnsOf([
      { role: "system", content: "Sys" },
      { role: "user", content: "Paris?" },
      { role: "assistant", content: null, tool_calls: [call("a", "Paris")] },
      { role: "tool", tool_call_id: "a", content: '{"sky":"sun"}' },
      { role: "assistant", content: "Sunny." },
      { role: "user", content: "And Rome?" },
      { role: "assistant", content: "Let me see.", tool_calls: [call("b", "Rome")] },
      { role: "tool", tool_call_id: "b", content: "rain" },
    ]);
    expect(turns.systemPrompt).toBe("Sys");
    expect(turns.prompt).toBe("");
    expect(turns.functionResults).toEqual([{ name: "get_weather", result: "rain" }]);
    expect(turns.prior).toEqual([
      { type: "user", text: "Paris?" },
      {
        type: "model",
        response: [{ type: "functionCall", name: "get_weather", params: { city: "Paris" }, result: { sky: "sun" } }, "Sunny."],
      },
      { type: "user", text: "And Rome?" },
      {
        type: "model",
        response: ["Let me see.", { type: "functionCall", name: "get_weather", params: { city: "Rome" }, result: undefined }],
      },
    ]);
  });

  test("a session holding the call waiting for its result continues with the results; one holding another call does not", () => {
    const request = chatTurnsOf([
      { role: "user", content: "Paris?" },
      { role: "assistant", content: null, tool_calls: [call("a", "Paris")] },
      { role: "tool", tool_call_id: "a", content: "1" },
    ]);
    // As getChatHistory() gives it: the call with its raw text and tokens, no result yet.
    const held: ChatHistoryItem[] = [
      { type: "user", text: "Paris?" },
      {
        type: "model",
        response: [{ type: "functionCall", name: "get_weather", params: { city: "Paris" }, result: undefined, rawCall: "||call: x" }],
        partTokens: [[1, 2, 3]],
      },
    ];
    expect(continuationOf(held, request)).toBe("");
    const other = structuredClone(held);
    (other[1] as { response: { params: unknown }[] }).response[0]!.params = { city: "Rome" };
    expect(continuationOf(other, request)).toBeUndefined();
  });
});
