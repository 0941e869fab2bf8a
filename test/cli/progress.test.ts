// The CLI's load progress: what it draws from a real parent's loadProgress events, on a terminal
// and off one.
import { describe, expect, test } from "@jest/globals";
import { progressText, showLoadProgress } from "../../src/cli/loadProgress.js";
import { LlamaLoad, LlamaParent } from "../../src/index.js";
import { testLoadOptions } from "../support/testModel.js";

/** A stream that keeps what is written to it. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (chunk: string) => chunks.push(chunk) > 0 } };
}

describe("the CLI's load progress", () => {
  test("a terminal gets one bar redrawn up to 100 %, ended by a new line; anything else one line per phase", async () => {
    const terminal = sink(true);
    const plain = sink(false);
    const parent = new LlamaParent(new LlamaLoad(testLoadOptions()));
    const stops = [showLoadProgress(parent, terminal.stream), showLoadProgress(parent, plain.stream)];
    try {
      await parent.init();
      stops.forEach((stop) => stop());
      const bars = terminal.chunks.filter((chunk) => chunk.includes("loading ["));
      expect(bars.length).toBeGreaterThan(0);
      expect(bars.at(-1)).toContain("] 100%");
      expect(terminal.chunks.at(-1)).toBe("\n");
      expect(plain.chunks).toEqual(["llama-scope: loading the model\n"]);
      // Stopped: later events draw nothing.
      const count = terminal.chunks.length;
      parent.emit("loadProgress", { phase: "load", ratio: 0.5, bytes: 1, totalBytes: 2 });
      expect(terminal.chunks.length).toBe(count);
    } finally {
      await parent.dispose();
    }
  });

  test("a bar shows the bytes of the total, and starts a new line when the phase changes", () => {
    const half = progressText({ phase: "download", ratio: 0.5, bytes: 3 * 1024 ** 2, totalBytes: 6 * 1024 ** 2 }, "download", true);
    expect(half).toBe(`\rdownloading [${"#".repeat(15)}${".".repeat(15)}] 50% 3.0/6.0 MiB\u001b[K`);
    expect(progressText({ phase: "load", ratio: 0, bytes: 0, totalBytes: 0 }, "download", true).startsWith("\n\rloading [")).toBe(true);
    expect(progressText({ phase: "load", ratio: 0.2, bytes: 0, totalBytes: 0 }, "load", false)).toBe("");
  });
});
