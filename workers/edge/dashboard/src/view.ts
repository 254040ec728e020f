/**
 * What the dashboard shows, derived from the API's answers: one row per region key (its traffic, its
 * entry's version and settings, its budget and the controller's re-solve of a forward-rate budget,
 * its money cap against the realised cost and what the cap held back, the frontier point it runs at,
 * or the live re-solve between points), the points to mark on a policy's frontier, the exit
 * distribution, each region's shadow verification (per-exit guard, floors, canary arms and decision)
 * and the controller's events in the history. Pure, no DOM: tests/unit/dashboard-view.test.ts checks it.
 */
import type { Guarded, RegionEntry } from '../../../../core/regions.js';
import { wilson, zFor } from '../../../../core/wilson.js';
import type {
  ArmView,
  FrontierView,
  GuardStatus,
  Metrics,
  OperatingPoint,
  RegionView,
  Totals,
  Verification,
} from './api.js';
import { count, interval, pct, pct2, share, usd } from './format.js';

/** What the edge expects of a row's operating point (validation), or of its live re-solve. */
export interface Expected {
  accuracy: number;
  /** Mean cost, as a fraction of the backbone's MACs. */
  cost: number;
  /** Share answered at the edge: the point's at the entry's split, or 1 − the re-solve's forward rate on explored inputs. */
  edgeShare: number;
}

export interface RegionRow {
  key: string;
  /** The range's totals for this key; null when it had no decisions in the range. */
  traffic: Totals | null;
  /** Its entry (current version); null when none is set: the key then runs at the bundle's default. */
  entry: RegionView | null;
  /** The frontier point its decisions follow: the entry's resolved point, or the bundle's default. */
  point: (OperatingPoint & { policy: string }) | null;
  /** Where `point` comes from; `live` without a point: the re-solve's thresholds lie between calibrated points. */
  pointFrom: RegionView['resolved']['from'] | 'bundle default' | 'none';
  /** The expected figures: the point's, else (a live re-solve between points) the re-solve's; null when neither. */
  expected: Expected | null;
}

const expectedOfPoint = (p: OperatingPoint | null): Expected | null =>
  p ? { accuracy: p.accuracy, cost: p.cost, edgeShare: p.edgeShare } : null;

/** The bundle's default operating point (the one the edge applies where no entry matches). */
export function defaultPoint(f: FrontierView): (OperatingPoint & { policy: string }) | null {
  const p = (f.policies[f.defaultPolicy] ?? []).find((q) => q.default);
  return p ? { ...p, policy: f.defaultPolicy } : null;
}

/**
 * Every key that has an entry or had traffic in the range, sorted; `only` keeps one key (the filter).
 * A key with traffic but no entry is `default` (no entry matched) or one whose entry was deleted since.
 */
export function regionRows(
  metrics: Metrics,
  regions: readonly RegionView[],
  f: FrontierView,
  only?: string,
): RegionRow[] {
  const entries = new Map(regions.map((r) => [r.key, r]));
  const keys = [...new Set([...entries.keys(), ...Object.keys(metrics.byRegion)])]
    .filter((k) => !only || k === only)
    .sort((a, b) => a.localeCompare(b));
  const fallback = defaultPoint(f);
  return keys.map((key) => {
    const entry = entries.get(key) ?? null;
    const traffic = metrics.byRegion[key] ?? null;
    if (entry) {
      const point = entry.resolved.point;
      const solved = entry.settings.solved;
      if (!point && entry.resolved.from === 'live' && solved && !entry.resolved.problems.length)
        return {
          key,
          traffic,
          entry,
          point,
          pointFrom: 'live',
          expected: { accuracy: solved.expectedAccuracy, cost: solved.expectedCost, edgeShare: 1 - solved.forwardRate },
        };
      return {
        key,
        traffic,
        entry,
        point,
        pointFrom: point ? entry.resolved.from : 'none',
        expected: expectedOfPoint(point),
      };
    }
    return {
      key,
      traffic,
      entry: null,
      point: fallback,
      pointFrom: fallback ? 'bundle default' : 'none',
      expected: expectedOfPoint(fallback),
    };
  });
}

/**
 * The rows whose point lies on `policy`'s frontier, for marking on that chart: at a calibrated point,
 * or (a live re-solve) on the path between two, at the re-solve's expected cost and accuracy.
 */
