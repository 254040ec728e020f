/**
 * Values that test an f32 → f16 conversion: the cases rounding gets wrong (halfway and carry
 * cases, the largest half and just past it, zeros, subnormal halves), then infinities, NaN and a
 * value just under 2048, then random bit patterns over every f32 exponent. Shared by the Node test
 * of the portable loop (tests/unit/wire.test.ts) and the workerd test of the native path.
 */
export const F16_EDGE_CASES = [
  0,
  -0,
  65504,
  65519,
  65520,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  2 ** -14,
  2 ** -24,
  2 ** -25,
  3 * 2 ** -26,
] as const;

/** `n` f32 values: F16_EDGE_CASES, Infinity, -Infinity, NaN, 2047.9999, then random bits. */
export function f16TestValues(n = 200_000): Float32Array {
  const bits = new Uint32Array(n);
  for (let i = 0; i < bits.length; i++) bits[i] = (Math.random() * 2 ** 32) >>> 0;
  const x = new Float32Array(bits.buffer);
  x.set([...F16_EDGE_CASES, Infinity, -Infinity, Number.NaN, 2047.9999], 0);
  return x;
}
