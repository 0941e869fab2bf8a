import type { LlamaParent } from "../src/index.js";
import type { Ledger } from "./Ledger.js";
import { Random } from "./random.js";

/** A moment in the engine's life: how many kills had been made, and whether one was not yet followed by a restart. */
export interface EngineMark {
  kills: number;
  restartPending: boolean;
}

/**
 * Kills the engine process with SIGKILL `count` times at random moments (fixed by the seed), one
 * at a time: the next kill waits until the parent has restarted the engine after the previous
 * one. Tells the operations whether a kill may have hit them (their `WorkerCrashedError` is then
 * expected), and counts restarts nobody caused.
 */
export class EngineKiller {
  kills = 0;
  restarts = 0;
  /** Every engine process seen, for the scratch directories they may make. */
  readonly pids = new Set<number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Kills waiting for the restart after the previous one. */
  private waiting: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly parent: LlamaParent,
    private readonly ledger: Ledger,
    private readonly seed: number,
    /** When the operations started, for the times in messages. */
    private readonly started: number,
  ) {
    this.rememberPid();
    parent.on("engineRestarted", ({ attempt, ms, lostCalls }) => {
      this.restarts++;
      this.rememberPid();
      console.log(
        `at ${this.elapsed()}: engine restarted (attempt ${attempt}, ${ms.toFixed(0)} ms, ${lostCalls} calls lost), pid ${parent.engine.pid}`,
      );
      if (this.restarts > this.kills)
        this.ledger.violation(
          "engine",
          `seed ${seed}: the engine restarted without being killed (restart ${attempt}, ${lostCalls} calls lost)`,
        );
      for (const resume of this.waiting.splice(0)) resume();
    });
    parent.on("error", (error) => this.ledger.violation("engine", `seed ${seed}: the parent gave up on its engine: ${error.message}`));
  }

  /** Schedules `count` kills, one in each of `count` equal parts of [10 %, 85 %] of the run. */
  start(count: number, durationMs: number): void {
    const random = Random.derive(this.seed, "killer");
    const span = (0.75 * durationMs) / Math.max(count, 1);
    for (let i = 0; i < count; i++) {
      const at = 0.1 * durationMs + span * (i + 0.1 + 0.8 * random.next());
      this.timers.push(setTimeout(() => void this.kill(), at));
    }
  }

  mark(): EngineMark {
    return { kills: this.kills, restartPending: this.kills > this.restarts };
  }

  /** True when a kill may have reached a call that started at `mark`. */
  hitSince(mark: EngineMark): boolean {
    return mark.restartPending || this.kills > mark.kills || this.kills > this.restarts;
  }

  /** Waits (up to `timeoutMs`) for the restart after the last kill; false if it did not come. */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.restarts < this.kills && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    return this.restarts >= this.kills;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const resume of this.waiting.splice(0)) resume();
  }

  private async kill(): Promise<void> {
    // One death at a time: a kill during a restart would be a kill of a loading engine, another test.
    while (this.restarts < this.kills && !this.stopped) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const pid = this.parent.engine.pid;
    if (this.stopped || pid === undefined || this.parent.disposed) return;
    this.kills++;
    console.log(`at ${this.elapsed()}: killing the engine (kill ${this.kills}), pid ${pid}`);
    process.kill(pid, "SIGKILL");
  }

  private elapsed(): string {
    return `${((performance.now() - this.started) / 1000).toFixed(1)} s`;
  }

  private rememberPid(): void {
    const { pid } = this.parent.engine;
    if (pid !== undefined) this.pids.add(pid);
  }
}
