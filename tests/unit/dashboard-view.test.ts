/**
 * The dashboard's pure parts (workers/edge/dashboard/src/view.ts and format.ts): which rows the
 * regions table has and which frontier point each follows (or the live re-solve between points), each
 * region's budget, measured forward rate and re-solve, the exit distribution with zeros, and how
 * figures are written. The page itself is tested in Chromium (tests/e2e/dashboard.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { frontierView, resolvedSettings } from '../../core/operating-points.js';
import type { Solved } from '../../core/regions.js';
import type { Metrics, RegionView, Totals } from '../../workers/edge/dashboard/src/api.js';
import { bytes, count, exitLabel, ms, pct, share, timeLabel, usd } from '../../workers/edge/dashboard/src/format.js';
import {
  budgetOf,
  budgetText,
  defaultPoint,
  exitDistribution,
  forwardRateOf,
  pointsOn,
  pointText,
  rate,
  regionRows,
  settingsText,
  solvedText,
} from '../../workers/edge/dashboard/src/view.js';

const m = readManifest('models/fashion-resnet');
const f = frontierView(m);

const totals = (requests: number, exits: Record<string, number>): Totals =>
  ({ requests, edge: 0, forwarded: 0, degraded: 0, errors: 0, edgeRate: null, exits }) as unknown as Totals;
const metrics = (byRegion: Record<string, Totals>): Metrics => ({ byRegion }) as unknown as Metrics;
const entry = (key: string, settings: RegionView['settings'], version = 1): RegionView => ({
  key,
  settings,
  version,
  updatedAt: '2026-12-03T08:00:00.000Z',
  resolved: resolvedSettings(settings, m),
});

describe('dashboard view', () => {
  it('one row per key with an entry or traffic; keys without an entry follow the bundle default', () => {
    const budget = entry('colo:LHR', { policy: 'eenet', budget: 0.1, split: 2, encoding: 'f16' }, 3);
    const rows = regionRows(metrics({ default: totals(5, {}), 'colo:LHR': totals(7, {}) }), [budget], f);
    expect(rows.map((r) => r.key)).toEqual(['colo:LHR', 'default']);
    const [lhr, dflt] = rows;
    expect(lhr!.entry?.version).toBe(3);
    expect(lhr!.pointFrom).toBe('budget');
    expect(lhr!.point!.cost).toBeLessThanOrEqual(0.1);
    expect(lhr!.traffic!.requests).toBe(7);
    expect(dflt!.entry).toBeNull();
    expect(dflt!.pointFrom).toBe('bundle default');
    expect(dflt!.point).toEqual(defaultPoint(f));
    expect(dflt!.point!.default).toBe(true);
    // An entry without traffic is a row too, with no traffic; the filter keeps one key.
    const idle = entry('country:GB', {
      policy: 'confidence',
      thresholds: m.exits.map(() => 2),
      split: 2,
      encoding: 'f32',
    });
    expect(regionRows(metrics({}), [idle], f).map((r) => [r.key, r.traffic])).toEqual([['country:GB', null]]);
    expect(regionRows(metrics({ default: totals(5, {}) }), [budget, idle], f, 'country:GB').map((r) => r.key)).toEqual([
      'country:GB',
    ]);
  });

  it('thresholds on no frontier point are shown as such, and only points on a policy are marked on it', () => {
    const off = entry('colo:OFF', {
      policy: 'confidence',
      thresholds: m.exits.map(() => 0.123456),
      split: 2,
      encoding: 'f32',
    });
    const budget = entry('colo:LHR', { policy: 'eenet', budget: 0.3, split: 2, encoding: 'f16' });
    const rows = regionRows(metrics({}), [off, budget], f);
    expect(rows.find((r) => r.key === 'colo:OFF')).toMatchObject({ point: null, pointFrom: 'none' });
    expect(pointsOn(rows, 'eenet').map((r) => r.key)).toEqual(['colo:LHR']);
    expect(pointsOn(rows, 'confidence')).toEqual([]);
  });

  it('a forward-rate budget: the validation point until solved, then the live re-solve with its figures', () => {
    const points = f.policies[f.defaultPolicy]!;
    const solved: Solved = {
      // Halfway between two calibrated points: matches none of them.
      thresholds: points[1]!.thresholds.map((t, i) => (Math.min(t, 1) + Math.min(points[2]!.thresholds[i]!, 1)) / 2),
      at: '2026-12-03T09:00:00.000Z',
      samples: 1234,
      forwardRate: 0.2483,
      interval: { lo: 0.2246, hi: 0.2738 },
      met: false,
      lambda: 1.5,
      expectedAccuracy: 0.9012,
      expectedCost: 0.2934,
    };
    const policy = f.defaultPolicy as RegionView['settings']['policy'];
    const fresh = entry('colo:FWD', { policy, maxForwardRate: 0.25, split: 2, encoding: 'f16' });
    const live = entry('colo:LIV', { policy, maxForwardRate: 0.25, solved, split: 2, encoding: 'f16' }, 2);
    const rows = regionRows(metrics({}), [fresh, live], f);
    const [fwd, liv] = rows;
    expect(fwd).toMatchObject({ pointFrom: 'forwardRate' });
    expect(fwd!.expected).toEqual({
      accuracy: fwd!.point!.accuracy,
      cost: fwd!.point!.cost,
      edgeShare: fwd!.point!.edgeShare,
    });
    expect(pointText(fwd!)).toBe(`${policy} #${fwd!.point!.index} (forwardRate)`);
    expect(liv).toMatchObject({ point: null, pointFrom: 'live' });
    expect(liv!.expected!.accuracy).toBe(0.9012);
    expect(liv!.expected!.cost).toBe(0.2934);
    expect(liv!.expected!.edgeShare).toBeCloseTo(1 - 0.2483, 12);
    expect(pointText(liv!)).toBe('live re-solve (λ=1.50)');
    // Both are marked on their policy's frontier: the live one on the path, at its expected figures.
    expect(pointsOn(rows, policy).map((r) => r.key)).toEqual(['colo:FWD', 'colo:LIV']);
    expect(pointsOn(rows, policy === 'eenet' ? 'confidence' : 'eenet')).toEqual([]);

    expect(solvedText(live.settings)).toBe('24.8 % (22.5–27.4 %), 1,234 inputs, not met (accuracy guard)');
    expect(solvedText({ ...live.settings, solved: { ...solved, met: true } })).toMatch(/, met$/);
    expect(solvedText(fresh.settings)).toBe('—');
    expect(solvedText(null)).toBe('—');
    // A point-less row that is not a live re-solve says why.
    const off = regionRows(
      metrics({}),
      [entry('colo:OFF', { policy: 'confidence', thresholds: m.exits.map(() => 0.123456), split: 2, encoding: 'f32' })],
      f,
    );
    expect(off[0]!.expected).toBeNull();
    expect(pointText(off[0]!)).toBe('—');
  });

  it('the budget column and the measured forward rate', () => {
    expect(budgetText({ policy: 'eenet', maxForwardRate: 0.25, split: 2, encoding: 'f16' })).toBe('max forward 25 %');
    expect(budgetText({ policy: 'eenet', budget: 0.3, split: 2, encoding: 'f16' })).toBe('cost 30 % of backbone');
    expect(budgetText({ policy: 'eenet', budget: 0.225, split: 2, encoding: 'f16' })).toBe('cost 22.5 % of backbone');
    expect(budgetText({ policy: 'confidence', thresholds: [0.5, 2], split: 1, encoding: 'f32' })).toBe('thresholds');
    expect(budgetText(null)).toBe('—');
    expect(budgetOf({ policy: 'eenet', maxForwardRate: 0, split: 2, encoding: 'f16' })).toEqual({
      kind: 'maxForwardRate',
      value: 0,
    });
    expect(budgetOf({ policy: 'confidence', thresholds: [0.5], split: 1, encoding: 'f32' })).toEqual({
      kind: 'thresholds',
      value: null,
    });
    expect(forwardRateOf({ requests: 20, forwarded: 4, degraded: 1 })).toBe(0.25);
    expect(forwardRateOf({ requests: 0, forwarded: 0, degraded: 0 })).toBeNull();
    expect(forwardRateOf(null)).toBeNull();
    expect(share(0.25)).toBe('25 %');
    expect(share(0.2251)).toBe('22.5 %');
  });

  it('the exit distribution covers every exit and the final head, zeros included', () => {
    const d = exitDistribution(totals(10, { '0': 6, '4': 3 }), 4);
    expect(d.map((x) => x.count)).toEqual([6, 0, 0, 0, 3]);
    expect(d[0]!.share).toBeCloseTo(6 / 9);
    expect(exitDistribution(totals(0, {}), 4).every((x) => x.share === null)).toBe(true);
    expect(rate(3, 0)).toBeNull();
    expect(rate(3, 4)).toBe(0.75);
  });

  it('figures are written with their unit', () => {
    expect(count(12345)).toBe('12,345');
    expect(pct(0.7705)).toBe('77.0 %');
    expect(pct(null)).toBe('—');
    expect(usd(0.35123)).toBe('$0.351');
    expect(usd(2.81)).toBe('$2.81');
    expect(usd(1234.4)).toBe('$1,234');
    expect(usd(null)).toBe('—');
    expect(ms(13)).toBe('≤ 13 ms');
    expect(ms(5000)).toBe('≥ 5000 ms');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(timeLabel('2026-12-03T08:41:00.000Z', false)).toBe('08:41');
    expect(timeLabel('2026-12-03T08:41:00.000Z', true)).toBe('12-03 08:41');
    expect(exitLabel(0, 4)).toBe('exit 0');
    expect(exitLabel(4, 4)).toBe('final head');
    expect(settingsText({ policy: 'confidence', thresholds: [0.5, 2], split: 1, encoding: 'f32' })).toBe(
      'confidence, thresholds [0.500, off], split 1, f32',
    );
  });
});
