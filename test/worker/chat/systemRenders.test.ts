// The cache of system prompts rendered alone: one render per model and text, the most recent 32 kept.
import { describe, expect, test } from "@jest/globals";
import type { LlamaModel, Token } from "node-llama-cpp";
import { systemRender } from "../../../src/worker/chat/systemRenders.js";

describe("systemRender", () => {
  test("renders a system prompt once per model, keeps the 32 most recently used, and hands out frozen tokens", () => {
    const model = {} as LlamaModel;
    const other = {} as LlamaModel;
    let renders = 0;
    const render = (text: string) => () => {
      renders++;
      return [text.length as Token, 1 as Token];
    };
    const first = systemRender(model, "You are kind.", render("You are kind."));
    expect(systemRender(model, "You are kind.", render("You are kind."))).toBe(first);
    expect(renders).toBe(1);
    expect(Object.isFrozen(first)).toBe(true);
    systemRender(other, "You are kind.", render("You are kind.")); // another model renders its own
    expect(renders).toBe(2);
    for (let i = 0; i < 32; i++) systemRender(model, `prompt ${i}`, render(`prompt ${i}`));
    expect(renders).toBe(34);
    systemRender(model, "You are kind.", render("You are kind.")); // pushed out by 32 newer ones
    expect(renders).toBe(35);
    systemRender(model, "prompt 31", render("prompt 31")); // still there
    expect(renders).toBe(35);
  });
});
