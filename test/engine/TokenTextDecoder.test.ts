// TokenTextDecoder, model-free: a stand-in tokenizer whose tokens are single UTF-8 bytes, so a
// multi-byte character arrives split over tokens, as byte-fallback tokens split it in real models.
import { describe, expect, test } from "@jest/globals";
import type { LlamaModel, Token } from "node-llama-cpp";
import { TokenTextDecoder } from "../../src/engine/generate/TokenTextDecoder.js";
import { seededRandom } from "../support/randomText.js";

/** Token n is the byte n; detokenizing decodes the bytes as UTF-8 (U+FFFD for an unfinished character), as llama.cpp does. */
const bytesModel = {
  detokenize: (tokens: readonly Token[]) => Buffer.from(tokens.map(Number)).toString("utf8"),
} as unknown as LlamaModel;

const tokensOf = (text: string) => [...Buffer.from(text, "utf8")] as Token[];

/** What the decoder hands out for `text`, token by token. */
function decode(text: string): string[] {
  const decoder = new TokenTextDecoder(bytesModel, []);
  return tokensOf(text).map((token) => decoder.push(token));
}

describe("TokenTextDecoder", () => {
  test("ASCII comes out one token at a time", () => {
    expect(decode("Once upon")).toEqual([..."Once upon"]);
  });

  test("a character of 2, 3 or 4 bytes is held back until its last byte, then comes out whole", () => {
    expect(decode("é")).toEqual(["", "é"]);
    expect(decode("日")).toEqual(["", "", "日"]);
    expect(decode("🦙")).toEqual(["", "", "", "🦙"]);
    expect(decode("a🦙b")).toEqual(["a", "", "", "", "🦙", "b"]);
  });

  test("no chunk ever ends in half a character, and the chunks join to the text (random mixed text)", () => {
    const random = seededRandom(17);
    const alphabet = ["a", " ", "é", "ß", "日", "本", "🦙", "\n", "€"];
    for (let round = 0; round < 500; round++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 30) }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
      const chunks = decode(text);
      expect(chunks.join("")).toBe(text);
      for (const chunk of chunks) expect(chunk).not.toContain("\uFFFD");
    }
  });

  test("bytes that never make a character are let out after four tokens, as U+FFFD, instead of holding the reply back forever", () => {
    const decoder = new TokenTextDecoder(bytesModel, []);
    // Three bytes of a 4-byte character, then the first byte of another: nothing completes.
    const out = ([0xf0, 0x9f, 0xa6, 0xf0, 0x61] as Token[]).map((token) => decoder.push(token));
    expect(out.slice(0, 3)).toEqual(["", "", ""]);
    expect(out[3]).toMatch(/^\uFFFD+$/);
    expect(out[4]).toBe("a");
  });
});
