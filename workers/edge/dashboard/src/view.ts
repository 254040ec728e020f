/**
 * What the dashboard shows, derived from the API's answers: one row per region key (its traffic, its
 * entry's version and settings, the frontier point it runs at), the points to mark on a policy's
 * frontier, and the exit distribution. Pure, no DOM: tests/unit/dashboard-view.test.ts checks it.
 */
import type { FrontierView, Metrics, OperatingPoint, RegionView, Totals } from './api.js';

export interface RegionRow {
  key: string;
  /** The range's totals for this key; null when it had no decisions in the range. */
  traffic: Totals | null;
  /** Its entry (current version); null when none is set: the key then runs at the bundle's default. */
  entry: RegionView | null;
  /** The frontier point its decisions follow: the entry's resolved point, or the bundle's default. */
  point: (OperatingPoint & { policy: string }) | null;
  /** Where `point` comes from. */
  pointFrom: RegionView['resolved']['from'] | 'bundle default' | 'none';
}

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
      return { key, traffic, entry, point, pointFrom: point ? entry.resolved.from : 'none' };
    }
    return { key, traffic, entry: null, point: fallback, pointFrom: fallback ? 'bundle default' : 'none' };
  });
}

/** The rows whose point lies on `policy`'s frontier, for marking on that chart. */
export const pointsOn = (rows: readonly RegionRow[], policy: string): RegionRow[] =>
  rows.filter((r) => r.point && r.point.policy === policy);

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
