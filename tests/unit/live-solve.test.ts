/** The controller's arithmetic (core/live-solve.ts, core/wilson.ts) on synthetic score vectors and the shipped frontier. */
import { describe, expect, it } from 'vitest';
import {
  addScores,
  binLow,
  certifiedFloor,
  emptyHistogram,
  forwardedCount,
  mergeHistogram,
  NotEnoughSamples,
  pathThresholds,
  SCORE_BINS,
  scoreBin,
  solveForwardRate,
} from '../../core/live-solve.js';
import { readManifest } from '../../core/node/bundle.js';
import { mulberry32 } from '../../core/random.js';
import { wilson, zFor } from '../../core/wilson.js';

const m = readManifest('models/fashion-resnet');
const points = m.policies.frontier.eenet!;

describe('score bins', () => {
  it('are monotone, cover [0, 1], put NaN in -1, and a bin passes t only when its low edge is ≥ t', () => {
    expect(scoreBin(Number.NaN)).toBe(-1);
    expect(scoreBin(0)).toBe(0);
    expect(scoreBin(1)).toBe(SCORE_BINS - 1);
    let last = -1;
    for (let s = 0; s <= 1; s += 0.001) {
      const b = scoreBin(s);
      expect(b).toBeGreaterThanOrEqual(last);
      expect(binLow(b)).toBeLessThanOrEqual(s + 1e-12);
      last = b;
    }
    // Finest near 1, where thresholds are: the bin holding 0.97 is under 0.002 wide.
    const b = scoreBin(0.97);
    expect(binLow(b + 1) - binLow(b)).toBeLessThan(0.002);
  });
});

describe('forward rate on a joint histogram', () => {
  it('counts an input as forwarded when no exit before the split passes; off exits never pass', () => {
    const h = emptyHistogram(2);
    addScores(h, [0.99, 0.1]); // exit 0 answers at t0 ≤ 0.98
    addScores(h, [0.2, 0.95]); // exit 1 answers at t1 ≤ 0.94
    addScores(h, [0.2, 0.3]); // neither
    addScores(h, [Number.NaN, 0.99]); // exit 0 off
    expect(forwardedCount(h, [0.9, 0.9], 2)).toBe(1);
    expect(forwardedCount(h, [0.9, 0.9], 1)).toBe(3);
    expect(forwardedCount(h, [2, 0.9], 2)).toBe(2);
    expect(forwardedCount(h, [0.999, 0.999], 2)).toBe(4);
    const g = emptyHistogram(2);
    mergeHistogram(g, h);
    mergeHistogram(g, h);
    expect(g.total).toBe(8);
    expect(forwardedCount(g, [0.9, 0.9], 2)).toBe(2);
  });
});

describe('re-solve to a forward-rate budget', () => {
  // Synthetic traffic: exit scores correlated through a per-input difficulty; "hard" shifts it.
  const traffic = (n: number, hard: number, seed: number) => {
    const r = mulberry32(seed);
    const h = emptyHistogram(2);
    for (let i = 0; i < n; i++) {
      const d = r() * (1 + hard);
      const s0 = 1 / (1 + Math.exp(6 * d - 4 + r()));
      const s1 = 1 / (1 + Math.exp(5 * d - 4 + r()));
      addScores(h, [s0, s1]);
    }
    return h;
  };

  it('meets the budget on the traffic it solved on, and on fresh traffic of the same kind within 2 points', () => {
    for (const [hard, budget] of [
      [0, 0.2],
      [0.5, 0.2],
      [0.5, 0.35],
    ] as const) {
      const solve = traffic(4000, hard, 1);
      const s = solveForwardRate(solve, points, { split: 2, maxForwardRate: budget });
      expect(s.met).toBe(true);
      expect(s.forwardRate).toBeLessThanOrEqual(budget);
      expect(s.interval.lo).toBeLessThanOrEqual(s.forwardRate);
      expect(s.interval.hi).toBeGreaterThanOrEqual(s.forwardRate);
      const fresh = traffic(4000, hard, 2);
      const realised = forwardedCount(fresh, s.thresholds, 2) / fresh.total;
      expect(Math.abs(realised - budget), `hard=${hard} budget=${budget}: ${realised}`).toBeLessThanOrEqual(0.02);
    }
  });

  it('picks the most accurate side: a larger budget never gets a less accurate point', () => {
    const h = traffic(3000, 1, 3);
    const a = solveForwardRate(h, points, { split: 2, maxForwardRate: 0.15 });
    const b = solveForwardRate(h, points, { split: 2, maxForwardRate: 0.4 });
    expect(b.lambda).toBeGreaterThanOrEqual(a.lambda);
    expect(b.expectedAccuracy).toBeGreaterThanOrEqual(a.expectedAccuracy);
  });

  it('stops at the guard and says the budget is not met', () => {
    const h = traffic(3000, 3, 4);
    const floor = certifiedFloor(points);
    expect(points[floor]!.certified).toBe(true);
    const s = solveForwardRate(h, points, { split: 2, maxForwardRate: 0.01, floor });
    expect(s.met).toBe(false);
    expect(s.lambda).toBeGreaterThanOrEqual(floor);
    expect(s.forwardRate).toBeGreaterThan(0.01);
  });

  it('refuses to solve on too few samples, and interpolates thresholds between points', () => {
    expect(() => solveForwardRate(traffic(50, 0, 5), points, { split: 2, maxForwardRate: 0.2 })).toThrow(
      NotEnoughSamples,
    );
    const mid = pathThresholds(points, 0.5);
    mid.forEach((t, k) => {
      expect(t).toBeCloseTo((points[0]!.thresholds[k]! + points[1]!.thresholds[k]!) / 2, 12);
    });
    expect(pathThresholds(points, points.length + 3)).toEqual(points.at(-1)!.thresholds);
  });
});

describe('Wilson interval', () => {
  it('matches known values and behaves at the edges', () => {
    const w = wilson(3, 400);
    expect(w.p).toBe(0.0075);
    expect(w.lo).toBeCloseTo(0.00256, 4);
    expect(w.hi).toBeCloseTo(0.02183, 4);
    expect(wilson(0, 100).lo).toBe(0);
    expect(wilson(0, 100).hi).toBeCloseTo(0.037, 3);
    expect(wilson(0, 0)).toEqual({ p: null, lo: 0, hi: 1 });
    expect(zFor(0.95)).toBeCloseTo(1.959964, 5);
    expect(zFor(0.99)).toBeCloseTo(2.575829, 5);
  });
});
