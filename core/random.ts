/**
 * mulberry32: a tiny deterministic PRNG (32-bit state), so a seed reproduces initial weights in
 * training and every generated case in the fuzz suite. Pure code: Node, workerd and browsers.
 *
 * @example
 * const rand = mulberry32(42); rand(); // 0 ≤ x < 1, the same sequence for the same seed
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