export const pointsOn = (rows: readonly RegionRow[], policy: string): RegionRow[] =>
  rows.filter((r) =>
    r.point ? r.point.policy === policy : r.pointFrom === 'live' && r.entry?.settings.policy === policy,
  );

/** The point column's text: `eenet #12 (budget)`, `live re-solve (λ=3.42)`, or why there is none. */
export function pointText(r: RegionRow): string {
  if (r.point) return `${r.point.policy} #${r.point.index} (${r.pointFrom})`;
  const solved = r.entry?.settings.solved;
  if (r.pointFrom === 'live' && solved) return `live re-solve (λ=${solved.lambda.toFixed(2)})`;
  return r.entry?.resolved.problems.join('; ') || '—';
}

/** How a region's exit policy is given: its kind and value (null for explicit thresholds). */
export function budgetOf(s: RegionView['settings']): {
  kind: 'thresholds' | 'budget' | 'maxForwardRate';
  value: number | null;
} {
  if (s.thresholds) return { kind: 'thresholds', value: null };
  if (s.maxForwardRate !== undefined) return { kind: 'maxForwardRate', value: s.maxForwardRate };
  return { kind: 'budget', value: s.budget ?? null };
}

/** The budget column: "max forward 25 %", "cost 30 % of backbone" or "thresholds"; "—" without an entry. */
export function budgetText(s: RegionView['settings'] | null | undefined): string {
  if (!s) return '—';
  const b = budgetOf(s);
  if (b.kind === 'thresholds') return 'thresholds';
  return b.kind === 'maxForwardRate' ? `max forward ${share(b.value!)}` : `cost ${share(b.value!)} of backbone`;
}

/** Measured share of requests sent to the backend: (forwarded + degraded) / requests; null without traffic. */
export const forwardRateOf = (
  t: Pick<Totals, 'requests' | 'forwarded' | 'degraded'> | null | undefined,
): number | null => (t && t.requests > 0 ? (t.forwarded + t.degraded) / t.requests : null);

/**
 * The re-solved column: the controller's forward rate with its Wilson interval, the inputs it solved
 * on and whether it met the budget ("24.8 % (22.5–27.4 %), 1,200 inputs, met"); "—" when not solved.
 */
export function solvedText(s: RegionView['settings'] | null | undefined): string {
  const v = s?.solved;
  if (!v) return '—';
  const range = `${(v.interval.lo * 100).toFixed(1)}–${(v.interval.hi * 100).toFixed(1)} %`;
  return `${(v.forwardRate * 100).toFixed(1)} % (${range}), ${count(v.samples)} inputs, ${v.met ? 'met' : 'not met (accuracy guard)'}`;
}

/**
 * The exit distribution over every exit of the bundle (zeros included) and the final head:
 * `exits` entries for the exits, then the final head.
 */
export function exitDistribution(t: Totals, exits: number): { index: number; count: number; share: number | null }[] {
  const answered = Object.values(t.exits).reduce((a, b) => a + b, 0);
  return Array.from({ length: exits + 1 }, (_, index) => {
    const count = t.exits[String(index)] ?? 0;
    return { index, count, share: answered > 0 ? count / answered : null };
  });
}

/** Share of requests with `outcome` in a series point, null in an empty bucket (the chart leaves a gap). */
export const rate = (n: number, requests: number): number | null => (requests > 0 ? n / requests : null);

/**
 * A settings summary for the tables: "eenet, budget 0.3, split 2, f16", then whatever the region adds:
 * its shadow share and guard, the controller's floors, a canary, the money cap and what it holds back.
 */
export function settingsText(e: RegionView['settings']): string {
  const list = (ts: number[]) => `[${ts.map((t) => (t > 1 ? 'off' : t.toFixed(3))).join(', ')}]`;
  const how = e.thresholds
    ? `thresholds ${list(e.thresholds)}`
    : e.maxForwardRate !== undefined
      ? `max forward rate ${e.maxForwardRate}${e.solved ? `, re-solved ${list(e.solved.thresholds)} on ${e.solved.samples} inputs` : ''}`
      : `budget ${e.budget}`;
  const extra = [
    e.shadow ? `shadow ${share(e.shadow)}${e.guard ? ` (guard ${guardText(e.guard)})` : ''}` : '',
    e.guarded ? `floors ${floorsText(e.guarded.floors)}` : '',
    e.canary ? `canary ${share(e.canary.share)} ${list(e.canary.thresholds)}` : '',
    e.maxUsdPerMillion !== undefined ? `cap ${usd(e.maxUsdPerMillion)} / M` : '',
    e.capped ? `capping ${share(e.capped.share)}` : '',
  ].filter(Boolean);
  return [`${e.policy}, ${how}, split ${e.split}, ${e.encoding}`, ...extra].join(', ');
}

