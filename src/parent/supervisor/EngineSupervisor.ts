import type { Remote } from "comlink";
import type { LoadProgress } from "../../engine/index.js";
import { DisposedError, reviveError, WorkerCrashedError } from "../../shared/errors/index.js";
import type { ModelReady, WireLoadOptions, WorkerApi } from "../../protocol/index.js";
import { InFlightCalls } from "./InFlightCalls.js";
import type { RestartPolicy } from "../RestartOptions.js";
import type { RunningEngine } from "./RunningEngine.js";
import { startEngine } from "./startEngine.js";
import { followLoadProgress } from "./followLoadProgress.js";
import type { Isolation } from "./Isolation.js";
import type { RestartReport } from "./RestartReport.js";

/** What the supervisor asks of its parent around an engine's life and death. */
export interface SupervisorHooks {
  /** The options a new engine loads the model with. */
  initOptions(): WireLoadOptions;
  /** The engine died and a new one will start: stop handing out slots; resolves once moves settled. */
  engineLost(): Promise<void>;
  /** A new engine loaded the model: tell it about every live scope (through `send`). */
  reopen(api: Remote<WorkerApi>, send: <T>(call: () => Promise<T>) => Promise<T>): Promise<void>;
  restarted(report: Omit<RestartReport, "lostCalls">): void;
  /** The engine died and no other will start: every call now and later fails with `crash`. */
  failed(crash: WorkerCrashedError): void;
}

/**
 * Runs the engine of a `LlamaParent`: starts it, sends it calls, notices when it dies, and starts
 * a new one when the restart policy allows. Calls made while an engine starts wait for it; calls
 * in flight when it dies reject at once with `WorkerCrashedError`.
 */
export class EngineSupervisor {
  private host: RunningEngine | undefined;
  /** Calls to the current engine: a new tracker per engine, so a death fails only its own calls. */
  private inFlight = new InFlightCalls();
  /** Settles when an engine can take calls: the first load, then each restart. */
  private ready: Promise<unknown> | undefined;
  /** True while calls may go straight to the engine (a pull per chunk then awaits nothing). */
  private usable = false;
  private restarting = false;
  private deaths: number[] = [];
  /** Set once no engine will take calls again: disposed, or failed for good. */
  private closedBy: Error | undefined;
  restarts = 0;
  info: ModelReady | undefined;

  constructor(
    private readonly isolation: Isolation,
    private readonly policy: RestartPolicy,
    private readonly hooks: SupervisorHooks,
  ) {}

  /** The engine running now, if any. */
  get engine(): RunningEngine | undefined {
    return this.host;
  }

  /**
   * Starts the first engine and loads the model; `onProgress` gets the load's progress, the last
   * one (ratio 1) before this resolves.
   */
  start(onProgress?: (progress: LoadProgress) => void): Promise<ModelReady> {
    const ready = this.launch(onProgress).then((info) => {
      this.usable = true;
      return info;
    });
    this.ready = ready;
    return ready;
  }

  /** Sends a call to the engine, once one is ready; with llama-scope's error classes revived. */
  async call<T>(use: (api: Remote<WorkerApi>) => Promise<T>): Promise<T> {
    if (!this.usable) {
      await this.ready;
      if (this.closedBy !== undefined) throw this.closedBy;
    }
    const engine = this.host!;
    return this.send(() => use(engine.api));
  }

  /** Rejects every call in flight and later with `reason`, and ends the engine (see `RunningEngine.stop`). */
  async stop(reason: DisposedError): Promise<void> {
    this.closedBy ??= reason;
    this.usable = false;
    this.inFlight.failAll(reason);
    await this.host?.stop().catch(() => {});
  }

  /** Sends one call, failing it at once if the engine dies. */
  private send<T>(call: () => Promise<T>): Promise<T> {
    return this.inFlight.track(call).catch((error: unknown) => {
      throw reviveError(error);
    });
  }

  /** Starts an engine and loads the model in it. */
  private launch(onProgress?: (progress: LoadProgress) => void): Promise<ModelReady> {
    const engine = startEngine(this.isolation, (how, cause) => this.died(engine, how, cause));
    this.host = engine;
    this.inFlight = new InFlightCalls();
    const loaded = this.send(() => engine.api.init(this.hooks.initOptions()));
    const followed =
      onProgress === undefined ? undefined : followLoadProgress((after) => this.send(() => engine.api.loadProgress(after)), onProgress);
    return Promise.all([loaded, followed]).then(([info]) => (this.info = info));
  }

  /** An engine ended without being asked (it may report it twice: an error, then the exit). */
  private died(engine: RunningEngine, how: string, cause?: Error): void {
    if (engine !== this.host || this.closedBy !== undefined) return;
    this.host = undefined;
    this.usable = false;
    const crash = new WorkerCrashedError(
      `The llama-scope engine (${this.isolation}) ${how}. The calls in flight were rejected` +
        (this.policy === false ? "; create a new LlamaParent to go on." : "; the parent starts a new engine and every scope goes on."),
      cause === undefined ? undefined : { cause },
    );
    this.inFlight.failAll(crash);
    this.deaths.push(performance.now());
    if (this.restarting) return; // the restart under way sees its launch fail and tries again
    this.ready = this.restart(crash, performance.now());
  }

  /**
   * Starts new engines until one is ready, unless the engine dies more often than the policy
   * allows: then every call fails, as with restarts off.
   */
  private async restart(crash: WorkerCrashedError, started: number): Promise<void> {
    this.restarting = true;
    try {
      if (this.policy !== false) await this.hooks.engineLost();
      for (;;) {
        if (this.closedBy !== undefined) return;
        if (this.policy === false || this.deathsWithin(this.policy.windowMs) > this.policy.maxRestarts) {
          this.closedBy = crash;
          this.inFlight.failAll(crash);
          return this.hooks.failed(crash);
        }
        try {
          await this.launch();
          const engine = this.host!;
          await this.hooks.reopen(engine.api, (call) => this.send(call));
          break;
        } catch {
          if (this.host !== undefined) this.deaths.push(performance.now()); // it loaded nothing: a death too
          await this.host?.stop().catch(() => {});
          this.host = undefined;
        }
      }
      this.restarts++;
      this.usable = true;
      this.hooks.restarted({ attempt: this.restarts, ms: performance.now() - started });
    } finally {
      this.restarting = false;
    }
  }

  private deathsWithin(windowMs: number): number {
    const since = performance.now() - windowMs;
    this.deaths = this.deaths.filter((time) => time >= since);
    return this.deaths.length;
  }
}
