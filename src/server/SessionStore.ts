import { createHash } from "node:crypto";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { StateFormatError, StateMismatchError, type LlamaParent, type LlamaScope } from "../index.js";
import { badRequest } from "./ApiError.js";

/** The longest session id taken (an `X-Session-Id` header or a `user` field). */
export const MAX_SESSION_ID_LENGTH = 256;
const FILE_PREFIX = "session-";
const FILE_SUFFIX = ".llstate";

/** One session: the scope its requests continue, and the tail of its requests, which run one at a time. */
class Session {
  scope: LlamaScope | undefined;
  tail: Promise<unknown> = Promise.resolve();
  /** Whether its file in the state directory has been looked for. */
  looked = false;
  /** Requests of this session not settled yet: a session with none may be evicted. */
  pending = 0;

  constructor(readonly id: string) {}
}

/** What a request can do with its session while it has its turn. */
export interface SessionTurn {
  readonly id: string;
  /** The session's scope: the one earlier requests left, or revived from the state directory. */
  readonly scope: LlamaScope | undefined;
  /** Makes `scope` the session's, disposing the one it had. */
  replace(scope: LlamaScope): Promise<void>;
}

/**
 * Maps session ids to scopes. A session's requests run one at a time, in order, so each one sees
 * the conversation its predecessor left. With a state directory, `persist()` writes every
 * session there (a file named by the hash of its id) and a later server revives each one at its
 * first request, lazily.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  /** Sessions with a file in the state directory not revived yet (counted at start). */
  private stored = 0;
  /** Sessions revived from the state directory since start. */
  revived = 0;
  /** Sessions ended to stay within `maxSessions` since start (written to the state directory, if any). */
  evicted = 0;
  /** Sessions being ended, by id: a request for one waits until its file is written, then revives it. */
  private readonly ending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly parent: LlamaParent,
    private readonly stateDir: string | undefined,
    private readonly log: (line: string) => void,
    /** Sessions kept at once; past it the least recently used idle ones end. */
    private readonly maxSessions = Infinity,
  ) {}

  /** Counts the sessions stored in the state directory, for the metrics. */
  async open(): Promise<void> {
    if (this.stateDir === undefined) return;
    const names = await readdir(this.stateDir).catch(() => []);
    this.stored = names.filter((name) => name.startsWith(FILE_PREFIX) && name.endsWith(FILE_SUFFIX)).length;
  }

  /** Live sessions, and sessions waiting in the state directory. */
  get counts(): { live: number; stored: number } {
    return { live: this.sessions.size, stored: this.stored };
  }

  /** Checks a client's session id. */
  static checkId(id: unknown, where: string): string {
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_SESSION_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(id))
      throw badRequest(`${where} must be a session id of 1 to ${MAX_SESSION_ID_LENGTH} printable characters.`, where === "user" ? "user" : null, "invalid_session_id");
    return id;
  }

  /** Runs `use` with session `id` once the session's earlier requests are done. */
  use<T>(id: string, use: (turn: SessionTurn) => Promise<T>): Promise<T> {
    let session = this.sessions.get(id);
    if (session === undefined) {
      session = new Session(id);
      session.tail = this.ending.get(id) ?? session.tail;
    }
    // Most recently used last: eviction takes from the front.
    this.sessions.delete(id);
    this.sessions.set(id, session);
    session.pending++;
    // A new session past the limit makes room now, not after its request.
    void this.evictOverLimit();
    const run = session.tail.then(async () => {
      await this.lookForFile(session);
      return use({
        id,
        get scope() {
          return session.scope;
        },
        replace: async (scope) => {
          const old = session.scope;
          session.scope = scope;
          await old?.dispose();
        },
      });
    });
    session.tail = run
      .catch(() => {})
      .finally(() => {
        session.pending--;
        return this.evictOverLimit();
      });
    return run;
  }

  /**
   * Ends the least recently used idle sessions while there are more than `maxSessions`: each is
   * written to the state directory when there is one (its next request revives it), else its
   * scope is disposed. Sessions with requests under way are never ended.
   */
  private async evictOverLimit(): Promise<void> {
    while (this.sessions.size > this.maxSessions) {
      const oldest = [...this.sessions.values()].find((session) => session.pending === 0);
      if (oldest === undefined) return;
      this.sessions.delete(oldest.id);
      this.evicted++;
      const ended = this.writeAndDispose(oldest).then((written) => {
        if (written) this.stored++;
      });
      this.ending.set(oldest.id, ended);
      await ended;
      if (this.ending.get(oldest.id) === ended) this.ending.delete(oldest.id);
    }
  }

  /**
   * Writes every session's conversation to the state directory, after the requests already
   * made, and disposes its scope. Resolves with the number of sessions written.
   */
  async persist(): Promise<number> {
    const sessions = [...this.sessions.values()];
    await Promise.all([...sessions.map((session) => session.tail), ...this.ending.values()]);
    const written = await Promise.all(sessions.map((session) => this.writeAndDispose(session)));
    this.sessions.clear();
    return written.filter(Boolean).length;
  }

  /** Writes the session's conversation to the state directory (if any), then disposes its scope; true when written. */
  private async writeAndDispose(session: Session): Promise<boolean> {
    const scope = session.scope;
    if (scope === undefined || scope.disposed) return false;
    try {
      if (this.stateDir === undefined) return false;
      const file = this.fileOf(session.id);
      // Written whole, then renamed: a stop mid-write never leaves a torn state behind.
      await writeFile(`${file}.tmp`, await scope.saveState(), { mode: 0o600 });
      await rename(`${file}.tmp`, file);
      return true;
    } catch (error) {
      this.log(`could not persist session ${JSON.stringify(session.id)}: ${(error as Error).message}`);
      return false;
    } finally {
      session.scope = undefined;
      await scope.dispose();
    }
  }

  /** Disposes every session's scope without writing anything. */
  async dispose(): Promise<void> {
    const scopes = [...this.sessions.values()].map((session) => session.scope);
    this.sessions.clear();
    await Promise.all([...scopes.map((scope) => scope?.dispose()), ...this.ending.values()]);
  }

  /** A session's first request revives the conversation stored for it, if there is one. */
  private async lookForFile(session: Session): Promise<void> {
    if (session.looked || this.stateDir === undefined) return;
    session.looked = true;
    const file = this.fileOf(session.id);
    const state = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (state === undefined) return;
    try {
      session.scope = this.parent.getScope({ state });
      await rm(file, { force: true }); // the session lives here now; the next persist writes it again
      this.revived++;
    } catch (error) {
      if (!(error instanceof StateFormatError || error instanceof StateMismatchError)) throw error;
      // Another model's state, or a damaged file: kept aside for the operator, and the session starts anew.
      await rename(file, `${file}.rejected`).catch(() => {});
      this.log(`session ${JSON.stringify(session.id)}: its saved state was set aside (${file}.rejected): ${error.message}`);
    }
    this.stored = Math.max(0, this.stored - 1);
  }

  /** The file of a session: named by a hash of its id, so no id can name another path. */
  private fileOf(id: string): string {
    return path.join(this.stateDir!, `${FILE_PREFIX}${createHash("sha256").update(id).digest("hex")}${FILE_SUFFIX}`);
  }
}
