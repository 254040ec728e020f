/**
 * The benchmarks' statistics, one definition: a percentile as the sorted sample at ⌊p/100 · n⌋
 * (no interpolation; p50 of an even count is the upper middle), and a figure's spread over repeats
 * as median, min and max. Empty input gives NaN, which the reports print as '—'.
 *
 * @example
 * percentile([5, 1, 3], 50); // 3
 * spread([2.1, 1.9, 2.4]);   // { median: 2.1, min: 1.9, max: 2.4 }
 */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median and range of one figure's repeats. */
export function spread(xs: readonly number[]): Spread {
  return xs.length
    ? { median: percentile(xs, 50), min: Math.min(...xs), max: Math.max(...xs) }
    : { median: Number.NaN, min: Number.NaN, max: Number.NaN };
}
