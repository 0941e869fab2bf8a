import { describe, expect, test } from "@jest/globals";
import { StopMatcher } from "../../src/engine/generate/StopMatcher.js";
import { seededRandom } from "../support/randomText.js";

/** Feeds the chunks in order and returns what the caller would have seen, push by push, then the flush. */
function feed(stops: string[], chunks: string[]): { matcher: StopMatcher; pushed: string[]; flushed: string } {
  const matcher = new StopMatcher(stops);
  const pushed = chunks.map((chunk) => matcher.push(chunk));
  return { matcher, pushed, flushed: matcher.flush() };
}

/**
 * The reply by definition, for text arriving in chunks: generation ends with the first chunk after
 * which the text holds a stop string, and the reply is the text before the earliest-starting stop
 * in it. (So the chunking matters: with stops "b" and "aba", "aaab" then "a" stops at the "b",
 * since "aba" was not complete when "b" was.)
 */
function referenceReply(chunks: string[], stops: string[]): { reply: string; stoppedAt: number | undefined } {
  let text = "";
  for (const chunk of chunks) {
    text += chunk;
    const found = stops.map((stop) => text.indexOf(stop)).filter((index) => index >= 0);
    if (found.length > 0) {
      const stoppedAt = Math.min(...found);
      return { reply: text.slice(0, stoppedAt), stoppedAt };
    }
  }
  return { reply: text, stoppedAt: undefined };
}

describe("StopMatcher", () => {
  test("without stop strings, every chunk passes at once and nothing is held", () => {
    const { matcher, pushed, flushed } = feed([], ["Hello", ", ", "world"]);
    expect(pushed).toEqual(["Hello", ", ", "world"]);
    expect(flushed).toBe("");
    expect(matcher.reply).toBe("Hello, world");
    expect(matcher.stoppedAt).toBeUndefined();
  });

  test("a stop string inside one chunk ends the reply before it; later chunks give nothing", () => {
    const { matcher, pushed, flushed } = feed(["STOP"], ["Hello STOP world", " more"]);
    expect(pushed).toEqual(["Hello ", ""]);
    expect(flushed).toBe("");
    expect(matcher.stoppedAt).toBe(6);
    expect(matcher.reply).toBe("Hello ");
  });

  test("a stop string split over chunks is held back, never shown in part", () => {
    const { matcher, pushed } = feed(["STOP"], ["Hel", "lo ST", "O", "P more"]);
    expect(pushed).toEqual(["Hel", "lo ", "", ""]);
    expect(matcher.reply).toBe("Hello ");
  });

  test("held text that turns out not to be a stop is released with the next chunk", () => {
    const { pushed, flushed, matcher } = feed(["STOP"], ["ab ST", "x"]);
    expect(pushed).toEqual(["ab ", "STx"]);
    expect(flushed).toBe("");
    expect(matcher.stoppedAt).toBeUndefined();
  });

  test("flush() releases a held possible prefix when generation ends without a stop", () => {
    const { pushed, flushed, matcher } = feed(["STOP"], ["the end ST"]);
    expect(pushed).toEqual(["the end "]);
    expect(flushed).toBe("ST");
    expect(matcher.reply).toBe("the end ST");
  });

  test("of several stop strings, the one that starts earliest ends the reply", () => {
    const { matcher, pushed } = feed(["world", "lo w"], ["hello world"]);
    expect(pushed).toEqual(["hel"]);
    expect(matcher.stoppedAt).toBe(3);
  });

  test("a stop that overlaps itself is found after a false start (aab in aaab)", () => {
    const { matcher, pushed } = feed(["aab"], ["a", "a", "a", "b"]);
    expect(pushed.join("")).toBe("a");
    expect(matcher.stoppedAt).toBe(1);
    expect(matcher.reply).toBe("a");
  });

  test("the first chunk to complete a stop ends the reply, even if a stop starting earlier would have completed later", () => {
    expect(feed(["b", "aba"], ["aaa", "b", "a"]).matcher.reply).toBe("aaa");
    // In one chunk, both are complete: the earlier start wins.
    expect(feed(["b", "aba"], ["aaaba"]).matcher.reply).toBe("aa");
  });

  test("multi-code-unit text (emoji) is held and released whole", () => {
    const { pushed, flushed } = feed(["🙂🙃"], ["ok 🙂", "!"]);
    expect(pushed).toEqual(["ok ", "🙂!"]);
    expect(flushed).toBe("");
  });

  test("on 5,000 random texts and chunkings: what the caller sees is always a prefix of the reply, and in the end is the reply", () => {
    const random = seededRandom(42);
    const pick = (alphabet: string, length: number) =>
      Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
    for (let i = 0; i < 5000; i++) {
      const alphabet = i % 2 === 0 ? "ab" : "abc ";
      const stops = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(alphabet, 1 + Math.floor(random() * 4)));
      const text = pick(alphabet, Math.floor(random() * 30));
      const chunks: string[] = [];
      for (let at = 0; at < text.length;) {
        const length = Math.floor(random() * 5); // empty chunks too: a token can decode to nothing
        chunks.push(text.slice(at, at + length));
        at += length;
      }
      const expected = referenceReply(chunks, stops);
      const matcher = new StopMatcher(stops);
      let seen = "";
      for (const chunk of chunks) {
        seen += matcher.push(chunk);
        if (!expected.reply.startsWith(seen))
          throw new Error(
            `stops ${JSON.stringify(stops)}, chunks ${JSON.stringify(chunks)}: showed ${JSON.stringify(seen)}, beyond the reply ${JSON.stringify(expected.reply)}`,
          );
      }
      seen += matcher.flush();
      if (seen !== expected.reply || matcher.reply !== expected.reply || matcher.stoppedAt !== expected.stoppedAt)
        throw new Error(
          `stops ${JSON.stringify(stops)}, chunks ${JSON.stringify(chunks)}: saw ${JSON.stringify(seen)}, reply ${JSON.stringify(matcher.reply)} at ${matcher.stoppedAt}; expected ${JSON.stringify(expected)}`,
        );
    }
  });
});

describe("matched: which stop string ended the reply", () => {
  test("the one that starts where the reply ends, even when it arrived in pieces", () => {
    expect(feed(["END", "||call:"], ["hello ||ca", "ll: x"]).matcher.matched).toBe("||call:");
    expect(feed(["END", "||call:"], ["hello EN", "D||call:"]).matcher.matched).toBe("END");
    // With stops that start at the same place, the first given wins.
    expect(feed(["ab", "a"], ["xab"]).matcher.matched).toBe("ab");
    expect(feed(["END"], ["no stop here"]).matcher.matched).toBeUndefined();
  });
});
