import { InvalidArgumentError } from "./errors/index.js";
import { assertKnownKeys, positiveInteger } from "./validate.js";
import type { Token } from "./Token.js";

/**
 * What a full slot does. By default the oldest part of the conversation is erased from the KV
 * cache (the tokens after it keep their cache and move down), so a conversation never hits the
 * context wall. `false` turns this off: a prompt that does not fit throws `ContextOverflowError`
 * and a reply that fills the slot ends with `finishReason: "contextFull"`.
 */
export interface ContextShiftOptions {
  /** Tokens to free at once when the slot is full. Default: a tenth of the context size. */
  size?: number;
}

/** A half-open range `[start, end)` of token indices in a slot's history. */
export interface TokenRange {
  start: number;
  end: number;
}

/**
 * Chooses the tokens a full slot erases: at least `size` of them when it can, never index 0 (the
 * start token: erasing it would make node-llama-cpp re-evaluate the whole slot).
 */
export type ContextShiftStrategy = (request: { tokens: readonly Token[]; size: number }) => TokenRange[];

/** Context shift settings of one slot (`createSlot`'s options). */
export interface SlotContextShift extends ContextShiftOptions {
  /** Which tokens to erase. Default: from the beginning, keeping the first token. */
  strategy?: ContextShiftStrategy;
  /** Called after each shift with the number of tokens it erased. */
  onShift?: (erasedTokens: number) => void;
}

/** A slot's context shift, resolved against its context size. */
export interface ResolvedContextShift {
  size: number;
  strategy: ContextShiftStrategy;
  onShift: ((erasedTokens: number) => void) | undefined;
}

/** The default strategy: erase from the beginning, keeping the start token. */
export const eraseBeginning: ContextShiftStrategy = ({ size }) => [{ start: 1, end: 1 + size }];

/**
 * Checks a `contextShift` option; `undefined` means on, with defaults. Load options cross to a
 * worker thread, so only a slot's own options may carry functions.
 */
export function checkContextShift(value: unknown, level: "load" | "slot"): SlotContextShift | false {
  if (value === undefined) return {};
  if (value === false) return false;
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new InvalidArgumentError(`contextShift must be false or an object like { size: 64 }, not ${String(value)}.`);
  // Load and scope options cross to a worker thread: functions only where a slot is created.
  assertKnownKeys(value, level === "load" ? ["size"] : ["size", "strategy", "onShift"], "contextShift option", "contextShift options");
  const { size, strategy, onShift } = value as SlotContextShift;
  positiveInteger("contextShift.size", size);
  if (strategy !== undefined && typeof strategy !== "function")
    throw new InvalidArgumentError("contextShift.strategy must be a function that returns the token ranges to erase.");
  if (onShift !== undefined && typeof onShift !== "function") throw new InvalidArgumentError("contextShift.onShift must be a function.");
  // A load's or scope's is copied to a worker: a plain object, whatever object it came in.
  if (level === "load") return size === undefined ? {} : { size };
  return value;
}

/** Fills in the defaults of a slot's context shift for a context of `contextSize` tokens. */
export function resolveContextShift(options: SlotContextShift | false, contextSize: number): ResolvedContextShift | false {
  if (options === false) return false;
  return {
    size: Math.min(options.size ?? Math.max(1, Math.round(contextSize / 10)), contextSize - 2),
    strategy: options.strategy ?? eraseBeginning,
    onShift: options.onShift,
  };
}

/**
 * The strategy's ranges made safe to erase from a history of `length` tokens: inside `[1, length)`,
 * sorted and merged. Empty when the strategy found nothing it may erase.
 */
export function rangesToErase(ranges: readonly TokenRange[], length: number): TokenRange[] {
  const clamped = (Array.isArray(ranges) ? (ranges as readonly TokenRange[]) : [])
    .filter((r) => Number.isInteger(r?.start) && Number.isInteger(r?.end))
    .map((r) => ({ start: Math.max(1, r.start), end: Math.min(length, r.end) }))
    .filter((r) => r.start < r.end)
    .sort((a, b) => a.start - b.start);
  const merged: TokenRange[] = [];
  for (const range of clamped) {
    const last = merged.at(-1);
    if (last !== undefined && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** How many tokens the ranges cover. */
export function rangeLength(ranges: readonly TokenRange[]): number {
  return ranges.reduce((sum, r) => sum + (r.end - r.start), 0);
}
