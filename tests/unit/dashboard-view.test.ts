/**
 * The dashboard's pure parts (workers/edge/dashboard/src/view.ts and format.ts): which rows the
 * regions table has and which frontier point each follows (or the live re-solve between points), each
 * region's budget, measured forward rate and re-solve, its money cap against the realised cost and
 * what the cap held back, the shadow verification's rows (per-exit guard, floors, canary arms and
 * decision), the history's event badges, the exit distribution with zeros, and how figures are written. The page itself is tested in Chromium (tests/e2e/dashboard.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { frontierView, resolvedSettings } from '../../core/operating-points.js';
import { CANARY_MIN_SAMPLES, CANARY_SHADOW_DEFAULT, regionSettingsSchema, type Solved } from '../../core/regions.js';
import { wilson, zFor } from '../../core/wilson.js';
import type { Metrics, RegionView, Totals, Verification } from '../../workers/edge/dashboard/src/api.js';
import {
  bytes,
  count,
  exitLabel,
  interval,
  ms,
  pct,
  pct2,
  share,
  timeLabel,
  usd,
} from '../../workers/edge/dashboard/src/format.js';
import {
  armRows,
  budgetOf,
  budgetText,
  CANARY_DEFAULTS,
  canaryText,
  cappedRateOf,
  cappedText,
  capSetText,
  decisionBadge,
  defaultPoint,
  disagreementText,
  eventBadge,
  exitDistribution,
  floorsText,
  floorText,
  forwardRateOf,
  guardedText,
  guardRows,
  guardText,
  moneyCapText,
  needsVerification,
  overCap,
  pointsOn,
  pointText,
  rate,
  regionRows,
  settingsText,
  solvedText,
  statusBadge,
  verificationSummary,
} from '../../workers/edge/dashboard/src/view.js';

const m = readManifest('models/fashion-resnet');
const f = frontierView(m);

const totals = (requests: number, exits: Record<string, number>): Totals =>
  ({ requests, edge: 0, forwarded: 0, degraded: 0, capped: 0, errors: 0, edgeRate: null, exits }) as unknown as Totals;
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

  it('a region row with a money cap: the cap against the realised $/M, what the cap held back, what the controller set', () => {
    const settings = regionSettingsSchema.parse({
      policy: 'eenet',
      maxForwardRate: 0.25,
      split: 2,
      encoding: 'f16',
      maxUsdPerMillion: 0.5,
      capped: {
        at: '2026-12-03T10:00:00.000Z',
        share: 0.3,
        spendUsdPerMillion: 0.412,
        uncappedUsdPerMillion: 0.618,
        windowMinutes: 60,
      },
    });
    const capped = entry('colo:CAP', settings, 4);
    const t = {
      ...totals(200, {}),
      forwarded: 30,
      degraded: 2,
      capped: 24,
      cost: { actual: { value: 0.55 } },
    } as unknown as Totals;
    const [row] = regionRows(metrics({ 'colo:CAP': t }), [capped], f);
    expect(row!.traffic!.capped).toBe(24);
    expect(moneyCapText(row!.entry!.settings)).toBe('$0.500 / M');
    expect(overCap(row!.traffic, row!.entry!.settings)).toBe(true);
    expect(overCap({ cost: { actual: { value: 0.41 } } }, settings)).toBe(false);
    expect(cappedRateOf(row!.traffic)).toBe(0.12);
    expect(cappedText(row!.traffic)).toBe('capped 12.0 % (reason budget), 24 requests');
    // Capped requests are not forwards: the measured forward rate stays forwarded + degraded.
    expect(forwardRateOf(row!.traffic)).toBe(0.16);
    expect(capSetText(settings)).toBe(
      'holds 30 % of would-be forwards at the edge (spend $0.412 / M, uncapped $0.618 / M over 60 min, since 2026-12-03T10:00:00.000Z)',
    );
    expect(settingsText(settings)).toBe('eenet, max forward rate 0.25, split 2, f16, cap $0.500 / M, capping 30 %');

    // A cap it has not had to enforce, no cap, no entry, no traffic.
    const { capped: _, ...uncapped } = settings;
    expect(capSetText(uncapped)).toBe('not capping');
    expect(cappedText({ requests: 10, capped: 0 })).toBe('none');
    const plain = { policy: 'eenet', budget: 0.3, split: 2, encoding: 'f16' } as const;
    expect(moneyCapText(plain)).toBe('none');
    expect(capSetText(plain)).toBe('—');
    expect(overCap(t, plain)).toBeNull();
    expect(overCap(null, settings)).toBeNull();
    expect(overCap({ cost: { actual: { value: null } } }, settings)).toBeNull();
    expect(moneyCapText(null)).toBe('—');
    expect(cappedText(null)).toBe('—');
    expect(cappedText({ requests: 0, capped: 0 })).toBe('—');
    expect(cappedRateOf(null)).toBeNull();
  });

  /** A verification as GET /admin/regions/{key}/guard answers it: exit 0 ok, exit 1 broken, exit 2 unproven. */
  const guard = { maxDisagreement: 0.01, confidence: 0.95 };
  const z = zFor(guard.confidence);
  const iv = (d: number, n: number) => wilson(d, n, z);
  const arm = (requests: number, forwarded: number, shadowed: number, disagree: number) => {
    const i = iv(disagree, shadowed);
    const status = shadowed > 0 && i.lo > 0.01 ? 'broken' : shadowed > 0 && i.hi <= 0.01 ? 'ok' : 'unproven';
    return {
      requests,
      edge: requests - forwarded,
      forwarded,
      forwardRate: requests ? forwarded / requests : null,
      shadowed,
      disagree,
      interval: i,
      status,
    } as Verification['stable'];
  };
  const verification: Verification = {
    version: 7,
    guard,
    windowMinutes: 1440,
    shadowShare: 0.05,
    exits: [
      { exit: 0, threshold: 0.95, n: 800, disagree: 1, interval: iv(1, 800), status: 'ok', samplesNeeded: 460 },
      { exit: 1, threshold: 0.9, n: 400, disagree: 20, interval: iv(20, 400), status: 'broken', samplesNeeded: null },
      { exit: 2, threshold: 0.8, n: 50, disagree: 0, interval: iv(0, 50), status: 'unproven', samplesNeeded: 383 },
    ],
    neededShadowShare: 0.12,
    shadowUsdPerMillion: 0.0213,
    costAssumptions: [],
    stable: arm(5000, 1000, 1250, 21),
    canary: {
      ...arm(500, 130, 250, 1),
      share: 0.1,
      startedAt: '2026-12-03T09:30:00.000Z',
      decision: 'wait',
      reason: '250 shadowed canary answers (200 needed), disagreement …',
    },
    action: null,
  };

  it('the verification per exit: ok, broken (marked) and unproven, with intervals, floors and the samples to settle', () => {
    expect(verification.exits.map((e) => e.interval.lo > 0.01)).toEqual([false, true, false]);
    const guarded = { at: '2026-12-03T10:05:00.000Z', floors: [0, 0.97, 2, 0], reason: 'exit 1 broke the guard' };
    const rows = guardRows(verification, guarded);
    expect(rows.map((r) => [r.exit, r.status, r.badge.text, r.floor])).toEqual([
      [0, 'ok', 'ok', 0],
      [1, 'broken', '✗ broken', 0.97],
      [2, 'unproven', 'unproven', 2],
    ]);
    expect(rows[1]!.badge.cls).toContain('broken');
    expect(rows[1]!.rate).toBe(0.05);
    expect(rows[1]!.lo).toBe(verification.exits[1]!.interval.lo);
    expect(rows[1]!.hi).toBe(verification.exits[1]!.interval.hi);
    expect(rows[1]!.disagreement).toBe(`20/400 = 5.00 % ${interval(verification.exits[1]!.interval)}`);
    expect(rows[1]!.disagreement).toMatch(/^20\/400 = 5\.00 % \[\d\.\d\d %, \d\.\d\d %\]$/);
    expect(rows.map((r) => r.needed)).toEqual(['—', '—', '383 (333 more)']);
    expect(
      guardRows({ ...verification, exits: [{ ...verification.exits[2]!, samplesNeeded: null }] })[0],
    ).toMatchObject({
      floor: 0,
      needed: 'cannot: observed rate at or above the guard',
    });
    expect(guardRows({ ...verification, exits: [{ ...verification.exits[2]!, n: 0, disagree: 0 }] })[0]).toMatchObject({
      rate: null,
      disagreement: 'no shadowed answers',
    });
    expect(statusBadge('unproven').cls).not.toContain('broken');
    expect(statusBadge('ok').cls).toBe('badge ok');

    // The guard, the shadow share and the share it needs, the cost of shadowing.
    expect(guardText(guard)).toBe('≤ 1 % at 95 %');
    const summary = Object.fromEntries(verificationSummary(verification).map((i) => [i.item, i]));
    expect(summary.guard).toMatchObject({ text: '≤ 1 % at 95 %', value: 0.01 });
    expect(summary.shadowShare).toMatchObject({ text: '5 %', value: 0.05 });
    expect(summary.neededShadowShare).toMatchObject({
      text: '12 % (above the 5 % shadowed: raise shadow)',
      value: 0.12,
    });
    expect(summary.shadowUsdPerMillion).toMatchObject({ text: '$0.0213 / M requests', value: 0.0213 });
    expect(summary.version!.text).toBe('v7');
    expect(summary.window!.text).toBe('last 1,440 min');
    const needed = (x: number | null, shadowShare = 0.05) =>
      Object.fromEntries(
        verificationSummary({ ...verification, neededShadowShare: x, shadowShare }).map((i) => [i.item, i.text]),
      ).neededShadowShare;
    expect(needed(0.02)).toBe('2 % (the 5 % shadowed suffices)');
    expect(needed(0)).toBe('0 % (no exit unproven)');
    expect(needed(null)).toBe('cannot be settled: an unproven exit disagrees at or above the guard');
    expect(needed(null, 0)).toBe('— (nothing shadowed outside a canary)');

    // The controller's floors and why.
    expect(floorText(0)).toBe('none');
    expect(floorText(undefined)).toBe('none');
    expect(floorText(2)).toBe('off');
    expect(floorText(0.97)).toBe('≥ 0.970');
    expect(floorsText(guarded.floors)).toBe('exit 1 ≥ 0.970, exit 2 off');
    expect(floorsText([0, 0])).toBe('none');
    expect(guardedText(guarded)).toBe(
      'exit 1 ≥ 0.970, exit 2 off (set 2026-12-03T10:05:00.000Z: exit 1 broke the guard)',
    );
    expect(guardedText(undefined)).toBeNull();
    expect(disagreementText(3, 400, { lo: 0.0026, hi: 0.0218 })).toBe('3/400 = 0.75 % [0.26 %, 2.18 %]');
    expect(pct2(0.0075)).toBe('0.75 %');
    expect(pct2(null)).toBe('—');

    // Which entries are verified: a shadow share or a canary.
    const base = { policy: 'eenet', budget: 0.3, split: 2, encoding: 'f16' } as const;
    expect(needsVerification(base)).toBe(false);
    expect(needsVerification({ ...base, shadow: 0 })).toBe(false);
    expect(needsVerification({ ...base, shadow: 0.05 })).toBe(true);
    expect(needsVerification({ ...base, canary: { thresholds: [0.9, 2, 2, 2], share: 0.1 } })).toBe(true);
    expect(settingsText({ ...base, shadow: 0.05, guard, guarded })).toBe(
      'eenet, budget 0.3, split 2, f16, shadow 5 % (guard ≤ 1 % at 95 %), floors exit 1 ≥ 0.970, exit 2 off',
    );
  });

  it('a canary: its settings, the two arms with forward rate and disagreement intervals, the decision', () => {
    const rows = armRows(verification);
    expect(rows.map((r) => r.arm)).toEqual(['stable', 'canary']);
    const [stable, canary] = rows;
    expect(stable!.forwardRate).toBe(0.2);
    expect(stable!.forwardInterval).toEqual({ lo: wilson(1000, 5000, z).lo, hi: wilson(1000, 5000, z).hi });
    expect(stable!.forward).toMatch(/^20\.0 % \[18\.\d %, 21\.\d %\]$/);
    expect(canary!.forwardRate).toBe(0.26);
    expect(canary!.forward).toMatch(/^26\.0 % \[\d\d\.\d %, \d\d\.\d %\]$/);
    // The stable arm's 21/1250 lies above the guard at 95 %; the canary's 1/250 is not settled yet.
    expect(stable!.status).toBe('broken');
    expect(stable!.badge.text).toBe('✗ broken');
    expect(canary!.status).toBe('unproven');
    expect(canary!.badge.text).toBe('unproven');
    expect(canary!.rate).toBe(1 / 250);
    expect(canary!.disagreement).toBe(`1/250 = 0.40 % ${interval(verification.canary!.interval)}`);
    expect(canary!.lo).toBe(verification.canary!.interval.lo);
    expect(armRows({ ...verification, canary: undefined }).map((r) => r.arm)).toEqual(['stable']);
    expect(armRows({ ...verification, stable: arm(0, 0, 0, 0) })[0]).toMatchObject({
      forward: '—',
      rate: null,
      disagreement: 'no shadowed answers',
      status: 'unproven',
    });

    expect(decisionBadge('rollback')).toEqual({ text: '✗ rollback', cls: 'badge rollback' });
    expect(decisionBadge('promote').cls).toBe('badge promote');
    expect(decisionBadge('wait').text).toBe('wait');

    const candidate = { thresholds: [0.9, 2, 0.5, 2], share: 0.1 };
    const settings: RegionView['settings'] = {
      policy: 'eenet',
      budget: 0.3,
      split: 2,
      encoding: 'f16',
      canary: candidate,
    };
    expect(canaryText(settings, verification)).toBe(
      '10 % of requests since 2026-12-03T09:30:00.000Z, thresholds [0.900, off, 0.500, off], shadow 50 % (default), decided after 200 shadowed answers (default)',
    );
    expect(canaryText({ ...settings, canary: { ...candidate, shadow: 0.25, minSamples: 400, startedAt: 'T0' } })).toBe(
      '10 % of requests since T0, thresholds [0.900, off, 0.500, off], shadow 25 %, decided after 400 shadowed answers',
    );
    expect(canaryText({ ...settings, canary: { ...candidate } })).toMatch(/^10 % of requests \(not started yet\), /);
    expect(canaryText({ policy: 'eenet', budget: 0.3, split: 2, encoding: 'f16' })).toBeNull();
    expect(settingsText(settings)).toBe('eenet, budget 0.3, split 2, f16, canary 10 % [0.900, off, 0.500, off]');
    // The page restates core/regions.ts's canary defaults (importing it would bundle zod).
    expect(CANARY_DEFAULTS).toEqual({ minSamples: CANARY_MIN_SAMPLES, shadow: CANARY_SHADOW_DEFAULT });
  });

  it("the history's event badges: the controller's events, an operator's rollback, an operator's write", () => {
    const ev = (kind: NonNullable<RegionView['event']>['kind'], reason = `why ${kind}`) =>
      eventBadge({ event: { kind, reason } });
    expect(ev('canary-promote')).toEqual({
      text: 'promote',
      cls: 'badge promote',
      kind: 'canary-promote',
      reason: 'why canary-promote',
    });
    expect(ev('canary-rollback')).toMatchObject({ text: 'rollback', cls: 'badge rollback' });
    expect(ev('guard')).toMatchObject({ text: 'guard', cls: 'badge guard' });
    expect(ev('cap')).toMatchObject({ text: 'cap', cls: 'badge cap' });
    expect(ev('resolve')).toMatchObject({ text: 're-solve', cls: 'badge resolve' });
    // Every kind has its own badge.
    const kinds = ['resolve', 'guard', 'canary-promote', 'canary-rollback', 'cap'] as const;
    expect(new Set(kinds.map((k) => ev(k)!.cls)).size).toBe(kinds.length);
    expect(eventBadge({ rolledBackTo: 3 })).toEqual({
      text: 'rollback to v3',
      cls: 'badge rollback',
      kind: 'rollback',
      reason: 'operator rollback',
    });
    // The controller's event wins over rolledBackTo; a plain write has no badge.
    expect(eventBadge({ rolledBackTo: 3, event: { kind: 'canary-rollback', reason: 'r' } })!.kind).toBe(
      'canary-rollback',
    );
    expect(eventBadge({})).toBeNull();
  });
});
