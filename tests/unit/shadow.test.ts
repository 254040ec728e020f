/** Shadow verification's arithmetic (core/shadow.ts): guards, floors, canary verdicts, the shadow share needed. */
import { describe, expect, it } from 'vitest';
import { addScores, binLow, emptyHistogram, scoreBin, solveForwardRate } from '../../core/live-solve.js';
import { readManifest } from '../../core/node/bundle.js';
import { applyFloors, regionSettingsSchema } from '../../core/regions.js';
import {
  addShadow,
  canaryVerdict,
  emptyArm,
  exitGuard,
  guardFloor,
  neededShadowShare,
  pooledGuard,
  type ShadowCounts,
  samplesNeeded,
} from '../../core/shadow.js';
import { wilson, zFor } from '../../core/wilson.js';

const guard = { maxDisagreement: 0.02, confidence: 0.95 };

/** `n` answers at score `s` on exit `e`, `d` of them disagreeing. */
function counts(rows: [exit: number, score: number, n: number, d: number][]): ShadowCounts {
  const c: ShadowCounts = {};
  for (const [e, s, n, d] of rows) {
    addShadow(c, e, scoreBin(s), true, d);
    addShadow(c, e, scoreBin(s), false, n - d);
  }
  return c;
}

describe('exit guards', () => {
  it('are broken, ok or unproven by the Wilson interval, and count only answers at or above the threshold', () => {
    // Low scores disagree a lot, high scores rarely.
    const c = counts([
      [0, 0.6, 200, 40],
      [0, 0.99, 800, 2],
      [1, 0.9, 10, 0],
    ]);
    const all = exitGuard(c, 0, guard);
    expect(all.n).toBe(1000);
    expect(all.disagree).toBe(42);
    expect(all.status).toBe('broken');
    expect(all.interval.lo).toBeGreaterThan(0.02);
    const high = exitGuard(c, 0, guard, 0.95);
    expect(high.n).toBe(800);
    expect(high.status).toBe('ok');
    expect(high.interval.hi).toBeLessThanOrEqual(0.02);
    const few = exitGuard(c, 1, guard);
    expect(few.status).toBe('unproven');
    // 10 answers without a disagreement do not show 2 %; samplesNeeded says how many would (at rate 0).
    expect(few.samplesNeeded).toBe(samplesNeeded(0, 0.02, zFor(0.95)));
    expect(wilson(0, few.samplesNeeded!, zFor(0.95)).hi).toBeLessThanOrEqual(0.02);
    expect(wilson(0, few.samplesNeeded! - 1, zFor(0.95)).hi).toBeGreaterThan(0.02);
  });

  it('floor at the lowest bin whose answers above meet the guard, or off', () => {
    const c = counts([
      [0, 0.6, 200, 40],
      [0, 0.99, 800, 2],
    ]);
    const f = guardFloor(c, 0, guard);
    expect(f).toBeGreaterThan(0.6);
    expect(f).toBeLessThanOrEqual(0.99);
    expect(binLow(scoreBin(0.99))).toBe(f);
    // Nothing meets the guard: the exit goes off.
    expect(guardFloor(counts([[0, 0.99, 500, 50]]), 0, guard)).toBe(2);
    expect(applyFloors([0.5, 0.9], [f, 0])).toEqual([f, 0.9]);
    expect(applyFloors([0.5, 0.9], undefined)).toEqual([0.5, 0.9]);
  });

  it('need a shadow share: samples needed over the window answers per exit', () => {
    const c = counts([[0, 0.99, 50, 0]]);
    const g = exitGuard(c, 0, guard);
    expect(g.status).toBe('unproven');
    const share = neededShadowShare([g], [10_000]);
    expect(share).toBeCloseTo(g.samplesNeeded! / 10_000, 10);
    // At or above the guard's rate no share can demonstrate it.
    expect(neededShadowShare([exitGuard(counts([[0, 0.99, 50, 2]]), 0, guard)], [10_000])).toBeNull();
    expect(neededShadowShare([exitGuard(counts([[0, 0.99, 5000, 5]]), 0, guard)], [10_000])).toBe(0);
  });
});

