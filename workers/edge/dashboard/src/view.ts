/**
 * What the dashboard shows, derived from the API's answers: one row per region key (its traffic, its
 * entry's version and settings, its budget and the controller's re-solve of a forward-rate budget,
 * the frontier point it runs at, or the live re-solve between points), the points to mark on a
 * policy's frontier, and the exit distribution. Pure, no DOM: tests/unit/dashboard-view.test.ts checks it.
 */
import type { FrontierView, Metrics, OperatingPoint, RegionView, Totals } from './api.js';
import { count, share } from './format.js';

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

/** A settings summary for the tables: "eenet, budget 0.3, split 2, f16". */
export function settingsText(e: RegionView['settings']): string {
  const list = (ts: number[]) => `[${ts.map((t) => (t > 1 ? 'off' : t.toFixed(3))).join(', ')}]`;
  const how = e.thresholds
    ? `thresholds ${list(e.thresholds)}`
    : e.maxForwardRate !== undefined
      ? `max forward rate ${e.maxForwardRate}${e.solved ? `, re-solved ${list(e.solved.thresholds)} on ${e.solved.samples} inputs` : ''}`
      : `budget ${e.budget}`;
  return `${e.policy}, ${how}, split ${e.split}, ${e.encoding}`;
}
