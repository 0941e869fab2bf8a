// SessionStore's bookkeeping without a model: with no state directory the store never touches the
// parent (it is only asked to revive saved states), and an evicted session's scope is only
// disposed, so a stand-in that records `dispose()` is all a scope needs to be here. What the
// scopes do with a real engine is server.sessions.test.ts's.
import { describe, expect, test } from "@jest/globals";
import type { LlamaParent, LlamaScope } from "../../src/index.js";
import { ApiError } from "../../src/server/ApiError.js";
import { MAX_SESSION_ID_LENGTH, SessionStore, type SessionLimits } from "../../src/server/conversations/SessionStore.js";

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const noSignal = () => new AbortController().signal;

/** A store with no state directory and no parent: eviction disposes scopes and writes nothing. */
function storeWith(limits: SessionLimits): SessionStore {
  return new SessionStore(undefined as unknown as LlamaParent, undefined, () => {}, limits);
}

/** Records which sessions' scopes were disposed. */
class Disposals {
  readonly ids: string[] = [];
  scopeOf(id: string): LlamaScope {
    const ids = this.ids;
    const scope = {
      disposed: false,
      async dispose() {
        scope.disposed = true;
        ids.push(id);
      },
    };
    return scope as unknown as LlamaScope;
  }
}

/** One request of session `id` that gives it a scope (its first) and returns the scope it found. */
function request(store: SessionStore, id: string, disposals: Disposals): Promise<LlamaScope | undefined> {
  return store.use(id, noSignal(), async (turn) => {
    const found = turn.scope;
    if (found === undefined) await turn.replace(disposals.scopeOf(id));
    return found;
  });
}

describe("SessionStore", () => {
  test("a session's next request finds the scope its previous one left", async () => {
    const store = storeWith({ maxSessions: 10, maxSessionQueue: 10 });
    const disposals = new Disposals();
    expect(await request(store, "a", disposals)).toBeUndefined();
    const found = await request(store, "a", disposals);
    expect(found).toBeDefined();
    expect(await request(store, "a", disposals)).toBe(found);
    expect(store.counts).toEqual({ live: 1, stored: 0 });
  });

  test("replace() disposes the scope the session had", async () => {
    const store = storeWith({ maxSessions: 10, maxSessionQueue: 10 });
    const disposals = new Disposals();
    await request(store, "a", disposals);
    await store.use("a", noSignal(), (turn) => turn.replace(disposals.scopeOf("a, second")));
    expect(disposals.ids).toEqual(["a"]);
  });

  test("a session's requests run one at a time, in order", async () => {
    const store = storeWith({ maxSessions: 10, maxSessionQueue: 10 });
    const log: string[] = [];
    let openFirst!: () => void;
    const first = store.use("a", noSignal(), async () => {
      log.push("first starts");
      await new Promise<void>((resolve) => (openFirst = resolve));
      log.push("first ends");
    });
    const second = store.use("a", noSignal(), async () => void log.push("second runs"));
    const other = store.use("b", noSignal(), async () => void log.push("other session runs"));
    await other;
    expect(store.waiting).toBe(1);
    expect(log).toEqual(["first starts", "other session runs"]);
    openFirst();
    await Promise.all([first, second]);
    expect(log).toEqual(["first starts", "other session runs", "first ends", "second runs"]);
  });

  test("past maxSessionQueue waiting requests, the session's next one is a 429 session_queue_full", async () => {
    const store = storeWith({ maxSessions: 10, maxSessionQueue: 1 });
    let open!: () => void;
    const running = store.use("a", noSignal(), () => new Promise<void>((resolve) => (open = resolve)));
    const waiting = store.use("a", noSignal(), async () => "ran");
    const refused = store.use("a", noSignal(), async () => "never");
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toMatchObject({ status: 429, code: "session_queue_full" });
    open();
    await running;
    await expect(waiting).resolves.toBe("ran");
  });

  test("past maxSessions, the least recently used idle session ends and its scope is disposed", async () => {
    const store = storeWith({ maxSessions: 2, maxSessionQueue: 10 });
    const disposals = new Disposals();
    await request(store, "a", disposals);
    await request(store, "b", disposals);
    await request(store, "a", disposals); // a is now more recent than b
    await request(store, "c", disposals);
    await settle();
    expect(disposals.ids).toEqual(["b"]);
    expect(store.evicted).toBe(1);
    expect(store.counts.live).toBe(2);
    // a kept its scope; b starts anew.
    expect(await request(store, "a", disposals)).toBeDefined();
    expect(await request(store, "b", disposals)).toBeUndefined();
  });

  test("a session with a request under way is never ended: the idle one goes, though it is the most recent", async () => {
    const store = storeWith({ maxSessions: 1, maxSessionQueue: 10 });
    const disposals = new Disposals();
    let open!: () => void;
    const busy = store.use("a", noSignal(), async (turn) => {
      await turn.replace(disposals.scopeOf("a"));
      await new Promise<void>((resolve) => (open = resolve));
    });
    await settle();
    await request(store, "b", disposals);
    await settle();
    expect(disposals.ids).toEqual(["b"]);
    expect(store.counts.live).toBe(1);
    open();
    await busy;
    await settle();
    expect(disposals.ids).toEqual(["b"]);
    expect(await request(store, "a", disposals)).toBeDefined();
  });

  test("while every session is busy the store goes over the limit; the first to become idle ends then", async () => {
    const store = storeWith({ maxSessions: 1, maxSessionQueue: 10 });
    const disposals = new Disposals();
    const opens = new Map<string, () => void>();
    const busy = (id: string) =>
      store.use(id, noSignal(), async (turn) => {
        await turn.replace(disposals.scopeOf(id));
        await new Promise<void>((resolve) => opens.set(id, resolve));
      });
    const a = busy("a");
    const b = busy("b");
    await settle();
    expect(store.counts.live).toBe(2);
    expect(disposals.ids).toEqual([]);
    opens.get("b")!();
    await b;
    await settle();
    expect(disposals.ids).toEqual(["b"]);
    expect(store.evicted).toBe(1);
    opens.get("a")!();
    await a;
    await settle();
    expect(store.counts.live).toBe(1);
    expect(disposals.ids).toEqual(["b"]);
  });

  test("dispose() disposes every session's scope", async () => {
    const store = storeWith({ maxSessions: 10, maxSessionQueue: 10 });
    const disposals = new Disposals();
    await Promise.all(["a", "b", "c"].map((id) => request(store, id, disposals)));
    await store.dispose();
    expect(disposals.ids.sort()).toEqual(["a", "b", "c"]);
    expect(store.counts.live).toBe(0);
  });

  test("checkId takes 1 to 256 printable characters and refuses anything else with a 400 invalid_session_id", () => {
    expect(SessionStore.checkId("user-1 ✓", "X-Session-Id")).toBe("user-1 ✓");
    expect(SessionStore.checkId("x".repeat(MAX_SESSION_ID_LENGTH), "X-Session-Id")).toHaveLength(MAX_SESSION_ID_LENGTH);
    for (const bad of ["", "x".repeat(MAX_SESSION_ID_LENGTH + 1), "a\nb", "tab\there", "\u007f", 42, undefined]) {
      let thrown: unknown;
      try {
        SessionStore.checkId(bad, "X-Session-Id");
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ status: 400, code: "invalid_session_id", message: expect.stringMatching(/^X-Session-Id must be/) });
    }
  });
});

