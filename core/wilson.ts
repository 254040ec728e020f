/**
 * Wilson score interval for a binomial proportion: the bound the controller states for a realised
 * rate (forward rate, disagreement with the backbone) measured on k of n samples. Unlike the normal
 * approximation it stays inside [0, 1] and is usable at k = 0 and small n.
 *
 * @example
 * wilson(3, 400, 1.96); // { p: 0.0075, lo: 0.0026, hi: 0.0218 }
 */

/** z for a two-sided confidence level (0.9, 0.95, 0.99; others by the inverse normal). */
export function zFor(confidence: number): number {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence ${confidence}: expected 0 < c < 1`);
  return inverseNormal(1 - (1 - confidence) / 2);
}

export interface Interval {
  /** k / n (null without samples). */
  p: number | null;
  lo: number;
  hi: number;
}

export function wilson(k: number, n: number, z = 1.96): Interval {
  if (!(n > 0)) return { p: null, lo: 0, hi: 1 };
  if (k < 0 || k > n) throw new RangeError(`k=${k} outside 0…n=${n}`);
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { p, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

/** Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9). */
function inverseNormal(q: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (q < lo) {
    const t = Math.sqrt(-2 * Math.log(q));
    return (
      (((((c[0]! * t + c[1]!) * t + c[2]!) * t + c[3]!) * t + c[4]!) * t + c[5]!) /
      ((((d[0]! * t + d[1]!) * t + d[2]!) * t + d[3]!) * t + 1)
    );
  }
  if (q > 1 - lo) return -inverseNormal(1 - q);
  const u = q - 0.5;
  const r = u * u;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * u) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}
