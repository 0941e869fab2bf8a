import type { ConversationStoreStatus } from "../../index.js";
import type { SharedSessionCounts } from "../conversations/SharedSessions.js";
import type { PrometheusText } from "./PrometheusText.js";

/** What `/metrics` shows of a conversation store and the sessions shared through it. */
export interface SharedMetrics {
  status: ConversationStoreStatus | undefined;
  counts: SharedSessionCounts;
}

/** Adds the conversation store's metrics to a page (a server started with one). */
export function addSharedMetrics(page: PrometheusText, { status, counts }: SharedMetrics): void {
  page
    .add("llama_scope_store_connected", "gauge", "1 while the conversation store (Redis) is connected.", status?.connected === true ? 1 : 0)
    .add("llama_scope_store_failures_total", "counter", "Calls to the conversation store that failed or timed out.", status?.failures ?? 0)
    .add(
      "llama_scope_store_bytes_written_total",
      "counter",
      "Bytes of KV chunks written to the conversation store.",
      status?.bytesWritten ?? 0,
    )
    .add("llama_scope_store_sessions_total", "counter", "Session turns and the conversation store, by what happened.", [
      [{ event: "saved" }, counts.saved],
      [{ event: "loaded" }, counts.loaded],
      [{ event: "save_failed" }, counts.saveFailures],
      [{ event: "conflict" }, counts.conflicts],
      [{ event: "busy" }, counts.busy],
      [{ event: "degraded" }, counts.degraded],
    ])
    .add(
      "llama_scope_store_evaluated_tokens_total",
      "counter",
      "Tokens of loaded sessions evaluated again because their chunks were missing from the store.",
      counts.evaluatedTokens,
    );
}
