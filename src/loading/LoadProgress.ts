/**
 * How far a model is from being ready: its download (a URI's, when the cache does not have the
 * file yet), then its load (the weights read, the slots allocated). Each phase reports rising
 * ratios below 1 as it goes, then exactly one event with `ratio: 1` when it is done.
 */
export interface LoadProgress {
  phase: "download" | "load";
  /** From 0 to 1; 1 once the phase is done. */
  ratio: number;
  /** Bytes downloaded so far; for the load, bytes of the model file read so far (`ratio × totalBytes`). */
  bytes: number;
  /** The download's size, or the model file's (0 when a server does not say how large the download is). */
  totalBytes: number;
}

/**
 * Reports one phase of a {@link LoadProgress}: only ratios that rise and stay below 1, then one
 * event of 1 at `finish`, whatever the source reports meanwhile (node-llama-cpp's callbacks repeat
 * values and may reach 1 before the phase is really over).
 */
export class PhaseProgress {
  private last = -1;
  private finished = false;

  constructor(
    private readonly phase: LoadProgress["phase"],
    private readonly listener: ((progress: LoadProgress) => void) | undefined,
  ) {}

  update(bytes: number, totalBytes: number): void {
    const ratio = totalBytes > 0 ? Math.min(bytes / totalBytes, 1) : 0;
    if (this.finished || ratio >= 1 || ratio <= this.last) return;
    this.last = ratio;
    this.report({ phase: this.phase, ratio, bytes, totalBytes });
  }

  finish(totalBytes: number): void {
    if (this.finished) return;
    this.finished = true;
    this.report({ phase: this.phase, ratio: 1, bytes: totalBytes, totalBytes });
  }

  private report(progress: LoadProgress): void {
    if (this.listener !== undefined) notifyProgress(this.listener, progress);
  }
}

/**
 * Calls a progress listener. One that throws must not break the load it watches (nor leave a
 * half-made model): its error surfaces as an uncaught exception, as from an event listener run by
 * an I/O callback.
 */
export function notifyProgress(listener: (progress: LoadProgress) => void, progress: LoadProgress): void {
  try {
    listener(progress);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
