import { readdirSync, readFileSync } from "node:fs";

/**
 * The bounds on resources, relative to the level reached during the warm-up (the first quarter
 * of the run, at least 10 s: the model, the slots, the first freezes and spills, V8's heap and
 * glibc's arenas have grown by then). Past the warm-up a soak of steady work must stay level; a
 * leak per operation (a frozen state, a stream, a listener, a file) grows without bound and
 * crosses these within minutes:
 * - RSS at most 1.5× the warm-up's maximum (garbage collection and allocator caches make RSS
 *   wander by tens of percent; a leak of conversations doubles it);
 * - open file descriptors at most 16 more than the warm-up's maximum (the spill file, the engine
 *   process's pipes after a restart and the model file come and go one or two at a time).
 */
export const RSS_FACTOR = 1.5;
export const FD_SLACK = 16;

export interface ResourceLevels {
  warmup: number;
  max: number;
  /** When the maximum was reached, in seconds since the start. */
  maxAt: number;
  limit: number;
}

/** Samples this process's RSS and descriptors (and the engine process's RSS) every half second. */
export class ResourceMonitor {
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly rss = new Level(RSS_FACTOR, 0);
  private readonly fds = new Level(1, FD_SLACK);
  private readonly engineRss = new Level(RSS_FACTOR, 0);

  constructor(
    private readonly warmupMs: number,
    /** The engine process's pid with process isolation (it changes at each restart). */
    private readonly enginePid: () => number | undefined,
  ) {
    this.timer = setInterval(() => this.sample(), 500);
    this.sample();
  }

  sample(): void {
    const elapsed = performance.now() - this.started;
    const warm = elapsed < this.warmupMs;
    this.rss.add(process.memoryUsage().rss, warm, elapsed);
    this.fds.add(readdirSync("/proc/self/fd").length, warm, elapsed);
    const pid = this.enginePid();
    if (pid !== undefined && pid !== process.pid) {
      const bytes = processRss(pid);
      if (bytes !== undefined) this.engineRss.add(bytes, warm, elapsed);
    }
  }

  stop(): { rss: ResourceLevels; fds: ResourceLevels; engineRss: ResourceLevels | undefined } {
    clearInterval(this.timer);
    this.sample();
    return { rss: this.rss.levels(), fds: this.fds.levels(), engineRss: this.engineRss.sampled ? this.engineRss.levels() : undefined };
  }
}

/** One measure's warm-up maximum and overall maximum. */
class Level {
  private warmup = 0;
  private max = 0;
  private maxAt = 0;
  sampled = false;

  constructor(
    private readonly factor: number,
    private readonly slack: number,
  ) {}

  add(value: number, warm: boolean, elapsedMs: number): void {
    this.sampled = true;
    if (warm) this.warmup = Math.max(this.warmup, value);
    if (value > this.max) {
      this.max = value;
      this.maxAt = elapsedMs / 1000;
    }
  }

  levels(): ResourceLevels {
    return { warmup: this.warmup, max: this.max, maxAt: this.maxAt, limit: this.warmup * this.factor + this.slack };
  }
}

/** Another process's resident set from /proc (undefined once it is gone). */
function processRss(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}
