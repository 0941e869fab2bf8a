import type { LoadProgress } from "../../engine/index.js";

/**
 * Relays an engine's load progress while it loads: polls it (`WorkerApi.loadProgress`) until the
 * load is done (a ratio of 1) or over (null, or a failed poll: the engine died or was stopped;
 * `init`'s own result says why). Never rejects.
 */
export async function followLoadProgress(
  poll: (after: number) => Promise<LoadProgress | null>,
  report: (progress: LoadProgress) => void,
): Promise<void> {
  let after = -1;
  for (;;) {
    const progress = await poll(after).catch(() => null);
    if (progress === null) return;
    report(progress);
    if (progress.ratio >= 1) return;
    after = progress.ratio;
  }
}
