import type { LlamaParent, LoadProgress } from "../index.js";

/**
 * Draws a one-line progress bar on a terminal while the model downloads and loads (the parent's
 * `loadProgress` events); a stream that is not a terminal gets one line per phase instead of a bar.
 * Returns the function that stops drawing and ends the bar's line.
 */
export function showLoadProgress(
  parent: Pick<LlamaParent, "on" | "off">,
  stream: Pick<NodeJS.WriteStream, "isTTY" | "write"> = process.stderr,
): () => void {
  let phase: LoadProgress["phase"] | undefined;
  const draw = (progress: LoadProgress) => {
    const text = progressText(progress, phase, stream.isTTY === true);
    if (text !== "") stream.write(text);
    phase = progress.phase;
  };
  parent.on("loadProgress", draw);
  return () => {
    parent.off("loadProgress", draw);
    if (stream.isTTY === true && phase !== undefined) stream.write("\n");
  };
}

const BAR_WIDTH = 30;

/** What one event adds to the output: a redrawn bar on a terminal, else a line when a phase starts. */
export function progressText(
  { phase, ratio, bytes, totalBytes }: LoadProgress,
  previousPhase: LoadProgress["phase"] | undefined,
  terminal: boolean,
): string {
  const doing = phase === "download" ? "downloading" : "loading";
  if (!terminal) return phase === previousPhase ? "" : `llama-scope: ${doing} the model\n`;
  const percent = Math.round(Math.min(1, Math.max(0, ratio)) * 100);
  const filled = Math.round((percent / 100) * BAR_WIDTH);
  const mib = (n: number) => (n / 1024 ** 2).toFixed(1);
  const size = totalBytes > 0 ? ` ${mib(bytes)}/${mib(totalBytes)} MiB` : bytes > 0 ? ` ${mib(bytes)} MiB` : "";
  // \r redraws the line; ESC[K clears what a longer previous line left.
  const newLine = previousPhase !== undefined && previousPhase !== phase ? "\n" : "";
  return `${newLine}\r${doing} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${percent}%${size}\u001b[K`;
}
