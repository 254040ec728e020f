/**
 * The operator CLI's text output: aligned columns, and the words for region entries, what they
 * resolve to, and frontier points.
 *
 * @example
 * table([['KEY', 'VERSION'], ['colo:LHR', '3']], ['l', 'r']); // "KEY       VERSION\ncolo:LHR        3"
 */
import type { FrontierView, OperatingPoint, Resolved } from '../../core/operating-points.js';
import type { RegionEntry } from '../../core/regions.js';

/** Rows as aligned text columns (the first row is the header); `align` per column, left by default. */
export function table(rows: readonly (readonly string[])[], align: readonly ('l' | 'r')[] = []): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, c) => (align[c] === 'r' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)} %`;
/** Per-exit thresholds: 4 decimals, `off` above 1. */
export const thresholdsText = (t: readonly number[]) => t.map((x) => (x > 1 ? 'off' : x.toFixed(4))).join(', ');

/** `eenet #12 (default, certified)`. */
export function pointName(policy: string, p: OperatingPoint): string {
  const tags = [p.default ? 'default' : '', p.certified ? 'certified' : ''].filter(Boolean);
  return `${policy} #${p.index}${tags.length ? ` (${tags.join(', ')})` : ''}`;
}

/** Label/value rows of what an entry resolves to. */
export function resolvedRows(r: Resolved, split: number): [string, string][] {
  if (r.problems.length) return [['resolved', `does not fit the bundle (the edge skips it): ${r.problems.join('; ')}`]];
  const rows: [string, string][] = [['applied thresholds', thresholdsText(r.thresholds ?? [])]];
  const p = r.point;
  if (!p) {
    rows.push(['frontier point', 'none: these thresholds are not a calibrated point (no expected figures)']);
    return rows;
  }
  rows.push(
    ['frontier point', pointName(p.policy, p)],
    ['expected accuracy', `${pct(p.accuracy)} (validation)`],
    ['expected cost', `${pct(p.cost)} of the backbone`],
    ['edge share', `${pct(p.edgeShare, 1)} answered at the edge (split ${split})`],
  );
  return rows;
}

/** Label/value rows of an entry and what it resolves to. */
export function entryText(e: RegionEntry & { key: string; resolved?: Resolved }): string {
  const s = e.settings;
  const rows: [string, string][] = [
    ['key', e.key],
    ['version', String(e.version)],
    ['updated', e.updatedAt],
    ...(e.rolledBackTo ? ([['rolled back to', `version ${e.rolledBackTo}`]] as [string, string][]) : []),
    ['policy', s.policy],
    s.thresholds
      ? ['thresholds', thresholdsText(s.thresholds)]
      : ['budget', `${s.budget} (${pct(s.budget!)} of the backbone)`],
    ['split', String(s.split)],
    ['encoding', s.encoding],
    ...(s.note ? ([['note', s.note]] as [string, string][]) : []),
    ...(e.resolved ? resolvedRows(e.resolved, s.split) : []),
  ];
  return table(rows);
}

/** A frontier as one table per policy (or only `policy`'s). */
export function frontierText(f: FrontierView, policy?: string): string {
  const head = `bundle ${f.bundle}: backbone accuracy ${pct(f.backboneAccuracy)} (validation); default policy ${f.defaultPolicy}; edge share at the default split (${f.defaultSplit} of ${f.segments} segments)`;
  const rows: string[][] = [['POLICY', '#', 'COST', 'ACCURACY', 'EDGE', 'CERTIFIED', 'DEFAULT', 'THRESHOLDS']];
  for (const [name, points] of Object.entries(f.policies)) {
    if (policy && name !== policy) continue;
    for (const p of points)
      rows.push([
        name,
        String(p.index),
        pct(p.cost),
        pct(p.accuracy),
        pct(p.edgeShare, 1),
        p.certified ? 'yes' : 'no',
        p.default ? 'default' : '',
        thresholdsText(p.thresholds),
      ]);
  }
  return `${head}\n\n${table(rows, ['l', 'r', 'r', 'r', 'r', 'l', 'l', 'l'])}`;
}
