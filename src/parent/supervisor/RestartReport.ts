/** A restart after the engine died, as reported by `engineRestarted`. */
export interface RestartReport {
  /** Restarts since the parent started, this one included. */
  attempt: number;
  /** Milliseconds from the death to the new engine being ready (model loaded, scopes known). */
  ms: number;
  /**
   * Scope calls (prompts and streams, `saveState`, `fork`, …) and `embed` calls that the death rejected with
   * `WorkerCrashedError`: those the engine was running or had been sent. Calls still waiting for
   * a slot were not lost: they run on the new engine.
   */
  lostCalls: number;
}
