/** How many leading items `a` and `b` share. */
export function commonPrefix<T>(a: readonly T[], b: readonly T[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Whether `items` begins with `prefix` (equal arrays included). */
export function startsWith<T>(items: readonly T[], prefix: readonly T[]): boolean {
  return items.length >= prefix.length && commonPrefix(items, prefix) === prefix.length;
}

/**
 * The length of the longest end of `a` that `b` begins with (at most the shorter length). Linear:
 * the prefix function (Knuth–Morris–Pratt) of `b`, run over `a`.
 */
export function suffixPrefixOverlap<T>(a: readonly T[], b: readonly T[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const pattern = b.slice(0, a.length);
  const border = new Array<number>(pattern.length).fill(0);
  for (let i = 1, k = 0; i < pattern.length; i++) {
    while (k > 0 && pattern[i] !== pattern[k]) k = border[k - 1]!;
    if (pattern[i] === pattern[k]) k++;
    border[i] = k;
  }
  let matched = 0;
  for (const item of a) {
    while (matched > 0 && (matched === pattern.length || item !== pattern[matched])) matched = border[matched - 1]!;
    if (item === pattern[matched]) matched++;
  }
  return matched;
}
