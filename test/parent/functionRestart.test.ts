// Runs under its own isolations.
import { expect, test } from "@jest/globals";
import type { ChatFunction, LlamaParent, LlamaScope, RestartReport } from "../../src/index.js";
import { startParent } from "../support/parents.js";

const WEATHER: ChatFunction = {
  description: "Gets the weather in a city",
  params: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["celsius", "fahrenheit"] } } },
};
const FUNCTIONS = { getWeather: WEATHER };
const OPTIONS = { temperature: 0, maxTokens: 64, functions: FUNCTIONS };

function nextRestart(parent: LlamaParent): Promise<RestartReport> {
  return new Promise((resolve) => parent.once("engineRestarted", resolve));
}

/** A forced call and its result. */
async function roundTrip(scope: LlamaScope): Promise<void> {
  await scope.generate("What is the weather in Oslo?", { ...OPTIONS, functionCall: { name: "getWeather" } });
  await scope.generate("", { ...OPTIONS, functionResults: [{ name: "getWeather", result: { sky: "grey" } }] });
}

test("kill -9 after a tool round trip: the chat scope is rebuilt with its calls and goes on as a copy never killed", async () => {
  const system = "You report the weather.";
  const control = await startParent({ slots: 1, isolation: "thread" });
  const parent = await startParent({ slots: 1, isolation: "process" });
  try {
    const alone = control.getScope({ mode: "chat", systemPrompt: system });
    const killed = parent.getScope({ mode: "chat", systemPrompt: system });
    await roundTrip(alone);
    await roundTrip(killed);
    // A call that waits for its result survives the restart too.
    await alone.generate("And in Bergen?", { ...OPTIONS, functionCall: "required" });
    await killed.generate("And in Bergen?", { ...OPTIONS, functionCall: "required" });
    const restarted = nextRestart(parent);
    process.kill(parent.engine.pid!, "SIGKILL");
    expect((await restarted).lostCalls).toBe(0);
    expect(await killed.getChatHistory()).toEqual(await alone.getChatHistory());
    expect(await killed.tokenCount()).toBe(await alone.tokenCount());
    const results = { ...OPTIONS, functionResults: [{ name: "getWeather", result: { sky: "blue" } }] };
    expect((await killed.generate("", results)).text).toBe((await alone.generate("", results)).text);
    expect(await killed.sendPrompt("Thanks!", OPTIONS)).toBe(await alone.sendPrompt("Thanks!", OPTIONS));
  } finally {
    await Promise.all([parent.dispose(), control.dispose()]);
  }
});
