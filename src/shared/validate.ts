import { InvalidArgumentError } from "./errors/index.js";

/** Checks an optional whole-number option that must be at least 1. */
export function positiveInteger(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError(`${name} must be a whole number of at least 1, not ${String(value)}.`);
  return value;
}

/** Nothing is dropped silently: a misspelt option would otherwise just not apply. */
export function assertKnownKeys(value: object, known: readonly string[], what: string, owner: string): void {
  const symbol = Object.getOwnPropertySymbols(value)[0];
  if (symbol !== undefined) throw new InvalidArgumentError(`${owner} take names as keys, not ${String(symbol)}. Remove it.`);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const guess = closestName(key, known);
    throw new InvalidArgumentError(
      `Unknown ${what} "${key}"${guess === undefined ? "." : `: did you mean "${guess}"?`} ${owner} are ${known.join(", ")}.`,
    );
  }
}

/** A known name one or two edits away (or differing in case only), for "did you mean". */
function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** `value` when it is a boolean or undefined; otherwise an InvalidArgumentError naming `name`. */
export function optionalBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean")
    throw new InvalidArgumentError(`${name} must be true or false, not ${String(value)}.`);
  return value;
}
