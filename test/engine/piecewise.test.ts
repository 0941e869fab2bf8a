import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { PIECE_LENGTH, PromptTokenizer } from "../../src/engine/tokenize/PromptTokenizer.js";
import { isLineStart, splitAtLineStarts } from "../../src/engine/tokenize/textPieces.js";
import { otherModelPath, testModelPath } from "../support/testModel.js";

const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

/** Long multi-line texts, each several pieces long, with every kind of line start and line. */
const TEXTS: Record<string, string> = {
  story: Array.from({ length: 800 }, (_, i) => `${STORY} Day ${i}: "Look!" said ${["Tom", "Sue", "Ben"][i % 3]}.`).join("\n"),
  "blank lines, indents and CRLF": Array.from(
    { length: 3000 },
    (_, i) =>
      `${i % 3 === 0 ? `${i} ` : ""}${["", "  indented line", "\tTabbed", "Windows line\r", "x", "-- rule --", "a b  c   d"][i % 7]}`,
  ).join("\n"),
  "unicode and emoji": Array.from({ length: 700 }, (_, i) => `日本語 ${i} 🙂 Ça va? Über naïve café — ${"ß".repeat(i % 5)}𝔘𝔫𝔦`).join("\n"),
  "code and punctuation": Array.from({ length: 700 }, (_, i) => `function f${i}(a, b) { return a + b; } // ${"=".repeat(i % 40)}`).join(
    "\n",
  ),
  "opens with newlines": "\n\n" + Array.from({ length: 600 }, (_, i) => `Line ${i} ${STORY}`).join("\n"),
  "one long line among short ones": [STORY, STORY.repeat(300), ...Array.from({ length: 300 }, () => STORY)].join("\n"),
  "spaces after newlines only": Array.from({ length: 900 }, (_, i) => ` ${STORY} ${i}`).join("\n"),
};

describe("splitting at line starts", () => {
  test("pieces concatenate to the text, start at line starts, and stay near the piece length", () => {
    for (const text of Object.values(TEXTS)) {
      const pieces = splitAtLineStarts(text, PIECE_LENGTH);
      expect(pieces.join("")).toBe(text);
      let offset = 0;
      for (const [i, piece] of pieces.entries()) {
        if (i > 0) expect(isLineStart(text, offset)).toBe(true);
        offset += piece.length;
      }
    }
    const story = splitAtLineStarts(TEXTS.story!, PIECE_LENGTH);
    expect(story.length).toBeGreaterThan(5);
    for (const piece of story) expect(piece.length).toBeLessThanOrEqual(PIECE_LENGTH);
    expect(splitAtLineStarts("no line start at all ".repeat(2000), PIECE_LENGTH)).toHaveLength(1);
    expect(splitAtLineStarts("a\n\n  \nb", 1)).toEqual(["a\n\n  \n", "b"]); // never before whitespace
  });
});

describe.each([
  ["stories260K", testModelPath],
  ["llama-2-tiny-random", otherModelPath],
])("piecewise tokenizing on %s", (_, modelPath) => {
  let model: LlamaModel;
  beforeAll(async () => {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: modelPath() });
  });
  afterAll(() => model.dispose());

  test("is on for this SPM tokenizer", () => {
    expect(model.vocabularyType).toBe("spm");
    expect(PromptTokenizer.of(model).piecewise).toBe(true);
  });

  test.each(Object.keys(TEXTS))("gives the whole text's tokens: %s", async (name) => {
    const text = TEXTS[name]!;
    const tokenizer = PromptTokenizer.of(model);
    expect(text.length).toBeGreaterThan(3 * PIECE_LENGTH);
    for (const continuation of [false, true]) {
      const whole = model.tokenize(text, false, continuation ? "trimLeadingSpace" : undefined);
      expect(await tokenizer.tokenize(text, { continuation })).toEqual(whole);
      // Cut at every line start, the hardest case.
      expect(tokenizer.tokenizeInPieces(text, continuation)).toEqual(whole);
    }
  });

  test("ends between pieces when its signal is aborted", async () => {
    const controller = new AbortController();
    const reason = new Error("stopped");
    const tokenizing = PromptTokenizer.of(model).tokenize(TEXTS.story!, { continuation: false, signal: controller.signal });
    controller.abort(reason);
    await expect(tokenizing).rejects.toBe(reason);
  });
});