describe('canary verdicts', () => {
  const arm = (n: number, d: number, requests = 0, forwarded = 0) => ({
    ...emptyArm(),
    counts: counts([[0, 0.9, n, d]]),
    requests,
    forwarded,
  });
  const o = { minSamples: 100 };

  it('roll back a canary that breaks the guard', () => {
    const v = canaryVerdict(arm(200, 20), arm(200, 1), guard, o);
    expect(v.decision).toBe('rollback');
    expect(v.reason).toMatch(/broke the guard: disagreement with the backbone 20\/200 = 10.00 %/);
  });

  it('roll back a canary clearly worse than stable, even within a loose guard', () => {
    const v = canaryVerdict(arm(2000, 150), arm(2000, 10), { maxDisagreement: 0.2, confidence: 0.95 }, o);
    expect(v.decision).toBe('rollback');
    expect(v.reason).toMatch(/disagrees more than the stable version/);
  });

  it('roll back a canary that forwards more than stable and the budget', () => {
    const v = canaryVerdict(arm(1000, 0, 1000, 500), arm(1000, 0, 1000, 200), guard, { ...o, maxForwardRate: 0.25 });
    expect(v.decision).toBe('rollback');
    expect(v.reason).toMatch(/forwards more than the stable version and the budget allow/);
  });

  it('promote one that demonstrates the guard on its minimum samples, wait before, give up after 4×', () => {
    expect(canaryVerdict(arm(500, 0), arm(500, 0), guard, o).decision).toBe('promote');
    expect(canaryVerdict(arm(50, 0), undefined, guard, o).decision).toBe('wait');
    // 1.5 % observed: neither broken nor demonstrated at 2 % on 400; given up at 4 × 100.
    const slow = canaryVerdict(arm(400, 6), undefined, guard, o);
    expect(slow.decision).toBe('rollback');
    expect(slow.reason).toMatch(/could not demonstrate/);
  });

  it('pool every exit', () => {
    const c = counts([
      [0, 0.9, 100, 1],
      [1, 0.9, 100, 3],
    ]);
    expect(pooledGuard(c, guard)).toMatchObject({ n: 200, disagree: 4 });
  });
});

describe('guard floors in the re-solve and in settings', () => {
  it('raise the solved thresholds and keep the forward rate within the budget', () => {
    const m = readManifest('models/fashion-resnet');
    const points = m.policies.frontier.eenet!;
    const h = emptyHistogram(2);
    for (let i = 0; i < 1000; i++) addScores(h, [(i % 100) / 100, ((i * 37) % 100) / 100]);
    const free = solveForwardRate(h, points, { split: 2, maxForwardRate: 0.5 });
    const floored = solveForwardRate(h, points, { split: 2, maxForwardRate: 0.5, thresholdFloors: [0.95, 0] });
    expect(floored.thresholds[0]).toBeGreaterThanOrEqual(0.95);
    expect(floored.forwardRate).toBeLessThanOrEqual(Math.max(0.5, free.forwardRate) + 1e-9);
  });

  it('are accepted in settings with the controller fields, and a canary share above 0.5 is refused', () => {
    const base = { policy: 'eenet', thresholds: [0.9, 0.9], split: 2, encoding: 'f16' } as const;
    expect(
      regionSettingsSchema.safeParse({
        ...base,
        shadow: 0.05,
        guard,
        canary: { thresholds: [0.8, 0.8], share: 0.1 },
        maxUsdPerMillion: 0.4,
      }).success,
    ).toBe(true);
    expect(regionSettingsSchema.safeParse({ ...base, canary: { thresholds: [0.8, 0.8], share: 0.9 } }).success).toBe(
      false,
    );
    expect(regionSettingsSchema.safeParse({ ...base, guard: { maxDisagreement: 0, confidence: 0.95 } }).success).toBe(
      false,
    );
  });
});