// --- The money cap: budget against realised ---------------------------------------------------

/** The money cap column: "$0.500 / M" (the entry's maxUsdPerMillion), "none", or "—" without an entry. */
export function moneyCapText(s: RegionView['settings'] | null | undefined): string {
  if (!s) return '—';
  return s.maxUsdPerMillion === undefined ? 'none' : `${usd(s.maxUsdPerMillion)} / M`;
}

/**
 * Whether the range's realised USD per million requests is above the region's money cap; null when
 * either is unknown (no cap, no traffic, no price).
 */
export function overCap(
  t: { cost: { actual: { value: number | null } } } | null | undefined,
  s: RegionView['settings'] | null | undefined,
): boolean | null {
  const cap = s?.maxUsdPerMillion;
  const realised = t?.cost.actual.value;
  if (cap === undefined || realised === null || realised === undefined) return null;
  return realised > cap;
}

/** Share of requests the money cap answered at the edge instead of forwarding (outcome capped); null without traffic. */
export const cappedRateOf = (t: Pick<Totals, 'requests' | 'capped'> | null | undefined): number | null =>
  t && t.requests > 0 ? (t.capped ?? 0) / t.requests : null;

/**
 * The measured capped column: "capped 12.0 % (reason budget), 14 requests" when the cap held any
 * forwards back in the range, "none" when it held none, "—" without traffic.
 */
export function cappedText(t: Pick<Totals, 'requests' | 'capped'> | null | undefined): string {
  const r = cappedRateOf(t);
  if (r === null) return '—';
  const n = t?.capped ?? 0;
  return n > 0 ? `capped ${pct(r)} (reason budget), ${count(n)} requests` : 'none';
}

/**
 * What the controller set for the cap (settings.capped): "holds 30 % of would-be forwards at the edge
 * (spend $0.412 / M, uncapped $0.618 / M over 60 min, since …)"; "not capping" with a cap it has not
 * had to enforce; "—" without a cap.
 */
export function capSetText(s: RegionView['settings'] | null | undefined): string {
  const c = s?.capped;
  if (c)
    return `holds ${share(c.share)} of would-be forwards at the edge (spend ${usd(c.spendUsdPerMillion)} / M, uncapped ${usd(c.uncappedUsdPerMillion)} / M over ${c.windowMinutes} min, since ${c.at})`;
  return s?.maxUsdPerMillion !== undefined ? 'not capping' : '—';
}

// --- Shadow verification -----------------------------------------------------------------------

/** Whether a region's entry is shadow-verified (GET /admin/regions/{key}/guard is read for it): a shadow share or a canary. */
export const needsVerification = (s: RegionView['settings']): boolean => (s.shadow ?? 0) > 0 || s.canary !== undefined;

/** The guard as promised: "≤ 1 % at 95 %" (disagreement with the backbone, Wilson confidence). */
export const guardText = (g: { maxDisagreement: number; confidence: number }): string =>
  `≤ ${share(g.maxDisagreement)} at ${share(g.confidence)}`;

/** A verdict or decision as a badge: its text and the classes that colour it (dashboard.css). */
export interface Badge {
  text: string;
  cls: string;
}
const STATUS_BADGES: Record<GuardStatus, Badge> = {
  ok: { text: 'ok', cls: 'badge ok' },
  broken: { text: '✗ broken', cls: 'badge broken' },
  unproven: { text: 'unproven', cls: 'badge unproven' },
};
/** The guard's verdict on an exit or an arm: ok, broken (marked ✗, red), unproven. */
export const statusBadge = (s: GuardStatus): Badge => STATUS_BADGES[s];

const DECISION_BADGES: Record<NonNullable<Verification['canary']>['decision'], Badge> = {
  promote: { text: 'promote', cls: 'badge promote' },
  rollback: { text: '✗ rollback', cls: 'badge rollback' },
  wait: { text: 'wait', cls: 'badge wait' },
};
/** The canary's current decision as a badge. */
export const decisionBadge = (d: NonNullable<Verification['canary']>['decision']): Badge => DECISION_BADGES[d];

