/** A restart after the engine died, as reported by `engineRestarted`. */
export interface RestartReport {
  /** Restarts since the parent started, this one included. */
  attempt: number;
  /** Milliseconds from the death to the new engine being ready (model loaded, scopes known). */
  ms: number;
  /** Calls in flight that the death rejected with `WorkerCrashedError`. */
  lostCalls: number;
}
