import type { LlamaParent } from "../index.js";
import type { AdmissionQueue } from "./AdmissionQueue.js";
import type { ResolvedServerOptions } from "./ServerOptions.js";
import type { ServerMetrics } from "./metrics/ServerMetrics.js";
import type { HistorySightings } from "./conversations/HistorySightings.js";
import type { ScopeShifts } from "./conversations/ScopeShifts.js";
import type { SessionStore } from "./conversations/SessionStore.js";
import type { StatelessScopes } from "./conversations/StatelessScopes.js";

/** What the routes share: the parent, the sessions, the queue, the metrics. */
export interface ServerContext {
  readonly parent: LlamaParent;
  readonly options: ResolvedServerOptions;
  readonly modelId: string;
  readonly sessions: SessionStore;
  /** Scopes kept from requests without a session, for their conversations' next requests. */
  readonly stateless: StatelessScopes;
  /** Scopes a context shift touched: never reused for another request's conversation. */
  readonly shifts: ScopeShifts;
  /** Conversation starts new scopes were started from: the prefix cache stores one at its second sighting. */
  readonly sightings: HistorySightings;
  readonly admission: AdmissionQueue;
  readonly metrics: ServerMetrics;
  /** Throws the 503 that says why completions cannot be answered now, if they cannot. */
  assertServing(): void;
  /** Whether the model is loaded and the server is not closing or failed. */
  readonly serving: boolean;
  /** Every request in flight's controller: `close()` aborts them once its grace period is over. */
  readonly inFlight: Set<AbortController>;
}
