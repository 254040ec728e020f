/**
 * The accuracy-drop bound (training/calibrate/bound.ts): the exact binomial tail, McNemar's
 * conditional p-value of "drop ≥ ε", and fixed-sequence testing over operating points.
 */
import { describe, expect, it } from 'vitest';
import { binomialCdf, dropPValue, fixedSequence } from '../../training/calibrate/bound.js';

/** C(n, k) exactly (BigInt), then as a double. */
function choose(n: number, k: number): number {
  let r = 1n;
  for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
  return Number(r);
}

/** P(Binomial(n, p) ≤ k) by the definition. */
function bruteCdf(k: number, n: number, p: number): number {
  let s = 0;
  for (let i = 0; i <= Math.min(k, n); i++) s += choose(n, i) * p ** i * (1 - p) ** (n - i);
  return s;
}

describe('binomialCdf', () => {
  it('matches hand-computed small cases', () => {
    expect(binomialCdf(0, 3, 0.5)).toBeCloseTo(0.125, 12);
    expect(binomialCdf(1, 3, 0.5)).toBeCloseTo(0.5, 12);
    expect(binomialCdf(2, 3, 0.5)).toBeCloseTo(0.875, 12);
    // 0.75⁴ + 4 · 0.25 · 0.75³
    expect(binomialCdf(1, 4, 0.25)).toBeCloseTo(0.31640625 + 0.421875, 12);
    // (1 − p)ⁿ
    expect(binomialCdf(0, 10, 0.1)).toBeCloseTo(0.9 ** 10, 12);
    expect(binomialCdf(0, 1, 0.3)).toBeCloseTo(0.7, 12);
  });

  it('edges: k < 0, k ≥ n, p = 0, p = 1', () => {
    expect(binomialCdf(-1, 5, 0.5)).toBe(0);
    expect(binomialCdf(5, 5, 0.5)).toBe(1);
    expect(binomialCdf(7, 5, 0.5)).toBe(1);
    expect(binomialCdf(0, 5, 0)).toBe(1);
    expect(binomialCdf(4, 5, 1)).toBe(0);
    expect(binomialCdf(0, 0, 0.5)).toBe(1);
  });

  it('equals the brute-force sum for every k, n ≤ 30 and several p', () => {
    let worst = 0;
    for (const p of [0.01, 0.1, 0.3, 0.5, 0.55, 0.7, 0.93, 0.999]) {
      for (let n = 1; n <= 30; n++) {
        for (let k = 0; k <= n; k++) {
          const got = binomialCdf(k, n, p),
            want = bruteCdf(k, n, p);
          worst = Math.max(worst, Math.abs(got - want));
          expect(got).toBeGreaterThanOrEqual(0);
          expect(got).toBeLessThanOrEqual(1);
        }
      }
    }
    expect(worst).toBeLessThan(1e-10);
  });

  it('is nondecreasing in k and nonincreasing in p', () => {
    const n = 200;
    let last = -1;
    for (let k = 0; k <= n; k++) {
      const v = binomialCdf(k, n, 0.37);
      expect(v).toBeGreaterThanOrEqual(last - 1e-15);
      last = v;
    }
    last = 2;
    for (let p = 0.05; p < 1; p += 0.05) {
      const v = binomialCdf(80, n, p);
      expect(v).toBeLessThanOrEqual(last + 1e-15);
      last = v;
    }
  });
});

