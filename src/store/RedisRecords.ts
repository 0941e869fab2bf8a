import { randomUUID } from "node:crypto";
import { parseConversationRecord, type ConversationRecord } from "./conversationRecord.js";

/**
 * What {@link RedisRecords} uses of a Redis client: node-redis's `get`, `set` and `eval` (values
 * read as strings or Buffers, either is fine). Taken structurally, as `RedisChunkStore` takes its own.
 */
export interface RedisRecordClient {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { expiration: { type: "PX"; value: number }; condition: "NX" }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** A conversation's record as a store holds it, with the version its last write gave it. */
export interface VersionedRecord {
  /** 1 for the first write, one more for each write after it. */
  version: number;
  record: ConversationRecord;
}

/** What a conditional write found: the version it wrote, or (`conflict`) the version another writer left. */
export type WriteOutcome = { written: true; version: number } | { written: false; version: number };

/**
 * A record is stored as `<version>\n<JSON>`, so the scripts below read the version without
 * decoding the JSON. A write succeeds only when the stored version is the one the writer read
 * (0: none): that version is the fencing token of a turn, so a replica that lost its lease while
 * paused (a GC pause, a stopped VM) and then writes is refused instead of overwriting a newer turn.
 */
const WRITE_IF_VERSION = `
local current = redis.call('GET', KEYS[1])
local version = 0
if current then version = tonumber(string.match(current, '^(%d+)\\n')) or 0 end
if version ~= tonumber(ARGV[1]) then return {0, version} end
redis.call('SET', KEYS[1], (version + 1) .. '\\n' .. ARGV[2], 'PX', ARGV[3])
return {1, version + 1}`;

/** Releases or renews a lease only while it is still the holder's (its token). */
const IF_HOLDER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'release' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

export interface RedisRecordsOptions {
  /** Prepended to every key (`record:<name>`, `lease:<name>`). */
  prefix: string;
  /** How long a record stays after its last write, in ms. */
  ttlMs: number;
}

/**
 * Conversation records in Redis by name, each with a version that every write raises, and
 * leases: one holder of a name at a time, for as long as it renews its lease.
 */
export class RedisRecords {
  constructor(
    private readonly client: RedisRecordClient,
    private readonly options: RedisRecordsOptions,
  ) {}

  /**
   * The record stored under `name`, or undefined when there is none. A record that does not parse
   * (written by something else, or damaged) reads as `{ version, record: undefined }`: it is no
   * conversation, but the next write must still name its version.
   */
  async read(name: string): Promise<{ version: number; record: ConversationRecord | undefined } | undefined> {
    const value = await this.client.get(this.recordKey(name));
    if (value === null || value === undefined) return undefined;
    const text = typeof value === "string" ? value : Buffer.from(value as Uint8Array).toString("utf8");
    const newline = text.indexOf("\n");
    const version = Number(text.slice(0, newline));
    if (newline < 1 || !Number.isSafeInteger(version)) return { version: 0, record: undefined };
    return { version, record: parseConversationRecord(text.slice(newline + 1)) };
  }

  /** Writes `record` under `name` if the version stored is still `ifVersion` (0: no record yet). */
  async write(name: string, record: ConversationRecord, ifVersion: number): Promise<WriteOutcome> {
    const reply = await this.client.eval(WRITE_IF_VERSION, {
      keys: [this.recordKey(name)],
      arguments: [String(ifVersion), JSON.stringify(record), String(this.options.ttlMs)],
    });
    const [written, version] = reply as [number, number];
    return { written: written === 1, version: Number(version) };
  }

  /** Takes the lease on `name` for `ms` if no one holds it; resolves with the holder's token, or undefined. */
  async acquire(name: string, ms: number): Promise<string | undefined> {
    const token = randomUUID();
    const reply = await this.client.set(this.leaseKey(name), token, { expiration: { type: "PX", value: ms }, condition: "NX" });
    return reply === "OK" ? token : undefined;
  }

  /** Extends a held lease to `ms` from now; false when it is no longer the token's (it expired, and perhaps another took it). */
  async renew(name: string, token: string, ms: number): Promise<boolean> {
    return (await this.client.eval(IF_HOLDER, { keys: [this.leaseKey(name)], arguments: [token, "renew", String(ms)] })) === 1;
  }

  /** Ends a held lease; false when it was no longer the token's. */
  async release(name: string, token: string): Promise<boolean> {
    return (await this.client.eval(IF_HOLDER, { keys: [this.leaseKey(name)], arguments: [token, "release", "0"] })) === 1;
  }

  private recordKey(name: string): string {
    return `${this.options.prefix}record:${name}`;
  }

  private leaseKey(name: string): string {
    return `${this.options.prefix}lease:${name}`;
  }
}
