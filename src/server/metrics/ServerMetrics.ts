import type { LlamaParent, ShiftReport, SwapReport } from "../../index.js";
import { addSharedMetrics, type SharedMetrics } from "./sharedMetrics.js";
import { PrometheusText, type Sample } from "./PrometheusText.js";
import type { StatelessReuse } from "../conversations/StatelessScopes.js";

/** How a chat or text completion request used its session. */
export type SessionOutcome = "none" | "started" | "continued";

/** What the server adds to the numbers of the parent (from its events) and counts itself. */
export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private readonly completions = new Map<string, number>();
  private readonly finishes = new Map<string, number>();
  private readonly statelessRequests: Record<StatelessReuse, number> = { pooled: 0, forked: 0, fresh: 0 };
  private promptTokens = 0;
  private completionTokens = 0;
  private aborted = 0;
  private embeddingInputs = 0;
  private embeddingTokens = 0;
  private readonly swapSeconds = { freeze: 0, restore: 0 };
  private erasedTokens = 0;

  private readonly listeners = {
    frozen: (_: string, { ms }: SwapReport) => (this.swapSeconds.freeze += ms / 1000),
    restored: (_: string, { ms }: SwapReport) => (this.swapSeconds.restore += ms / 1000),
    shifted: (_: string, { erasedTokens }: ShiftReport) => (this.erasedTokens += erasedTokens),
  };

  constructor(private readonly parent: LlamaParent) {
    parent.on("scopeFrozen", this.listeners.frozen);
    parent.on("scopeRestored", this.listeners.restored);
    parent.on("scopeShifted", this.listeners.shifted);
  }

  /** Stops listening to the parent, which may outlive the server. */
  detach(): void {
    this.parent.off("scopeFrozen", this.listeners.frozen);
    this.parent.off("scopeRestored", this.listeners.restored);
    this.parent.off("scopeShifted", this.listeners.shifted);
  }

  /** An HTTP response sent, by route and status. */
  request(route: string, status: number): void {
    increment(this.requests, `${route}\u0000${status}`);
  }

  /** A generation that ended (finished, cut short or aborted by its client). */
  generation(
    endpoint: string,
    session: SessionOutcome,
    result: { promptTokenCount: number; tokenCount: number; finishReason: string },
  ): void {
    increment(this.completions, `${endpoint}\u0000${session}`);
    increment(this.finishes, result.finishReason);
    this.promptTokens += result.promptTokenCount;
    this.completionTokens += result.tokenCount;
    if (result.finishReason === "aborted") this.aborted++;
  }

  /** An embeddings request answered: its texts, and the tokens they became. */
  embedding(inputs: number, tokens: number): void {
    this.embeddingInputs += inputs;
    this.embeddingTokens += tokens;
  }

  /** A request without a session id, by where its scope came from. */
  stateless(reuse: StatelessReuse): void {
    this.statelessRequests[reuse]++;
  }

  /** The whole page for `GET /metrics`. */
  render(server: {
    queueDepth: number;
    sessionQueueDepth: number;
    inFlight: number;
    sessions: { live: number; stored: number };
    revived: number;
    evicted: number;
    statelessScopes: number;
    /** With a conversation store: how it and the sessions shared through it are doing. */
    shared?: SharedMetrics;
  }): string {
    const stats = this.parent.stats();
    const ready = this.parent.modelInfo !== undefined && !this.parent.disposed;
    const page = new PrometheusText()
      .add("llama_scope_up", "gauge", "1 when the model is loaded and the server answers completions.", ready ? 1 : 0)
      .add("llama_scope_slots", "gauge", "Slots: total, held by a scope, held by a scope that is generating.", [
        [{ state: "total" }, stats.slots.total],
        [{ state: "held" }, stats.slots.held],
        [{ state: "generating" }, stats.slots.generating],
      ])
      .add("llama_scope_scopes", "gauge", "Live scopes (conversations): total, resident in a slot, frozen.", [
        [{ state: "total" }, stats.scopes.total],
        [{ state: "resident" }, stats.scopes.resident],
        [{ state: "frozen" }, stats.scopes.frozen],
      ])
      .add("llama_scope_frozen_bytes", "gauge", "Bytes of frozen conversations, in memory and spilled to disk.", [
        [{ storage: "ram" }, stats.frozenBytes.ram],
        [{ storage: "disk" }, stats.frozenBytes.disk],
      ])
      .add(
        "llama_scope_queue_depth",
        "gauge",
        "Requests waiting: for their session's earlier requests, for admission by the server, for a slot in the parent.",
        [
          [{ queue: "sessions" }, server.sessionQueueDepth],
          [{ queue: "server" }, server.queueDepth],
          [{ queue: "slots" }, stats.queueDepth],
        ],
      )
      .add("llama_scope_requests_in_flight", "gauge", "Completion and embedding requests admitted and not done.", server.inFlight)
      .add("llama_scope_sessions", "gauge", "Sessions: live in this server, stored in the state directory and not revived yet.", [
        [{ state: "live" }, server.sessions.live],
        [{ state: "stored" }, server.sessions.stored],
      ])
      .add("llama_scope_sessions_revived_total", "counter", "Sessions revived from the state directory.", server.revived)
      .add(
        "llama_scope_sessions_evicted_total",
        "counter",
        "Idle sessions ended to stay within maxSessions (written to the state directory, if any).",
        server.evicted,
      )
      .add(
        "llama_scope_stateless_requests_total",
        "counter",
        "Completion requests without a session id, by their scope: kept from an earlier request (pooled), forked from an idle session, or new (fresh).",
        [
          [{ reuse: "pooled" }, this.statelessRequests.pooled],
          [{ reuse: "forked" }, this.statelessRequests.forked],
          [{ reuse: "fresh" }, this.statelessRequests.fresh],
        ],
      )
      .add(
        "llama_scope_stateless_scopes",
        "gauge",
        "Scopes kept from requests without a session id for their next request.",
        server.statelessScopes,
      )
      .add("llama_scope_tokens_generated_total", "counter", "Tokens generated by every scope's prompts.", stats.tokensGenerated)
      .add("llama_scope_prompt_tokens_total", "counter", "Prompt tokens evaluated for completion requests.", this.promptTokens)
      .add("llama_scope_completion_tokens_total", "counter", "Tokens generated for completion requests.", this.completionTokens)
      .add("llama_scope_swaps_total", "counter", "Conversations frozen to free a slot, and restored.", [
        [{ direction: "freeze" }, stats.freezes],
        [{ direction: "restore" }, stats.restores],
      ])
      .add("llama_scope_swap_seconds_total", "counter", "Time spent freezing and restoring conversations.", [
        [{ direction: "freeze" }, this.swapSeconds.freeze],
        [{ direction: "restore" }, this.swapSeconds.restore],
      ])
      .add("llama_scope_context_shifts_total", "counter", "Context shifts (a full slot erased its oldest tokens).", stats.shifts)
      .add("llama_scope_context_shift_erased_tokens_total", "counter", "Tokens erased by context shifts.", this.erasedTokens)
      .add("llama_scope_engine_restarts_total", "counter", "Times the engine died and was restarted.", this.parent.engine.restarts)
      .add("llama_scope_prefix_cache_lookups_total", "counter", "Shared prefixes found in the prefix cache (hit) or evaluated (miss).", [
        [{ result: "hit" }, stats.prefixCache.hits],
        [{ result: "miss" }, stats.prefixCache.misses],
      ])
      .add("llama_scope_prefix_cache_bytes", "gauge", "Bytes held by the prefix cache.", stats.prefixCache.bytes)
      .add("llama_scope_prefix_cache_entries", "gauge", "Prefixes held by the prefix cache.", stats.prefixCache.entries)
      .add(
        "llama_scope_completions_total",
        "counter",
        "Generations by endpoint and by how they used a session.",
        samples(this.completions, ["endpoint", "session"]),
      )
      .add("llama_scope_completion_finishes_total", "counter", "Generations by why they ended.", samples(this.finishes, ["reason"]))
      .add("llama_scope_embedding_inputs_total", "counter", "Texts embedded for embedding requests.", this.embeddingInputs)
      .add("llama_scope_embedding_tokens_total", "counter", "Tokens evaluated for embedding requests.", this.embeddingTokens)
      .add("llama_scope_generations_aborted_total", "counter", "Generations stopped because their client went away.", this.aborted)
      .add(
        "llama_scope_http_requests_total",
        "counter",
        "HTTP responses by route and status code.",
        samples(this.requests, ["route", "status"]),
      );
    if (server.shared !== undefined) addSharedMetrics(page, server.shared);
    return page.toString();
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function samples(counts: Map<string, number>, names: string[]): Sample[] {
  return [...counts].map(([key, value]) => {
    const parts = key.split("\u0000");
    return [Object.fromEntries(names.map((name, i) => [name, parts[i] ?? ""])), value];
  });
}
