import type { ChatHistoryItem } from "../shared/ChatHistoryItem.js";
import type { WireFunctionOptions } from "./functions.js";
import type {
  ContextShiftOptions,
  EmbeddingInfo,
  GenerationResult,
  GenerateOptions,
  LlamaLoadOptions,
  StateIdentity,
  StateLimits,
  TokenLogprob,
} from "../engine/index.js";

/** How a scope turns a prompt into slot history. */
export type ScopeMode = "chat" | "completion";

/** `LlamaLoad`'s `prefixCache`, checked and with its defaults: off, or its budget and shortest prefix. */
export type PrefixCachePolicy = false | { maxBytes: number; minTokens: number };

/** How the worker evaluates chat scopes' shared prefixes, and whether it stores them. */
export interface SharedPrefixPolicy {
  /** Shared prefixes at least this long are evaluated in calls of their own, with the cache on or off. */
  minTokens: number;
  /** Bytes of stored prefixes; 0: the cache is off (nothing is stored, loaded or counted). */
  maxBytes: number;
}

/** Load options as they cross to the worker: the engine's (all plain data) and the shared prefixes'. */
export type WireLoadOptions = LlamaLoadOptions & { prefixCache?: SharedPrefixPolicy };

/** What `LlamaParent.stats()` reports of the prefix cache (see docs/scopes.md). */
export interface PrefixCacheStats {
  /** First prompts of chat scopes that found their whole shared prefix in the cache and loaded it. */
  hits: number;
  /**
   * Of the hits (and of the misses that found a shorter piece), the prefixes copied inside
   * llama.cpp from a resident scope that holds them, instead of loaded from a stored state.
   */
  copies: number;
  /** First prompts whose shared prefix was not (all) in the cache: it was evaluated, then stored. */
  misses: number;
  /** States dropped, least recently used first, to stay within `maxBytes`. */
  evictions: number;
  /** Bytes of the states held now. */
  bytes: number;
  /** States held now. */
  entries: number;
}

/** Generate options as they cross to the worker: an AbortSignal cannot, so it becomes `stopRequest`. */
export type WireGenerateOptions = Omit<GenerateOptions, "signal">;

/** What the worker reports once the model is loaded. */
export interface ModelReady {
  modelName: string;
  /** The model file loaded, as an absolute path (for a URI: its download in the cache directory). */
  modelPath: string;
  slots: number;
  contextSize: number;
  threads: number;
  /**
   * The longest prompt text (JS string length) a slot can ever take (`Llama.maxPromptLength`):
   * the parent refuses longer prompts with `ContextOverflowError` before sending them.
   */
  maxPromptLength: number;
  /** What saved states of this model record; the parent checks states against it before sending them. */
  stateIdentity: StateIdentity;
  /** What else a state must satisfy here (slot size, vocabulary, KV layout), checked likewise. */
  stateLimits: StateLimits;
  /** Milliseconds the worker spent loading the model and allocating the slots. */
  loadMs: number;
  /** `Llama.lockstepMinBatch`: from how many generating slots one batch pays; absent without lock-step. */
  lockstepMinBatch?: number;
  /** Where `embed`'s vectors come from (`Llama.embeddingInfo`); absent with `embeddings: false`. */
  embeddings?: EmbeddingInfo;
}

/** How the worker runs one scope; sent once, when the scope is created. */
export interface ScopeConfig {
  mode: ScopeMode;
  /** The scope's own context shift; absent: the load option's. */
  contextShift?: ContextShiftOptions | false;
  /** A chat scope's history to start from (a system item first, if any); not evaluated until its first prompt. */
  chatHistory?: ChatHistoryItem[];
  /** false: the prefix cache stores no entry for the history before the first turn (only the system prompt's). */
  cacheHistory?: false;
}

export interface PromptRequest {
  scopeId: string;
  /** Unique per parent; names the request in `pull` and `stopRequest`. */
  requestId: number;
  text: string;
  options: WireGenerateOptions;
  /** A chat prompt's function options, checked; absent when it gives none. */
  functions?: WireFunctionOptions;
  /** When true the reply is also kept for `pull` as it is decoded. */
  stream: boolean;
  /** When true the result carries the scope's history, so the parent can rebuild it after a crash. */
  trackHistory: boolean;
  /**
   * A prompt in two calls (`generateChoices`): "prefill" appends the text (a chat scope's turn)
   * and evaluates it without replying, its last token waiting; "reply" replies to what waits,
   * with no text of its own (in the scope or in forks of it). Absent: both at once.
   */
  phase?: "prefill" | "reply";
}

export interface PromptResult extends GenerationResult {
  /** True when this prompt gave the scope its slot. */
  slotCreated: boolean;
  /** Tokens each context shift during this prompt erased, in order. */
  shifts: number[];
  /** With `trackHistory`: every token the slot holds now (about 4 bytes a token)... */
  history?: number[];
  /** ...and a chat scope's history items. */
  chatHistory?: ChatHistoryItem[];
  /**
   * With the prefix cache on: `hits`, `misses` and `evictions` since the previous report (of any
   * scope: a prompt that failed reports nothing, the next one carries its counts), `bytes` and
   * `entries` as they are now.
   */
  prefixCache?: PrefixCacheStats;
}

/** What `forkScope` reports when the parent tracks histories: the fork's, as for a prompt. */
export interface ForkResult {
  history?: number[];
  chatHistory?: ChatHistoryItem[];
}

/** Text decoded since the previous pull; `done` once the reply is over and nothing is left. */
export interface StreamBatch {
  text: string;
  done: boolean;
  /** With the `logprobs` option: the entries of the tokens this batch's text completed. */
  logprobs?: TokenLogprob[];
}

/**
 * What the worker saves in a scope's state `meta`: a chat scope's turns, so the conversation
 * continues in chat mode, with its template history, wherever the state is revived.
 */
export type ScopeStateMeta = {
  chatTurns?: ChatHistoryItem[];
};

/** An `embed` call as it crosses to the worker: its texts checked, its signal become `stopRequest(requestId)`. */
export interface EmbedRequest {
  /** Unique per parent, shared with prompts' ids: names the call in `stopRequest`. */
  requestId: number;
  texts: string[];
}

/**
 * `embed`'s vectors as they cross back: one `Float32Array` of `tokenCounts.length × dimensions`
 * numbers, transferred rather than copied (its values are float32s already, see `unitNorm`).
 */
export interface EmbedReply {
  packed: Float32Array;
  dimensions: number;
  tokenCounts: number[];
}
