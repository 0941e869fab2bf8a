/**
 * A Map kept in use order, least recently used first: {@link get} and {@link set} make an entry
 * the most recently used; {@link peek}, {@link has} and iteration leave the order as it is.
 * Nothing is dropped on its own: the owner decides when, with {@link trim} (a bound on the count)
 * or {@link oldest} (any other measure, such as bytes).
 */
export class LruMap<K, V> implements Iterable<[K, V]> {
  /** A Map iterates in insertion order; a use re-inserts its entry at the end. */
  private readonly entries = new Map<K, V>();

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value for `key`, now the most recently used; undefined (and nothing moved) if absent. */
  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key)!;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** The value for `key`, its place in the use order unchanged. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Sets `key` to `value` as the most recently used entry, whether it was there or not. */
  set(key: K, value: V): this {
    this.entries.delete(key);
    this.entries.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** The least recently used entry, or undefined when empty. */
  oldest(): [K, V] | undefined {
    for (const entry of this.entries) return entry;
    return undefined;
  }

  /** Drops least recently used entries until at most `bound` are left; returns them, oldest first. */
  trim(bound: number): [K, V][] {
    const dropped: [K, V][] = [];
    for (const entry of this.entries) {
      if (this.entries.size <= bound) break;
      this.entries.delete(entry[0]);
      dropped.push(entry);
    }
    return dropped;
  }

  /** Keys, least recently used first. */
  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  /** Values, least recently used first. */
  values(): IterableIterator<V> {
    return this.entries.values();
  }

  /** Entries, least recently used first. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries[Symbol.iterator]();
  }
}
