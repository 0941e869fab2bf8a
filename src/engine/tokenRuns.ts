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
