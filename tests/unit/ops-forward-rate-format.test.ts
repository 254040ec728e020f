/**
 * The ops CLI on forward-rate budgets (scripts/ops/format.ts, commands.ts nextSettings): an entry
 * with maxForwardRate before and after the controller's re-solve (a live point between calibrated
 * points shows the re-solve's expected figures), what `regions resolve` prints, and how `regions set`
 * keeps settings not given while switching kind.
 */
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { resolvedSettings } from '../../core/operating-points.js';
import {
  forwardRatePoint,
  type RegionEntry,
  type RegionSettings,
  regionSettingsSchema,
  type Solved,
} from '../../core/regions.js';
import { nextSettings } from '../../scripts/ops/commands.js';
import { entryText, givenText, metText, resolvedRows, resolveText, solvedRows } from '../../scripts/ops/format.js';

const m = readManifest('models/fashion-resnet');
const policy = m.policies.default;
const split = 2;
const points = m.policies.frontier[policy]!;

const solved = (over: Partial<Solved> = {}): Solved => ({
  // Halfway between two calibrated points: matches no frontier point.
  thresholds: points[1]!.thresholds.map((t, i) => (Math.min(t, 1) + Math.min(points[2]!.thresholds[i]!, 1)) / 2),
  at: '2026-12-03T09:00:00.000Z',
  samples: 1200,
  forwardRate: 0.2483,
  interval: { lo: 0.2245, hi: 0.2738 },
  met: true,
  lambda: 1.5,
  expectedAccuracy: 0.9012,
  expectedCost: 0.2934,
  ...over,
});
const entry = (settings: RegionSettings, version = 4) => {
  const e: RegionEntry & { key: string } = {
    key: 'colo:LHR',
    settings,
    version,
    updatedAt: '2026-12-03T09:00:01.000Z',
  };
  return { ...e, resolved: resolvedSettings(settings, m) };
};

describe('ops output for a forward-rate budget', () => {
  it('before a re-solve: the budget, the default explore share, the validation point', () => {
    const s: RegionSettings = { policy, maxForwardRate: 0.25, split, encoding: 'f16' };
    const e = entry(s);
    const chosen = forwardRatePoint(policy, 0.25, split, m)!;
    expect(e.resolved.from).toBe('forwardRate');
    const t = entryText(e);
    expect(t).toMatch(/^max forward rate +0\.25 \(at most 25\.00 % of requests forwarded to the backend\)$/m);
    expect(t).toMatch(/^explore +5\.00 % of requests scored at every edge exit for the controller \(default\)$/m);
    expect(t).toMatch(/^re-solved +not yet /m);
    expect(t).toMatch(new RegExp(`^frontier point +${policy} #${chosen.index}\\b.*validation point within the`, 'm'));
    expect(t).not.toMatch(/^budget /m);
    expect(givenText(s)).toBe('max forward rate 0.25');
    // An explicit explore share shows without "(default)", with a cost budget too.
    expect(entryText(entry({ policy, budget: 0.3, explore: 0.1, split, encoding: 'f16' }))).toMatch(
      /^explore +10\.00 % of requests scored at every edge exit for the controller$/m,
    );
  });

  it('after a re-solve between calibrated points: live re-solve (λ) with its expected figures', () => {
    const s: RegionSettings = { policy, maxForwardRate: 0.25, solved: solved(), split, encoding: 'f16' };
    expect(regionSettingsSchema.safeParse(s).success).toBe(true);
    const e = entry(s);
    expect(e.resolved).toMatchObject({ from: 'live', point: null, problems: [] });
    const rows = Object.fromEntries(resolvedRows(e.resolved, split, s.solved));
    expect(rows['frontier point']).toBe('live re-solve (λ=1.500), between calibrated points');
    expect(rows['expected accuracy']).toBe('90.12 % (validation, along the frontier path)');
    expect(rows['expected cost']).toBe('29.34 % of the backbone');
    expect(rows['edge share']).toBe('75.2 % answered at the edge on the explored inputs (split 2)');
    const t = entryText(e);
    expect(t).toMatch(
      /^re-solved +2026-12-03T09:00:00\.000Z on 1200 explored inputs: forwards 24\.83 % \(95 % interval 22\.45 % to 27\.38 %\), budget met$/m,
    );
    expect(t.match(/^expected accuracy /gm)).toHaveLength(1);
    expect(givenText(s)).toBe('max forward rate 0.25, re-solved: 24.83 % on 1200 inputs');
    // Without the solve to read, a point-less live entry says there is no calibrated point.
    expect(Object.fromEntries(resolvedRows(e.resolved, split))['frontier point']).toMatch(/^none: /);
  });

  it('regions resolve: version, samples, forward rate with its interval, met or not, expected figures, thresholds', () => {
    const s: RegionSettings = { policy, maxForwardRate: 0.25, solved: solved(), split, encoding: 'f16' };
    const t = resolveText(entry(s, 7));
    expect(t.split('\n')[0]).toBe('re-solved colo:LHR: version 7');
    expect(t).toMatch(/^samples +1200 explored inputs \(solved 2026-12-03T09:00:00\.000Z\)$/m);
    expect(t).toMatch(/^forward rate +24\.83 % \(95 % interval 22\.45 % to 27\.38 %\); budget 25\.00 %$/m);
    expect(t).toMatch(/^budget +met$/m);
    expect(t).toMatch(/^expected accuracy +90\.12 % \(validation, frontier path at λ=1\.500\)$/m);
    expect(t).toMatch(/^expected cost +29\.34 % of the backbone$/m);
    expect(t).toMatch(/^thresholds +\d\.\d{4}(, (\d\.\d{4}|off))*$/m);
    const guarded = Object.fromEntries(solvedRows(solved({ met: false, forwardRate: 0.31 }), 0.25));
    expect(guarded.budget).toBe('not met: the accuracy guard stopped it before the budget');
    expect(metText(false)).toContain('guard stopped it before the budget');
    expect(resolveText(entry(s, 8), ' (stored; pending)').split('\n')[0]).toBe(
      're-solved colo:LHR: version 8 (stored; pending)',
    );
  });
});

