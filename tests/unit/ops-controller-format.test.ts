/**
 * The ops CLI on the per-region controller (scripts/ops/format.ts, commands.ts): an entry's shadow
 * share, guard, floors, canary and money cap; what `regions set` and `regions canary` write (the
 * guard from one option and the default or the kept value for the other, what the controller wrote
 * kept or dropped); `regions history` with the controller's events; `regions guard` / `verify` from a
 * Verification document; `metrics` with the money cap's capped count; and the options' usage errors.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-error.js';
import { readManifest } from '../../core/node/bundle.js';
import { resolvedSettings } from '../../core/operating-points.js';
import { type RegionEntry, type RegionSettings, regionSettingsSchema } from '../../core/regions.js';
import { DEFAULT_GUARD } from '../../core/shadow.js';
import { canarySettings, givenOf, nextSettings, parseCommand } from '../../scripts/ops/commands.js';
import {
  controllerRows,
  disagreementText,
  entryText,
  floorsText,
  historyText,
  type MetricsView,
  metricsText,
  type VerificationView,
  verificationText,
} from '../../scripts/ops/format.js';

const m = readManifest('models/fashion-resnet');
const policy = m.policies.default;
const exits = m.exits.length;
const every = (t: number) => m.exits.map(() => t);
const base: RegionSettings = { policy, thresholds: every(0.8), split: 2, encoding: 'f16' };
const valid = (s: RegionSettings) => expect(regionSettingsSchema.safeParse(s).error).toBeUndefined();

const controlled: RegionSettings = {
  ...base,
  shadow: 0.1,
  guard: { maxDisagreement: 0.02, confidence: 0.9 },
  guarded: {
    at: '2026-12-03T10:00:00.000Z',
    floors: [0.95, 2, ...new Array<number>(exits - 2).fill(0)],
    reason: 'guard broken: exit 0 …',
  },
  canary: { thresholds: every(0.7), share: 0.1, startedAt: '2026-12-03T11:00:00.000Z' },
  maxUsdPerMillion: 0.5,
  capped: {
    at: '2026-12-03T11:05:00.000Z',
    share: 0.25,
    spendUsdPerMillion: 0.48,
    uncappedUsdPerMillion: 0.61,
    windowMinutes: 60,
  },
};

describe('ops output of the controller settings', () => {
  it('an entry shows shadow, guard, floors, canary, money cap, what it holds back, and the event', () => {
    valid(controlled);
    const e: RegionEntry & { key: string } = {
      key: 'colo:LHR',
      settings: controlled,
      version: 5,
      updatedAt: '2026-12-03T11:05:00.000Z',
      event: { kind: 'cap', reason: 'spend near the cap' },
    };
    const t = entryText({ ...e, resolved: resolvedSettings(controlled, m) });
    expect(t).toMatch(/^event +cap: spend near the cap$/m);
    expect(t).toMatch(/^shadow +10\.00 % of confident edge answers re-answered by the full model$/m);
    expect(t).toMatch(/^guard +disagreement with the backbone at most 2\.00 % at 90 % confidence$/m);
    expect(t).toMatch(/^guard floors +0\.9500, off, -(, -)* \(2026-12-03T10:00:00\.000Z: guard broken: exit 0 …\)$/m);
    expect(t).toMatch(
      /^canary +10\.00 % of requests at 0\.7000(, 0\.7000)*; 50\.00 % of its confident answers shadowed \(default\); judged after 200 shadowed answers \(default\); started 2026-12-03T11:00:00\.000Z$/m,
    );
    expect(t).toMatch(/^money cap +\$0\.5000 per million requests$/m);
    expect(t).toMatch(
      /^capped +25\.00 % of would-be forwards answered at the edge \(degraded, reason "budget"\), since 2026-12-03T11:05:00\.000Z: spend \$0\.4800\/M, uncapped \$0\.6100\/M over the last 60 min$/m,
    );
    expect(floorsText([0, 0.5, 2])).toBe('-, 0.5000, off');
  });

  it('no controller settings: no rows; a canary alone shows the default guard', () => {
    expect(controllerRows(base)).toEqual([]);
    const rows = Object.fromEntries(
      controllerRows({ ...base, canary: { thresholds: every(0.7), share: 0.2, shadow: 0.3, minSamples: 50 } }),
    );
    expect(rows.guard).toBe('disagreement with the backbone at most 1.00 % at 95 % confidence (default)');
    expect(rows.canary).toBe(
      `20.00 % of requests at ${every(0.7)
        .map((t) => t.toFixed(4))
        .join(', ')}; 30.00 % of its confident answers shadowed; judged after 50 shadowed answers`,
    );
  });
});

describe('regions set / regions canary: the settings written', () => {
  it('the guard: both options, or one with the kept value, else DEFAULT_GUARD, for the other', () => {
    const one = nextSettings(base, givenOf(base), { 'max-disagreement': 0.03 }, undefined);
    expect(one.guard).toEqual({ maxDisagreement: 0.03, confidence: DEFAULT_GUARD.confidence });
    const other = nextSettings(base, givenOf(base), { confidence: 0.99 }, undefined);
    expect(other.guard).toEqual({ maxDisagreement: DEFAULT_GUARD.maxDisagreement, confidence: 0.99 });
    const kept = nextSettings(controlled, givenOf(controlled), { confidence: 0.99 }, undefined);
    expect(kept.guard).toEqual({ maxDisagreement: 0.02, confidence: 0.99 });
    const both = nextSettings(base, givenOf(base), { 'max-disagreement': 0.05, confidence: 0.8 }, undefined);
    expect(both.guard).toEqual({ maxDisagreement: 0.05, confidence: 0.8 });
    expect(nextSettings(base, givenOf(base), {}, undefined).guard).toBeUndefined();
    valid(both);
  });

  it('shadow, guard, floors, canary, money cap and what it holds back are kept by a write that changes the thresholds', () => {
    const next = nextSettings(controlled, { thresholds: every(0.6) }, { shadow: 0.2 }, undefined);
    expect(next).toEqual({ ...controlled, thresholds: every(0.6), shadow: 0.2 });
    valid(next);
    // Floors and the canary are thresholds on the policy's scores: dropped with the policy.
    const other = m.policies.default === 'entropy' ? 'confidence' : 'entropy';
    const switched = nextSettings(controlled, givenOf(controlled), { policy: other }, undefined);
    expect(switched.guarded).toBeUndefined();
    expect(switched.canary).toBeUndefined();
    expect(switched.shadow).toBe(0.1);
    // What the cap holds back answers to the cap: dropped when it changes.
    const recapped = nextSettings(controlled, givenOf(controlled), { 'max-usd-per-million': 1 }, undefined);
    expect(recapped).toMatchObject({ maxUsdPerMillion: 1 });
    expect(recapped.capped).toBeUndefined();
    const created = nextSettings(
      undefined,
      { budget: 0.3 },
      { shadow: 0.05, 'max-usd-per-million': 2 },
      { policy, split: 2 },
    );
    expect(created).toEqual({ policy, budget: 0.3, split: 2, encoding: 'f16', shadow: 0.05, maxUsdPerMillion: 2 });
  });

  it('givenOf keeps the kind the entry has', () => {
    expect(givenOf(base)).toEqual({ thresholds: every(0.8) });
    expect(givenOf({ policy, budget: 0.3, split: 2, encoding: 'f16' })).toEqual({ budget: 0.3 });
    expect(givenOf({ policy, maxForwardRate: 0.2, split: 2, encoding: 'f16' })).toEqual({ maxForwardRate: 0.2 });
  });

  it('a canary is set afresh (its start is the write’s), or removed with --stop; the note is not carried over', () => {
    const started = canarySettings(
      { ...controlled, note: 'old' },
      { thresholds: every(0.6), share: 0.2, shadow: 0.4, 'min-samples': 60 },
    );
    expect(started.canary).toEqual({ thresholds: every(0.6), share: 0.2, shadow: 0.4, minSamples: 60 });
    expect(started.note).toBeUndefined();
    expect(started.guarded).toEqual(controlled.guarded);
    valid(started);
    const stopped = canarySettings(controlled, { stop: true, note: 'stop it' });
    expect(stopped.canary).toBeUndefined();
    expect(stopped).toEqual({ ...controlled, canary: undefined, note: 'stop it' });
    expect('canary' in stopped).toBe(false);
  });
});

describe('regions history', () => {
  it("each version's canary and the controller's event (kind: reason)", () => {
    const versions: RegionEntry[] = [
      { settings: base, version: 1, updatedAt: '2026-12-03T09:00:00.000Z' },
      { settings: { ...base, canary: { share: 0.1, thresholds: every(0.7) } }, version: 2, updatedAt: 't2' },
      {
        settings: { ...base, thresholds: every(0.7) },
        version: 3,
        updatedAt: 't3',
        event: { kind: 'canary-promote', reason: "v2's canary promoted: canary met the guard" },
      },
    ];
    const lines = historyText('colo:LHR', versions).split('\n');
    expect(lines[0]).toMatch(
      /^VERSION +UPDATED +POLICY +THRESHOLDS \/ BUDGET +SPLIT +ENCODING +CANARY +ROLLED BACK TO +NOTE +EVENT$/,
    );
    expect(lines[1]).toMatch(/ f16$/);
    expect(lines[2]).toMatch(/^ +2 .* 10 % at 0\.7000(, 0\.7000)*$/);
    expect(lines[3]).toMatch(/^ +3 .* canary-promote: v2's canary promoted: canary met the guard$/);
    expect(historyText('colo:LHR', [])).toBe('region colo:LHR has no history');
  });
});

const iv = (p: number | null, lo: number, hi: number) => ({ p, lo, hi });
const arm = {
  requests: 1000,
  edge: 800,
  forwarded: 200,
  forwardRate: 0.2,
  shadowed: 80,
  disagree: 1,
  interval: iv(0.0125, 0.0022, 0.0676),
  status: 'unproven' as const,
};
const verification = (over: Partial<VerificationView> = {}): VerificationView => ({
  version: 4,
  guard: { maxDisagreement: 0.01, confidence: 0.95 },
  windowMinutes: 1440,
  shadowShare: 0.1,
  exits: [
    {
      exit: 0,
      threshold: 0.9,
      n: 80,
      disagree: 1,
      interval: iv(0.0125, 0.0022, 0.0676),
      status: 'unproven',
      samplesNeeded: 460,
    },
    { exit: 1, threshold: 0.8, n: 0, disagree: 0, interval: iv(null, 0, 1), status: 'unproven', samplesNeeded: 383 },
  ],
  neededShadowShare: 0.575,
  shadowUsdPerMillion: 0.0123,
  costAssumptions: ['GPU $2.49/h'],
  stable: arm,
  action: null,
  ...over,
});

describe('regions guard / regions verify', () => {
  it('per exit: threshold, n, disagreement [lo, hi], status, samples needed; the guard; shadow share, needed share, cost', () => {
    const t = verificationText('colo:LHR', verification());
    const lines = t.split('\n');
    expect(lines[0]).toBe('shadow verification of colo:LHR, version 4, last 1440 min');
    expect(t).toMatch(/^EXIT +THRESHOLD +N +DISAGREED +DISAGREEMENT \[95 % INTERVAL\] +STATUS +NEEDED$/m);
    expect(t).toMatch(/^ +0 +0\.9000 +80 +1 +1\.25 % \[0\.22 %, 6\.76 %\] +unproven +460$/m);
    expect(t).toMatch(/^ +1 +0\.8000 +0 +0 +- \[0\.00 %, 100\.00 %\] +unproven +383$/m);
    expect(t).toMatch(/^guard +disagreement with the backbone at most 1\.00 % at 95 % confidence$/m);
    expect(t).toMatch(/^shadow share +10\.00 % of confident edge answers$/m);
    expect(t).toMatch(
      /^needed share +57\.50 % to settle the unproven exits within 1440 min \(above the current 10\.00 %\)$/m,
    );
    expect(t).toMatch(/^shadow cost +\$0\.0123 per million requests$/m);
    expect(t).toMatch(/^ {2}- GPU \$2\.49\/h$/m);
    expect(t).toMatch(/^stable +100\.00 % +1000 +800 +200 +20\.00 % +80 +1 +1\.25 % \[0\.22 %, 6\.76 %\] +unproven$/m);
    expect(t).toMatch(/^canary +none$/m);
    // GET …/guard acts on nothing: no action line.
    expect(t).not.toMatch(/^action /m);
  });

  it('the needed share in words: nothing shadowed, cannot be reached, nothing unproven', () => {
    const need = (o: Partial<VerificationView>) =>
      verificationText('default', verification(o))
        .split('\n')
        .find((l) => l.startsWith('needed share'));
    expect(need({ shadowShare: 0, neededShadowShare: null, shadowUsdPerMillion: 0 })).toMatch(
      /unknown: nothing is shadowed \(regions set <key> --shadow=<share>\)$/,
    );
    expect(need({ neededShadowShare: null })).toMatch(/cannot be reached: an unproven exit disagrees/);
    expect(need({ neededShadowShare: 0 })).toMatch(/none: no exit is unproven$/);
    expect(need({ neededShadowShare: 0.05 })).toMatch(/5\.00 % to settle the unproven exits within 1440 min$/);
    expect(verificationText('default', verification({ exits: [] }))).toContain('\nno edge exit is on\n');
    expect(verificationText('default', verification({ shadowUsdPerMillion: null }))).toMatch(
      /^shadow cost +- \(not known\)$/m,
    );
  });

  it('the stable and canary arms, the canary decision and reason; verify: the action, or no change', () => {
    const canary = {
      ...arm,
      requests: 100,
      edge: 90,
      forwarded: 10,
      forwardRate: 0.1,
      shadowed: 0,
      disagree: 0,
      interval: iv(null, 0, 1),
      share: 0.1,
      startedAt: '2026-12-03T11:00:00.000Z',
      decision: 'wait' as const,
      reason: '0 shadowed canary answers (200 needed), disagreement 0/0 = 0.00 % [0.00 %, 100.00 %]',
    };
    const t = verificationText('colo:LHR', verification({ canary }), true);
    expect(t).toMatch(/^stable +90\.00 % +1000 /m);
    expect(t).toMatch(/^canary +10\.00 % +100 +90 +10 +10\.00 % +0 +0 +- \[0\.00 %, 100\.00 %\] +unproven$/m);
    expect(t).toMatch(/^canary +10\.00 % of requests since 2026-12-03T11:00:00\.000Z$/m);
    expect(t).toMatch(/^canary decision +wait: 0 shadowed canary answers \(200 needed\), disagreement 0\/0/m);
    expect(t).toMatch(/^action +no change$/m);
    const acted = verificationText(
      'colo:LHR',
      verification({
        canary: { ...canary, decision: 'promote', reason: 'met' },
        action: { kind: 'canary-promote', reason: "v4's canary promoted: met", version: 5 },
      }),
      true,
    );
    expect(acted).toMatch(/^action +canary-promote: v4's canary promoted: met \(new version 5\)$/m);
    expect(
      verificationText('colo:LHR', verification({ action: { kind: 'guard', reason: 'r', version: null } }), true),
    ).toMatch(/^action +guard: r \(not written\)$/m);
    expect(disagreementText(iv(0.5, 0.25, 0.75))).toBe('50.00 % [25.00 %, 75.00 %]');
  });
});

describe('metrics with the money cap', () => {
  const totals = (requests: number, edge: number, capped: number) => ({
    requests,
    edge,
    forwarded: requests - edge - capped,
    degraded: 1,
    capped,
    errors: 0,
    edgeRate: requests ? edge / requests : null,
    latencyMs: { p50: 3, p95: 50, p99: 80 },
    cost: {
      actual: { value: 0.3, unit: 'USD per million requests', assumptions: [] },
      counterfactuals: {
        allOnGpu: { value: 0.4, unit: 'USD', assumptions: [] },
        fullModelAtEdge: { value: null, unit: 'USD', assumptions: [] },
        workersAiResnet50: { value: 2.8, unit: 'USD', assumptions: [] },
      },
      assumptions: [],
    },
  });
  const view: MetricsView = {
    from: 'a',
    to: 'b',
    step: '1m',
    region: null,
    model: 'x',
    totals: totals(20, 12, 3),
    byRegion: { 'colo:AAA': totals(20, 12, 3) },
    series: [{ time: 't1', requests: 20, edge: 12, forwarded: 5, degraded: 1, capped: 3, errors: 0, p95Ms: 50 }],
  };

  it('a CAPPED column after DEGRADED, per region, in the total and the series', () => {
    const t = metricsText(view);
    expect(t).toMatch(/^REGION +REQUESTS +EDGE +FORWARDED +DEGRADED +CAPPED +ERRORS +EDGE RATE/m);
    expect(t).toMatch(/^colo:AAA +20 +12 +5 +1 +3 +0 +60\.0 %/m);
    expect(t).toMatch(/^total +20 +12 +5 +1 +3 +0 /m);
    expect(t).toMatch(/^TIME +REQUESTS +EDGE +FORWARDED +DEGRADED +CAPPED +ERRORS +P95$/m);
    expect(t).toMatch(/^t1 +20 +12 +5 +1 +3 +0 +50 ms$/m);
    expect(t).toContain('capped: would-be forwards the money cap (maxUsdPerMillion) answered at the edge');
  });

  it('an answer without capped (an older worker): no column', () => {
    const { capped: _c, ...old } = view.totals;
    const t = metricsText({ ...view, totals: old, byRegion: { 'colo:AAA': old }, series: [] });
    expect(t).not.toContain('CAPPED');
  });
});

describe('the options', () => {
  const parse = (argv: string[]) => parseCommand(argv, {});
  const usage = (argv: string[]) => {
    try {
      parse(argv);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error(`no usage error for ${argv.join(' ')}`);
  };

  it('regions set: shadow, guard and money cap, checked against the settings schema', () => {
    const p = parse([
      'regions',
      'set',
      'colo:LHR',
      '--shadow=0.1',
      '--max-disagreement=0.02',
      '--confidence=0.9',
      '--max-usd-per-million=0.5',
    ]);
    expect(p).toMatchObject({
      name: 'regions set',
      values: { shadow: 0.1, 'max-disagreement': 0.02, confidence: 0.9, 'max-usd-per-million': 0.5 },
    });
    expect(usage(['regions', 'set', 'colo:LHR', '--max-disagreement=1'])).toMatch(/^--max-disagreement=1: /);
    expect(usage(['regions', 'set', 'colo:LHR', '--confidence=0.4'])).toMatch(/^--confidence=0\.4: /);
    expect(usage(['regions', 'set', 'colo:LHR', '--shadow=2'])).toMatch(/^--shadow=2: /);
    expect(usage(['regions', 'set', 'colo:LHR', '--max-usd-per-million=0'])).toMatch(/^--max-usd-per-million=0: /);
  });

  it('regions canary / guard / verify', () => {
    expect(
      parse(['regions', 'canary', 'colo:LHR', '--thresholds=0.5,0.5', '--share=0.2', '--min-samples=40']),
    ).toMatchObject({ values: { thresholds: [0.5, 0.5], share: 0.2, 'min-samples': 40 } });
    expect(parse(['regions', 'canary', 'colo:LHR', '--stop'])).toMatchObject({ values: { stop: true } });
    expect(usage(['regions', 'canary', 'colo:LHR', '--share=0.6'])).toMatch(/^--share=0\.6: /);
    expect(usage(['regions', 'canary', 'colo:LHR', '--min-samples=10'])).toMatch(/^--min-samples=10: /);
    expect(parse(['regions', 'guard', 'colo:LHR', '--window-minutes=30', '--json'])).toMatchObject({
      name: 'regions guard',
      values: { 'window-minutes': 30, json: true },
    });
    expect(parse(['regions', 'verify', 'colo:LHR'])).toMatchObject({ name: 'regions verify' });
    expect(usage(['regions', 'verify', 'colo:LHR', '--window-minutes=0'])).toMatch(/^--window-minutes=0: /);
    expect(usage(['regions', 'guard', 'colo:LHR', '--share=0.1'])).toMatch(/^unknown option\(s\) --share/);
    const help = parse(['regions', 'canary', '--help']) as { help: string };
    expect(help.help).toMatch(/--min-samples=<n> .*\(default: 200\)/);
    expect(help.help).toMatch(/--stop +Remove the canary/);
  });
});