describe('dropPValue', () => {
  it('no discordant images: the drop is exactly 0, p = 0', () => {
    expect(dropPValue({ n10: 0, n01: 0, total: 5000 }, 0.005)).toBe(0);
    expect(dropPValue({ n10: 0, n01: 0, total: 10 }, 0)).toBe(0);
  });

  it('fewer discordant images than εN: the drop cannot reach ε, p = 0', () => {
    // Even if all 20 went against the cascade, the drop would be 20/5000 = 0.4 pp < 0.5 pp.
    expect(dropPValue({ n10: 20, n01: 0, total: 5000 }, 0.005)).toBe(0);
  });

  it('is the binomial tail P(Bin(m, π₀) ≤ n10), π₀ = (1 + εN/m)/2', () => {
    const d = { n10: 40, n01: 20, total: 5000 },
      eps = 0.005;
    const m = 60,
      pi0 = (1 + (eps * 5000) / m) / 2;
    expect(dropPValue(d, eps)).toBeCloseTo(bruteCdf(40, m, pi0), 10);
  });

  it('an observed drop far above ε gives p ≈ 1', () => {
    // Observed drop (60 − 20)/1000 = 4 pp, tested against 0.5 pp.
    expect(dropPValue({ n10: 60, n01: 20, total: 1000 }, 0.005)).toBeGreaterThan(0.999);
    expect(dropPValue({ n10: 100, n01: 0, total: 1000 }, 0.01)).toBeGreaterThan(0.999);
  });

  it('many more n01 than n10 (the cascade beats the backbone) gives p ≈ 0', () => {
    expect(dropPValue({ n10: 5, n01: 60, total: 5000 }, 0.005)).toBeLessThan(1e-10);
    expect(dropPValue({ n10: 10, n01: 40, total: 5000 }, 0)).toBeLessThan(1e-4);
  });

  it('is nondecreasing in n10 and nonincreasing in ε', () => {
    let last = -1;
    for (let n10 = 0; n10 <= 120; n10++) {
      const p = dropPValue({ n10, n01: 20, total: 2000 }, 0.01);
      expect(p).toBeGreaterThanOrEqual(last - 1e-12);
      last = p;
    }
    expect(last).toBeGreaterThan(0.99);
    last = 2;
    for (let eps = 0; eps <= 0.03; eps += 0.001) {
      const p = dropPValue({ n10: 40, n01: 20, total: 2000 }, eps);
      expect(p).toBeLessThanOrEqual(last + 1e-12);
      last = p;
    }
    expect(last).toBeLessThan(1e-15);
    // ε = m/N: only "every disagreement against the cascade" reaches ε; with n01 > 0 that was not observed.
    expect(dropPValue({ n10: 40, n01: 20, total: 2000 }, 60 / 2000)).toBe(0);
    expect(dropPValue({ n10: 60, n01: 0, total: 2000 }, 60 / 2000)).toBe(1);
  });
});

describe('fixedSequence', () => {
  const pts = [
    { name: 'c', accuracy: 0.9, cost: 0.3, p: 0.001 },
    { name: 'a', accuracy: 0.95, cost: 0.9, p: 0.01 },
    { name: 'b2', accuracy: 0.93, cost: 0.5, p: 0.02 },
    { name: 'b1', accuracy: 0.93, cost: 0.6, p: 0.03 },
    { name: 'd', accuracy: 0.85, cost: 0.1, p: 0.0 },
  ];

  it('tests from the most accurate down (ties: dearest first) and certifies while p ≤ δ', () => {
    const seen: string[] = [];
    const ok = fixedSequence(
      pts,
      (q) => {
        seen.push(q.name);
        return q.p;
      },
      0.05,
    );
    expect(seen).toEqual(['a', 'b1', 'b2', 'c', 'd']);
    expect(ok.map((i) => pts[i]!.name)).toEqual(['a', 'b1', 'b2', 'c', 'd']);
  });

  it('stops at the first failure: a later passing point is not certified (nor tested)', () => {
    const seen: string[] = [];
    const ok = fixedSequence(
      pts,
      (q) => {
        seen.push(q.name);
        return q.p;
      },
      0.025,
    );
    // a (0.01) passes, b1 (0.03) fails; b2, c and d would pass on their own but are never reached.
    expect(seen).toEqual(['a', 'b1']);
    expect(ok).toEqual([1]);
  });

  it('p exactly δ passes; a failing first point certifies nothing', () => {
    expect(fixedSequence(pts, (q) => q.p, 0.01)).toEqual([1]);
    expect(fixedSequence(pts, (q) => (q.name === 'a' ? 0.5 : 0), 0.05)).toEqual([]);
    expect(fixedSequence([], () => 0, 0.05)).toEqual([]);
  });

  it('works with dropPValue on real discordance counts', () => {
    const frontier = [
      { accuracy: 0.92, cost: 1.0, d: { n10: 0, n01: 0, total: 5000 } },
      { accuracy: 0.918, cost: 0.7, d: { n10: 30, n01: 20, total: 5000 } },
      { accuracy: 0.9, cost: 0.4, d: { n10: 120, n01: 20, total: 5000 } },
      { accuracy: 0.91, cost: 0.5, d: { n10: 60, n01: 10, total: 5000 } },
    ];
    const ok = fixedSequence(frontier, (q) => dropPValue(q.d, 0.005), 0.05);
    expect(ok).toEqual([0, 1]);
  });
});
