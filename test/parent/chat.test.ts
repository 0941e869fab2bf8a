import { expect, test } from "@jest/globals";
import { LlamaText, resolveChatWrapper } from "node-llama-cpp";
import { Llama, readStateMeta } from "../../src/index.js";
import { ChatSession } from "../../src/worker/chat/ChatSession.js";
import { nodeModelOf } from "../../src/engine/model/nodeModel.js";
import { startParent } from "../support/parents.js";
import { testLoadOptions } from "../support/testModel.js";

const TURNS = ["Tell me a story about a cat.", "What did the cat eat?"];
const OPTIONS = { maxTokens: 40 };

test("chat mode renders each prompt with the model's chat template and keeps the turns", async () => {
  // Reference on the direct engine: the template's rendering of each turn, appended as tokens.
  const llama = await Llama.load(testLoadOptions({ slots: 2 }));
  const wrapper = resolveChatWrapper(nodeModelOf(llama));
  const firstTurn = wrapper.generateContextState({
    chatHistory: [
      { type: "user", text: TURNS[0]! },
      { type: "model", response: [] },
    ],
  });
  const rendered = LlamaText(firstTurn.contextText).toString();
  expect(rendered).toContain(TURNS[0]); // the template wraps the text, it does not replace it
  expect(rendered.length).toBeGreaterThan(TURNS[0]!.length);

  const session = new ChatSession(nodeModelOf(llama), [], undefined);
  llama.createSlot("chat");
  llama.setSlot("chat");
  const expected: string[] = [];
  for (const text of TURNS) {
    const turn = session.userTurn(text, llama.historyTokens("chat"));
    llama.setPromptTokens(turn.tokens, { keep: turn.keep });
    const { text: reply, tokenCount } = await llama.generate({ ...OPTIONS, stop: turn.stop });
    session.modelReplied(reply, llama.historyTokens("chat").slice(-tokenCount));
    expected.push(reply);
  }
  llama.createSlot("raw");
  llama.setSlot("raw");
  llama.setPrompt(TURNS[0]!);
  const completion = await llama.generateCompleteText(OPTIONS);
  await llama.dispose();

  const parent = await startParent({ slots: 2 });
  try {
    const chat = parent.getScope({ mode: "chat" });
    const replies: string[] = [];
    for (const text of TURNS) replies.push(await chat.sendPrompt(text, OPTIONS));
    expect(chat.mode).toBe("chat");
    expect(replies).toEqual(expected);
    expect(replies[0]).not.toBe(completion);
    expect(parent.getScope().mode).toBe("completion");
  } finally {
    await parent.dispose();
  }
});

test("chat prompts sent together give the replies sent one by one; a state saved behind them records every turn", async () => {
  const parent = await startParent({ slots: 2 });
  try {
    const oneByOne = parent.getScope({ mode: "chat" });
    const expected: string[] = [];
    for (const text of TURNS) expected.push(await oneByOne.sendPrompt(text, OPTIONS));

    const together = parent.getScope({ mode: "chat" });
    const [replies, state] = await Promise.all([
      Promise.all(TURNS.map((text) => together.sendPrompt(text, OPTIONS))),
      together.saveState(),
    ]);
    expect(replies).toEqual(expected);
    const meta = readStateMeta(state);
    // Each reply with the tokens the slot holds for it (what a scope started from the history holds).
    const turn = (text: string, i: number) => [
      { type: "user", text },
      { type: "model", response: [expected[i]], tokens: expect.any(Array) },
    ];
    expect(meta?.["chatTurns"]).toEqual(TURNS.flatMap(turn));
  } finally {
    await parent.dispose();
  }
});