/** A threshold floor as the controller set it: "none" (0 or absent), "off" (above 1: the exit is switched off), or the floor. */
export const floorText = (f: number | undefined): string =>
  f === undefined || f <= 0 ? 'none' : f > 1 ? 'off' : `≥ ${f.toFixed(3)}`;

/** The floors that bind: "exit 1 ≥ 0.950, exit 2 off"; "none" when every floor is 0. */
export function floorsText(floors: readonly number[]): string {
  const set = floors.map((f, i) => (f > 0 ? `exit ${i} ${floorText(f)}` : '')).filter(Boolean);
  return set.length ? set.join(', ') : 'none';
}

/** Disagreement of shadowed answers: "3/400 = 0.75 % [0.26 %, 2.18 %]"; "no shadowed answers" without any. */
export function disagreementText(d: number, n: number, i: { lo: number; hi: number }): string {
  if (!(n > 0)) return 'no shadowed answers';
  return `${count(d)}/${count(n)} = ${pct2(d / n)} ${interval(i)}`;
}

/** One edge exit's row of the verification table. */
export interface GuardRow {
  exit: number;
  threshold: number;
  /** The controller's floor on this exit (settings.guarded), 0 when none. */
  floor: number;
  n: number;
  disagree: number;
  /** Observed disagreement, null without shadowed answers. */
  rate: number | null;
  lo: number;
  hi: number;
  status: GuardStatus;
  badge: Badge;
  disagreement: string;
  samplesNeeded: number | null;
  /** "—" once settled; else the shadowed answers that would settle it ("1,200 (800 more)") or why none can. */
  needed: string;
}

/** The verification's per-exit rows, with the controller's floor on each (settings.guarded). */
export function guardRows(v: Verification, guarded?: Guarded | null): GuardRow[] {
  return v.exits.map((e) => ({
    exit: e.exit,
    threshold: e.threshold,
    floor: guarded?.floors[e.exit] ?? 0,
    n: e.n,
    disagree: e.disagree,
    rate: e.n > 0 ? e.disagree / e.n : null,
    lo: e.interval.lo,
    hi: e.interval.hi,
    status: e.status,
    badge: statusBadge(e.status),
    disagreement: disagreementText(e.disagree, e.n, e.interval),
    samplesNeeded: e.samplesNeeded,
    needed:
      e.status !== 'unproven'
        ? '—'
        : e.samplesNeeded === null
          ? 'cannot: observed rate at or above the guard'
          : `${count(e.samplesNeeded)} (${count(Math.max(0, e.samplesNeeded - e.n))} more)`,
  }));
}

/** One line of a verification's summary: what, its text, and the number behind it. */
export interface SummaryItem {
  item: string;
  label: string;
  text: string;
  value: number | null;
}

/** The verification's summary: the guard, the window, the shadow share, the share it needs, what shadowing costs. */
export function verificationSummary(v: Verification): SummaryItem[] {
  const needed = v.neededShadowShare;
  const neededText =
    v.shadowShare <= 0
      ? '— (nothing shadowed outside a canary)'
      : needed === null
        ? 'cannot be settled: an unproven exit disagrees at or above the guard'
        : needed === 0
          ? '0 % (no exit unproven)'
          : `${share(needed)} ${needed > v.shadowShare ? `(above the ${share(v.shadowShare)} shadowed: raise shadow)` : `(the ${share(v.shadowShare)} shadowed suffices)`}`;
  return [
    { item: 'version', label: 'version verified', text: `v${v.version}`, value: v.version },
    {
      item: 'guard',
      label: 'guard (disagreement with the backbone)',
      text: guardText(v.guard),
      value: v.guard.maxDisagreement,
    },
    { item: 'window', label: 'window', text: `last ${count(v.windowMinutes)} min`, value: v.windowMinutes },
    {
      item: 'shadowShare',
      label: 'shadow share (of confident edge answers)',
      text: share(v.shadowShare),
      value: v.shadowShare,
    },
    { item: 'neededShadowShare', label: 'shadow share needed to settle the guard', text: neededText, value: needed },
    {
      item: 'shadowUsdPerMillion',
      label: 'cost of shadowing',
      text: v.shadowUsdPerMillion === null ? '—' : `${usd(v.shadowUsdPerMillion)} / M requests`,
      value: v.shadowUsdPerMillion,
    },
  ];
}

