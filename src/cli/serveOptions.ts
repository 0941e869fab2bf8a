import { parseArgs } from "node:util";
import { CliUsageError } from "./CliUsageError.js";

/** What `llama-scope serve` was asked for, from its flags and environment. */
export interface ServeOptions {
  model: string;
  slots: number;
  port: number;
  host: string;
  contextSize: number | undefined;
  threads: number | undefined;
  isolation: "thread" | "process";
  maxRamBytes: number | undefined;
  apiKey: string | undefined;
  stateDir: string | undefined;
  maxQueue: number;
  maxSessions: number;
  maxStatelessScopes: number;
  maxSessionQueue: number;
  maxMessages: number;
  maxSavedSessions: number;
  maxStateBytes: number;
  /** False with `--embeddings off`. */
  embeddings: boolean;
  /** A second model for `/v1/embeddings`; undefined: the served model computes them. */
  embeddingModel: string | undefined;
  /** The conversation store replicas share sessions through; undefined: sessions stay in this process. */
  redis: string | undefined;
  durability: "turn" | "async";
}

interface Flag {
  name: string;
  env: string;
  value: string;
  help: string;
  short?: string;
}

/** Every flag of `serve`, each also settable by an environment variable; the flag wins. */
export const SERVE_FLAGS: readonly Flag[] = [
  { name: "model", short: "m", env: "LLAMA_SCOPE_MODEL", value: "<path | hf:… | https://…>", help: "the GGUF model to serve (required)" },
  {
    name: "slots",
    env: "LLAMA_SCOPE_SLOTS",
    value: "<n>",
    help: "conversations generating at once; more are swapped in and out (default 4)",
  },
  { name: "port", short: "p", env: "LLAMA_SCOPE_PORT", value: "<port>", help: "port to listen on; 0 picks a free one (default 8080)" },
  { name: "host", env: "LLAMA_SCOPE_HOST", value: "<address>", help: "address to listen on (default 127.0.0.1: this machine only)" },
  {
    name: "context-size",
    env: "LLAMA_SCOPE_CONTEXT_SIZE",
    value: "<tokens>",
    help: "tokens each slot holds (default 2048, capped by the model)",
  },
  { name: "threads", env: "LLAMA_SCOPE_THREADS", value: "<n>", help: "CPU threads for decoding (default half the cores)" },
  {
    name: "isolation",
    env: "LLAMA_SCOPE_ISOLATION",
    value: "<thread|process>",
    help: "run the engine in a worker thread, or in a child process that survives native crashes (default thread)",
  },
  {
    name: "max-ram",
    env: "LLAMA_SCOPE_MAX_RAM",
    value: "<size>",
    help: "memory for swapped-out conversations before they spill to disk, e.g. 512M, 2G (default 256M)",
  },
  { name: "api-key", env: "LLAMA_SCOPE_API_KEY", value: "<key>", help: "require Authorization: Bearer <key> on /v1/ (default: no key)" },
  {
    name: "state-dir",
    env: "LLAMA_SCOPE_STATE_DIR",
    value: "<dir>",
    help: "save every session here on SIGTERM/SIGINT and revive them on the next start (created if missing; default: sessions end with the server)",
  },
  {
    name: "max-queue",
    env: "LLAMA_SCOPE_MAX_QUEUE",
    value: "<n>",
    help: "requests that may wait while every slot generates; more get 429 (default 64)",
  },
  {
    name: "max-sessions",
    env: "LLAMA_SCOPE_MAX_SESSIONS",
    value: "<n>",
    help: "sessions kept at once; past it the least recently used idle one ends, written to --state-dir if set (default 1000)",
  },
  {
    name: "max-stateless-scopes",
    env: "LLAMA_SCOPE_MAX_STATELESS_SCOPES",
    value: "<n>",
    help: "scopes kept from requests without a session id for their conversation's next request; 0 keeps none (default 64)",
  },
  {
    name: "max-session-queue",
    env: "LLAMA_SCOPE_MAX_SESSION_QUEUE",
    value: "<n>",
    help: "requests of one session that may wait while its current one runs; more get 429 (default 8)",
  },
  {
    name: "max-messages",
    env: "LLAMA_SCOPE_MAX_MESSAGES",
    value: "<n>",
    help: "messages a chat completion request may have; more get 413 (default 256)",
  },
  {
    name: "max-saved-sessions",
    env: "LLAMA_SCOPE_MAX_SAVED_SESSIONS",
    value: "<n>",
    help: "files kept in --state-dir; past it the oldest are removed (default 1000)",
  },
  {
    name: "max-state-size",
    env: "LLAMA_SCOPE_MAX_STATE_SIZE",
    value: "<size>",
    help: "bytes the files in --state-dir may take, e.g. 512M, 20G; past it the oldest are removed (default 4G)",
  },
  {
    name: "embeddings",
    env: "LLAMA_SCOPE_EMBEDDINGS",
    value: "<on|off>",
    help: "serve POST /v1/embeddings; off answers it with 501 (default on: the model's embedding context is made at the first request)",
  },
  {
    name: "embedding-model",
    env: "LLAMA_SCOPE_EMBEDDING_MODEL",
    value: "<path | hf:… | https://…>",
    help: "a second model, an embedding model, for /v1/embeddings (default: the served model)",
  },
  {
    name: "redis",
    env: "LLAMA_SCOPE_REDIS",
    value: "<redis://host:port>",
    help: "share sessions with other replicas through this Redis: any replica continues any session (needs the redis package; default: none)",
  },
  {
    name: "durability",
    env: "LLAMA_SCOPE_DURABILITY",
    value: "<turn|async>",
    help: "with --redis: write a session's turn before its response ends (turn), or just after it (async) (default turn)",
  },
];