describe('regions set: the settings written', () => {
  const defaults = { policy, split: 2 };
  const live: RegionSettings = {
    policy,
    maxForwardRate: 0.25,
    explore: 0.1,
    solved: solved(),
    split: 2,
    encoding: 'f32',
    note: 'old',
  };
  const valid = (s: RegionSettings) => expect(regionSettingsSchema.safeParse(s).success).toBe(true);

  it('a new entry takes the bundle defaults; a switch of kind drops the other kinds and the re-solve', () => {
    const created = nextSettings(undefined, { maxForwardRate: 0.2 }, {}, defaults);
    expect(created).toEqual({ policy, maxForwardRate: 0.2, split: 2, encoding: 'f16' });
    const toBudget = nextSettings(live, { budget: 0.3 }, {}, undefined);
    expect(toBudget).toEqual({ policy, budget: 0.3, explore: 0.1, split: 2, encoding: 'f32' });
    valid(toBudget);
    const toFwd = nextSettings(
      { policy, budget: 0.3, split: 2, encoding: 'f16' },
      { maxForwardRate: 0.3 },
      {},
      undefined,
    );
    expect(toFwd).toEqual({ policy, maxForwardRate: 0.3, split: 2, encoding: 'f16' });
    valid(nextSettings(live, { thresholds: m.exits.map(() => 0.5) }, {}, undefined));
  });

  it('the re-solve is kept while budget, policy and split stay; dropped when any changes', () => {
    const same = nextSettings(
      live,
      { maxForwardRate: 0.25 },
      { note: 'new', encoding: 'f16', explore: 0.2 },
      undefined,
    );
    expect(same).toEqual({ ...live, explore: 0.2, encoding: 'f16', note: 'new' });
    valid(same);
    expect(nextSettings(live, { maxForwardRate: 0.2 }, {}, undefined).solved).toBeUndefined();
    expect(nextSettings(live, { maxForwardRate: 0.25 }, { split: 3 }, undefined).solved).toBeUndefined();
    expect(nextSettings(live, { maxForwardRate: 0.25 }, { policy: 'entropy' }, undefined).solved).toBeUndefined();
  });
});
