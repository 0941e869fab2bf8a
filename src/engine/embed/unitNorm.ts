/**
 * The vector scaled to Euclidean length 1, each value rounded to a float32: llama.cpp computes in
 * float32, and values that are float32s already cross to the parent in a `Float32Array` unchanged,
 * so the direct API and a `LlamaParent` give the same numbers. A vector of zeros (no direction to
 * keep) stays zeros.
 */
export function unitNorm(vector: ArrayLike<number>): number[] {
  let squares = 0;
  for (let i = 0; i < vector.length; i++) squares += vector[i]! * vector[i]!;
  const norm = Math.sqrt(squares);
  const scale = norm > 0 ? 1 / norm : 0;
  return Array.from(vector, (value) => Math.fround(value * scale));
}