export const SERVE_HELP = [
  "Usage: llama-scope serve --model <path | hf:… | https://…> [options]",
  "",
  "An OpenAI-compatible HTTP server (POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,",
  "GET /v1/models, GET /health, GET /metrics) and a chat page at /, on one loaded model.",
  "",
  "Options (each also read from the environment variable shown; a flag wins):",
  ...SERVE_FLAGS.map(
    ({ name, short, env, value, help }) =>
      `  ${short === undefined ? "    " : `-${short}, `}--${name} ${value}\n        ${help}\n        [${env}]`,
  ),
  "  -h, --help\n        show this help",
  "",
  "SIGTERM or SIGINT stops the server: requests in flight finish, sessions are saved to --state-dir.",
].join("\n");

/** Reads `serve`'s flags, falling back on the environment. @throws {CliUsageError} */
export function parseServeOptions(args: string[], env: NodeJS.ProcessEnv): ServeOptions & { help: boolean } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(
          SERVE_FLAGS.map(({ name, short }) => [
            name,
            short === undefined ? { type: "string" as const } : { type: "string" as const, short },
          ]),
        ),
      },
    });
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const read = (name: string): string | undefined => {
    const flag = SERVE_FLAGS.find((f) => f.name === name)!;
    const value = values[name] ?? env[flag.env];
    return typeof value === "string" && value.length > 0 ? value : undefined;
  };
  const help = values.help === true;
  const model = read("model");
  if (model === undefined && !help)
    throw new CliUsageError("--model is required: the path of a GGUF file, an hf: URI or a URL (or set LLAMA_SCOPE_MODEL).");
  const isolation = read("isolation") ?? "thread";
  if (isolation !== "thread" && isolation !== "process")
    throw new CliUsageError(`--isolation must be "thread" or "process", not "${isolation}".`);
  const embeddings = read("embeddings") ?? "on";
  if (embeddings !== "on" && embeddings !== "off") throw new CliUsageError(`--embeddings must be "on" or "off", not "${embeddings}".`);
  const embeddingModel = read("embedding-model");
  if (embeddingModel !== undefined && embeddings === "off")
    throw new CliUsageError("--embedding-model names a model for embeddings, which --embeddings off turns off: give one or the other.");
  const durability = read("durability") ?? "turn";
  if (durability !== "turn" && durability !== "async")
    throw new CliUsageError(`--durability must be "turn" or "async", not "${durability}".`);
  const redis = read("redis");
  if (redis !== undefined && !/^rediss?:\/\//.test(redis))
    throw new CliUsageError(`--redis must be a Redis URL such as redis://127.0.0.1:6379, not "${redis}".`);
  const maxRam = read("max-ram");
  const maxStateSize = read("max-state-size");
  return {
    help,
    model: model ?? "",
    slots: integer("slots", read("slots"), 1) ?? 4,
    port: integer("port", read("port"), 0, 65535) ?? 8080,
    host: read("host") ?? "127.0.0.1",
    contextSize: integer("context-size", read("context-size"), 1),
    threads: integer("threads", read("threads"), 1),
    isolation,
    maxRamBytes: maxRam === undefined ? undefined : byteSize(maxRam, "max-ram"),
    apiKey: read("api-key"),
    stateDir: read("state-dir"),
    maxQueue: integer("max-queue", read("max-queue"), 0) ?? 64,
    maxSessions: integer("max-sessions", read("max-sessions"), 1) ?? 1000,
    maxStatelessScopes: integer("max-stateless-scopes", read("max-stateless-scopes"), 0) ?? 64,
    maxSessionQueue: integer("max-session-queue", read("max-session-queue"), 0) ?? 8,
    maxMessages: integer("max-messages", read("max-messages"), 1) ?? 256,
    maxSavedSessions: integer("max-saved-sessions", read("max-saved-sessions"), 1) ?? 1000,
    maxStateBytes: maxStateSize === undefined ? 4 * 1024 ** 3 : byteSize(maxStateSize, "max-state-size", 1),
    embeddings: embeddings === "on",
    embeddingModel,
    redis,
    durability,
  };
}

function integer(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max)
    throw new CliUsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}".`);
  return value;
}

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `512M`, `2G`, `1.5GiB`, `1048576`: binary units, as `free -h` shows memory. */
export function byteSize(text: string, flag = "max-ram", min = 0): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const bytes = match === null ? NaN : Math.floor(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes < min)
    throw new CliUsageError(`--${flag} must be a size such as 512M, 2G or a number of bytes, not "${text}".`);
  return bytes;
}
