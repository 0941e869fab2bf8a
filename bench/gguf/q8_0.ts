// Q8_0 quantization as ggml's reference quantizer (quantize_row_q8_0_ref) does it, so our files
// hold what llama.cpp's own tools would write for the same float weights.
import { Q8_0_BLOCK, Q8_0_BLOCK_BYTES } from "./format.js";

// Module constants, not `Math.x` in the loops: in a vm context (Jest's test environment) every
// global lookup goes through the context's interceptor, which made quantizing 30 times slower.
const { abs, fround, max: maximum, round } = Math;
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** IEEE half-precision bits of `value`, rounded to nearest even (Node 20 has no Math.f16round). */
export function f16Bits(value: number): number {
  f32[0] = value;
  const bits = f32Bits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  // A normal half keeps the top 10 mantissa bits; a subnormal one shifts the implicit 1 in too.
  const normal = halfExponent > 0;
  const shift = normal ? 13 : 14 - halfExponent;
  if (shift > 24) return sign; // under half the smallest subnormal: rounds to zero
  const significand = normal ? mantissa : mantissa | 0x800000;
  const kept = normal ? (halfExponent << 10) | (mantissa >>> 13) : significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  // A carry out of the mantissa lands in the exponent, which is what rounding up there means.
  return sign | (kept + (rest > halfway || (rest === halfway && (kept & 1) === 1) ? 1 : 0));
}

/**
 * Quantizes `values` (a whole number of 32-value blocks) into `out`: per block an f16 scale
 * d = max|x| / 127 and 32 int8s round(x / d). Arithmetic is rounded to float32 at each step, and
 * rounding is half away from zero, as in C's roundf.
 */
export function quantizeQ8_0(values: Float32Array, out: Uint8Array, outOffset = 0): void {
  if (values.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 takes whole blocks of ${Q8_0_BLOCK} values, not ${values.length}.`);
  for (let block = 0, o = outOffset; block < values.length; block += Q8_0_BLOCK, o += Q8_0_BLOCK_BYTES) {
    let max = 0;
    for (let i = block; i < block + Q8_0_BLOCK; i++) max = maximum(max, abs(values[i]!));
    const d = fround(max / 127);
    const inverse = d === 0 ? 0 : fround(1 / d);
    const scale = f16Bits(d);
    out[o] = scale & 0xff;
    out[o + 1] = scale >>> 8;
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const x = fround(values[block + i]! * inverse);
      out[o + 2 + i] = (x < 0 ? -round(-x) : round(x)) & 0xff;
    }
  }
}
