/**
 * How an operating point's accuracy drop is bounded before it is offered (the default and every
 * frontier point): an exact binomial test on validation, run in fixed sequence (Learn then Test).
 *
 * Per validation image, the cascade and the backbone are each right or wrong; only the images where
 * exactly one of them is right move the difference. With n₁₀ images the backbone gets right and the
 * cascade wrong, n₀₁ the reverse and m = n₁₀ + n₀₁, the drop is (n₁₀ − n₀₁)/N = (2π − 1)·m/N with
 * π = n₁₀/m. Conditional on m (McNemar's exact test), n₁₀ ~ Binomial(m, π), and "drop ≥ ε" is
 * π ≥ π₀ = (1 + εN/m)/2. The point is certified when P(Binomial(m, π₀) ≤ n₁₀) ≤ δ. Points are tested
 * from the most accurate down (the order fixed before testing) and testing stops at the first that
 * fails, so every certified point holds at level δ together (fixed-sequence testing controls the
 * family-wise error without a multiplicity correction).
 *
 * Fidelity (agreement with the backbone's own answer) is reported beside accuracy: production can
 * measure it without labels.
 *
 * @example
 * dropPValue({ n10: 40, n01: 20, total: 5000 }, 0.005); // small ⇒ the drop is below 0.5 pp
 */

/** log Γ by Lanczos (g = 7, 9 terms): enough for binomial tails. */
function logGamma(z: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let x = c[0]!;
  for (let i = 1; i < 9; i++) x += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** P(Binomial(n, p) ≤ k), summed exactly in log space. */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const lc = logGamma(n + 1);
  let s = 0;
  for (let i = 0; i <= k; i++)
    s += Math.exp(lc - logGamma(i + 1) - logGamma(n - i + 1) + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return Math.min(1, s);
}

export interface Discordance {
  /** Backbone right, cascade wrong. */
  n10: number;
  /** Backbone wrong, cascade right. */
  n01: number;
  total: number;
}

/** p-value of H₀: "accuracy drop ≥ ε" (small = the drop is below ε with confidence 1 − p). */
export function dropPValue(d: Discordance, epsilon: number): number {
  const m = d.n10 + d.n01;
  if (m === 0) return 0; // identical correctness on every image: the drop is exactly 0
  const pi0 = (1 + (epsilon * d.total) / m) / 2;
  if (pi0 > 1) return 0; // even if every disagreement went against the cascade, the drop would be < ε
  return binomialCdf(d.n10, m, pi0);
}

/**
 * Indexes of `points` certified by fixed-sequence testing, tested from the most accurate point down
 * (ties by cost, dearest first); stops at the first that fails.
 */
export function fixedSequence<T extends { accuracy: number; cost: number }>(
  points: T[],
  pValue: (p: T) => number,
  delta: number,
): number[] {
  const order = points
    .map((_, i) => i)
    .sort((a, b) => points[b]!.accuracy - points[a]!.accuracy || points[b]!.cost - points[a]!.cost);
  const ok: number[] = [];
  for (const i of order) {
    if (pValue(points[i]!) > delta) break;
    ok.push(i);
  }
  return ok;
}
