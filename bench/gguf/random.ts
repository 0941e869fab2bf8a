// Seeded normal random numbers: the same seed gives the same weights on every machine and run.
// V8's Math.log and Math.sqrt are its own portable implementations, not the platform's libm.

// Module constants, not `Math.x` in the loop: see q8_0.ts.
const { log, sqrt } = Math;

/** A 32-bit seed from a base seed and a label (FNV-1a), so each tensor has a stream of its own. */
export function seedFor(seed: number, label: string): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < label.length; i++) hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Normal numbers from the sfc32 generator (fast and well tested, with 32-bit integer state that
 * JavaScript handles without bigints) by Marsaglia's polar method, which needs no sine or cosine:
 * twice as fast as Box–Muller here.
 */
export class NormalRandom {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = seed | 0;
    this.c = Math.imul(seed ^ 0x85ebca6b, 0xc2b2ae35);
    // The recommended warm-up: the first outputs of a fresh state are correlated with the seed.
    for (let i = 0; i < 15; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (((this.c << 21) | (this.c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** Fills `target` with N(0, std²) values (an even length: the polar method makes pairs). */
  fillNormal(target: Float32Array, std: number): void {
    if (target.length % 2 !== 0) throw new Error("fillNormal fills an even number of values.");
    for (let i = 0; i < target.length;) {
      const x = this.next() / 2147483648 - 1;
      const y = this.next() / 2147483648 - 1;
      const r = x * x + y * y;
      if (r >= 1 || r === 0) continue;
      const scale = std * sqrt((-2 * log(r)) / r);
      target[i++] = scale * x;
      target[i++] = scale * y;
    }
  }
}
