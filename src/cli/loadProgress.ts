/** What `LlamaParent` reports while it downloads and loads a model (its `loadProgress` event). */
interface LoadProgress {
  phase: "download" | "load";
  ratio: number;
  bytes?: number;
}

interface ProgressSource {
  on(event: "loadProgress", listener: (progress: LoadProgress) => void): unknown;
}

/**
 * Draws a one-line progress bar on a terminal while the model downloads and loads. A parent
 * without the `loadProgress` event simply never calls it; a stream that is not a terminal gets
 * one line per phase instead of a bar.
 */
export function showLoadProgress(parent: object, stream: NodeJS.WriteStream = process.stderr): () => void {
  let phase: string | undefined;
  const draw = ({ phase: now, ratio, bytes }: LoadProgress) => {
    const percent = Math.round(Math.min(1, Math.max(0, ratio)) * 100);
    if (!stream.isTTY) {
      if (now !== phase) stream.write(`llama-scope: ${now === "download" ? "downloading" : "loading"} the model\n`);
    } else {
      const width = 30;
      const filled = Math.round((percent / 100) * width);
      const size = bytes === undefined ? "" : ` ${(bytes / 1024 ** 2).toFixed(1)} MiB`;
      stream.write(`\r${now === "download" ? "downloading" : "loading"} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}%${size}\u001b[K`);
    }
    phase = now;
  };
  (parent as ProgressSource).on("loadProgress", draw);
  // Ends the bar's line, once loading is over.
  return () => {
    if (stream.isTTY && phase !== undefined) stream.write("\n");
  };
}
