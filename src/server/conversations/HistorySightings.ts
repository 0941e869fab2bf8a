import { LruMap } from "../../shared/LruMap.js";

/** Conversation starts remembered: enough for the templates in use, a few kilobytes of digests. */
const REMEMBERED = 1024;

/**
 * The conversation starts (a system prompt and earlier messages) new scopes were started from,
 * by key, least recently seen forgotten first. The prefix cache stores a history only on its
 * second sighting: one client's conversation is sent once from its start (its next request
 * continues the scope that answered it), while a template conversation that many clients start
 * from comes again, and is then worth an entry.
 */
export class HistorySightings {
  private readonly seen = new LruMap<string, true>();

  /** Whether `key` was seen before; it is remembered as seen now either way. */
  again(key: string): boolean {
    const before = this.seen.has(key);
    this.seen.set(key, true);
    this.seen.trim(REMEMBERED);
    return before;
  }
}