/** The controller's floors and why: "exit 1 ≥ 0.950, exit 2 off (2026-12-03T…: reason)"; null without floors. */
export function guardedText(g: Guarded | null | undefined): string | null {
  return g ? `${floorsText(g.floors)} (set ${g.at}: ${g.reason})` : null;
}

/** One arm of a canary comparison: its forward rate and its shadowed answers' disagreement, both with intervals. */
export interface ArmRow {
  arm: 'stable' | 'canary';
  requests: number;
  forwardRate: number | null;
  /** Wilson interval of the forward rate at the guard's confidence. */
  forwardInterval: { lo: number; hi: number };
  forward: string;
  shadowed: number;
  disagree: number;
  rate: number | null;
  lo: number;
  hi: number;
  disagreement: string;
  status: GuardStatus;
  badge: Badge;
}

/** The stable arm and, with a canary, the canary's. */
export function armRows(v: Verification): ArmRow[] {
  const z = zFor(v.guard.confidence);
  const row = (arm: ArmRow['arm'], a: ArmView): ArmRow => {
    const fi = wilson(a.forwarded, a.requests, z);
    return {
      arm,
      requests: a.requests,
      forwardRate: a.forwardRate,
      forwardInterval: { lo: fi.lo, hi: fi.hi },
      forward: a.requests > 0 ? `${pct(a.forwarded / a.requests)} ${intervalPct(fi)}` : '—',
      shadowed: a.shadowed,
      disagree: a.disagree,
      rate: a.shadowed > 0 ? a.disagree / a.shadowed : null,
      lo: a.interval.lo,
      hi: a.interval.hi,
      disagreement: disagreementText(a.disagree, a.shadowed, a.interval),
      status: a.status,
      badge: statusBadge(a.status),
    };
  };
  return [row('stable', v.stable), ...(v.canary ? [row('canary', v.canary)] : [])];
}
const intervalPct = (i: { lo: number; hi: number }) => `[${pct(i.lo)}, ${pct(i.hi)}]`;

/**
 * core/regions.ts's CANARY_MIN_SAMPLES and CANARY_SHADOW_DEFAULT, restated: importing that module would
 * bundle zod into the page (tests/unit/dashboard-view.test.ts checks they agree).
 */
export const CANARY_DEFAULTS = { minSamples: 200, shadow: 0.5 } as const;

/**
 * The canary line: "10 % of requests since 2026-…, thresholds [0.900, off], shadow 50 % (default),
 * decided after 200 shadowed answers (default)"; null without a canary.
 */
export function canaryText(s: RegionView['settings'], v?: Verification | null): string | null {
  const c = s.canary;
  if (!c) return null;
  const list = `[${c.thresholds.map((t) => (t > 1 ? 'off' : t.toFixed(3))).join(', ')}]`;
  const started = v?.canary?.startedAt ?? c.startedAt;
  const shadow = c.shadow === undefined ? `${share(CANARY_DEFAULTS.shadow)} (default)` : share(c.shadow);
  const min =
    c.minSamples === undefined
      ? `${count(CANARY_DEFAULTS.minSamples)} shadowed answers (default)`
      : `${count(c.minSamples)} shadowed answers`;
  return `${share(c.share)} of requests${started ? ` since ${started}` : ' (not started yet)'}, thresholds ${list}, shadow ${shadow}, decided after ${min}`;
}

// --- The history's events ----------------------------------------------------------------------

const EVENT_BADGES: Record<NonNullable<RegionEntry['event']>['kind'], Badge> = {
  resolve: { text: 're-solve', cls: 'badge resolve' },
  guard: { text: 'guard', cls: 'badge guard' },
  'canary-promote': { text: 'promote', cls: 'badge promote' },
  'canary-rollback': { text: 'rollback', cls: 'badge rollback' },
  cap: { text: 'cap', cls: 'badge cap' },
};

/**
 * Why a version was written, as a badge and its reason: the controller's event (re-solve, guard,
 * canary promote or rollback, cap), an operator's rollback, or null for an operator's write.
 */
export function eventBadge(
  v: Pick<RegionEntry, 'event' | 'rolledBackTo'>,
): (Badge & { kind: string; reason: string }) | null {
  if (v.event) return { ...EVENT_BADGES[v.event.kind], kind: v.event.kind, reason: v.event.reason };
  if (v.rolledBackTo)
    return {
      text: `rollback to v${v.rolledBackTo}`,
      cls: 'badge rollback',
      kind: 'rollback',
      reason: 'operator rollback',
    };
  return null;
}