describe("a session's scope offered to requests without a session", () => {
  test("is found by the conversation its scope holds while the session is idle, and not while a request of it runs or waits", async () => {
    const store = storeWith({ maxSessions: 10, maxSessionQueue: 10 });
    const disposals = new Disposals();
    const scope = await store.use("a", noSignal(), async (turn) => {
      await turn.replace(disposals.scopeOf("a"));
      turn.holds("conversation 1");
      return turn.scope;
    });
    expect(store.idleScopeHolding("conversation 1")).toBe(scope);
    expect(store.idleScopeHolding("conversation 2")).toBeUndefined();
    let open = () => {};
    const running = store.use("a", noSignal(), () => new Promise<void>((resolve) => (open = resolve)));
    expect(store.idleScopeHolding("conversation 1")).toBeUndefined(); // its conversation is about to change
    await settle();
    open();
    await running;
    expect(store.idleScopeHolding("conversation 1")).toBeUndefined(); // the request said nothing: unknown now
    await store.use("a", noSignal(), async (turn) => turn.holds("conversation 2"));
    expect(store.idleScopeHolding("conversation 2")).toBe(scope);
    await store.dispose();
    expect(store.idleScopeHolding("conversation 2")).toBeUndefined();
  });

  test("never when the session's scope came from elsewhere than this server's own messages, or the session ended", async () => {
    const store = storeWith({ maxSessions: 1, maxSessionQueue: 10 });
    const disposals = new Disposals();
    // No scope that this server started from messages (none at all here; a revived one likewise): nothing offered.
    await store.use("a", noSignal(), async (turn) => turn.holds("conversation a"));
    expect(store.idleScopeHolding("conversation a")).toBeUndefined();
    await store.use("b", noSignal(), async (turn) => {
      await turn.replace(disposals.scopeOf("b"));
      turn.holds("conversation b");
    });
    expect(store.idleScopeHolding("conversation b")).toBeDefined();
    await request(store, "c", disposals); // past maxSessions: b, the least recently used, ends
    await settle();
    expect(disposals.ids).toContain("b");
    expect(store.idleScopeHolding("conversation b")).toBeUndefined();
  });
});
