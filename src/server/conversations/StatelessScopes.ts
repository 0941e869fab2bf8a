import type { LlamaScope } from "../../index.js";
import { LruMap } from "../../shared/LruMap.js";
import { conversationKey } from "./conversationKey.js";
import type { ScopeShifts } from "./ScopeShifts.js";
import type { SessionStore } from "./SessionStore.js";

/** How a request without a session id got its scope. */
export type StatelessReuse = "pooled" | "forked" | "fresh";

/**
 * The scopes of answered requests that had no session id, kept so that the client's next request,
 * which sends the whole conversation again, evaluates only its new message. Each is kept under
 * the key of the conversation it holds (its messages and the reply), at most `max` of them,
 * least recently used ended first; like any scope they are frozen when the slots run out.
 *
 * A request takes the scope that holds its earlier messages out of the pool and gives it back
 * with the reply added, so two requests never share one. When no pooled scope holds them, an idle
 * session that does is forked (a fork never changes its origin). Only a scope that holds exactly
 * what a new scope started from the same messages would is reused: one no context shift touched,
 * whose history is the request's messages and reply, all of them.
 */
export class StatelessScopes {
  private readonly pool = new LruMap<string, LlamaScope>();
  private closed = false;

  constructor(
    /** Scopes kept at most; 0 turns reuse off (every request starts a new scope, disposed after). */
    private readonly max: number,
    private readonly sessions: SessionStore,
    private readonly shifts: ScopeShifts,
  ) {}

  /** Whether scopes are reused at all (`max` above 0). */
  get enabled(): boolean {
    return this.max > 0;
  }

  /** Scopes kept now. */
  get size(): number {
    return this.pool.size;
  }

  /**
   * A scope holding exactly the conversation `key` names, for this request alone: taken out of
   * the pool, or forked from an idle session that holds it. Undefined when none does.
   */
  async take(key: string): Promise<{ scope: LlamaScope; reuse: StatelessReuse } | undefined> {
    if (this.max === 0 || this.closed) return undefined;
    const pooled = this.pool.get(key);
    if (pooled !== undefined) {
      this.pool.delete(key);
      return { scope: pooled, reuse: "pooled" };
    }
    // Forked in this same turn of the event loop as the session is found idle: a request of the
    // session sent later runs after the fork, which holds the conversation as it is now.
    const origin = this.sessions.idleScopeHolding(key);
    if (origin === undefined) return undefined;
    let fork: LlamaScope | undefined;
    try {
      fork = await origin.fork();
      if (conversationKey(await fork.getChatHistory()) === key) return { scope: fork, reuse: "forked" };
    } catch {
      // The session's scope was disposed or ended meanwhile: the request starts a new one.
    }
    await fork?.dispose();
    return undefined;
  }

  /**
   * After a request was answered on `scope`: keeps it under `key` (the request's conversation with
   * the reply) when it holds exactly that, else disposes it. Never rejects.
   */
  async keep(scope: LlamaScope, key: string): Promise<void> {
    try {
      if (this.max > 0 && !this.closed && !this.shifts.has(scope.id) && conversationKey(await scope.getChatHistory()) === key) {
        const older = this.pool.peek(key);
        this.pool.set(key, scope);
        // Two requests with the same conversation got the same reply: one scope is enough.
        const ended = [...(older === undefined || older === scope ? [] : [older]), ...this.pool.trim(this.max).map(([, s]) => s)];
        await Promise.all(ended.map((s) => s.dispose()));
        return;
      }
    } catch {
      // The scope failed (its engine died, it was disposed): it is not kept.
    }
    await scope.dispose().catch(() => {});
  }

  /** Disposes every kept scope; later requests keep none. */
  async dispose(): Promise<void> {
    this.closed = true;
    const scopes = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(scopes.map((scope) => scope.dispose()));
  }
}
