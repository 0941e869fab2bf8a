import { seededRandom } from "../test/support/randomText.js";

/**
 * A seeded pseudo-random generator (mulberry32): the soak's choices depend only on `--seed`, so a
 * run's operations can be replayed. Each loop, and the engine killer, get a stream of their own
 * (`derive`), so what one loop draws never depends on how the loops interleave in time.
 */
export class Random {
  private readonly source: () => number;

  constructor(seed: number) {
    this.source = seededRandom(seed);
  }

  /** A generator of its own for `label` (a loop's index, "killer"), fixed by this one's seed. */
  static derive(seed: number, label: string): Random {
    // FNV-1a over the label, mixed with the seed: distinct labels give unrelated streams.
    let hash = 0x811c9dc5 ^ (seed >>> 0);
    for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
    return new Random(hash >>> 0);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.source();
  }

  /** A whole number in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One key of `weights`, each as likely as its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let draw = this.next() * total;
    for (const [key, weight] of entries) {
      draw -= weight;
      if (draw < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }
}
