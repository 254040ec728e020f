/**
 * The operator CLI's text output: aligned columns, and the words for region entries (thresholds, a
 * cost budget or a forward-rate budget and the controller's re-solve of it), what they resolve to,
 * and frontier points.
 *
 * @example
 * table([['KEY', 'VERSION'], ['colo:LHR', '3']], ['l', 'r']); // "KEY       VERSION\ncolo:LHR        3"
 */
import type { FrontierView, OperatingPoint, Resolved } from '../../core/operating-points.js';
import { EXPLORE_DEFAULT, type RegionEntry, type RegionSettings, type Solved } from '../../core/regions.js';

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

/** A Wilson interval as percentages: `23.10 % to 28.00 %`. */
export const intervalText = (i: { lo: number; hi: number }) => `${pct(i.lo)} to ${pct(i.hi)}`;

/** Whether a re-solve met its budget, in words. */
export const metText = (met: boolean) => (met ? 'met' : 'not met: the accuracy guard stopped it before the budget');

/** What a region's exit policy is given as, in one phrase: `thresholds …`, `budget 0.2`, `max forward rate 0.25, …`. */
export function givenText(s: RegionSettings): string {
  if (s.thresholds) return thresholdsText(s.thresholds);
  if (s.maxForwardRate !== undefined)
    return `max forward rate ${s.maxForwardRate}${s.solved ? `, re-solved: ${pct(s.solved.forwardRate)} on ${s.solved.samples} inputs` : ''}`;
  return `budget ${s.budget}`;
}

/**
 * Label/value rows of what an entry resolves to. `solved` (the entry's settings.solved) gives the
 * expected figures of a live re-solve whose thresholds lie between calibrated points (no `point`).
 */
export function resolvedRows(r: Resolved, split: number, solved?: Solved): [string, string][] {
  if (r.problems.length) return [['resolved', `does not fit the bundle (the edge skips it): ${r.problems.join('; ')}`]];
  const rows: [string, string][] = [['applied thresholds', thresholdsText(r.thresholds ?? [])]];
  const p = r.point;
  if (!p && r.from === 'live' && solved) {
    rows.push(
      ['frontier point', `live re-solve (λ=${solved.lambda.toFixed(3)}), between calibrated points`],
      ['expected accuracy', `${pct(solved.expectedAccuracy)} (validation, along the frontier path)`],
      ['expected cost', `${pct(solved.expectedCost)} of the backbone`],
      ['edge share', `${pct(1 - solved.forwardRate, 1)} answered at the edge on the explored inputs (split ${split})`],
    );
    return rows;
  }
  if (!p) {
    rows.push(['frontier point', 'none: these thresholds are not a calibrated point (no expected figures)']);
    return rows;
  }
  const how =
    r.from === 'forwardRate'
      ? ': the validation point within the forward-rate budget, until the controller re-solves'
      : r.from === 'live'
        ? ': live re-solve'
        : '';
  rows.push(
    ['frontier point', `${pointName(p.policy, p)}${how}`],
    ['expected accuracy', `${pct(p.accuracy)} (validation)`],
    ['expected cost', `${pct(p.cost)} of the backbone`],
    ['edge share', `${pct(p.edgeShare, 1)} answered at the edge (split ${split})`],
  );
  return rows;
}

/** Label/value rows of how the entry gives its exit policy (and, for a forward-rate budget, its exploration and re-solve). */
function givenRows(s: RegionSettings): [string, string][] {
  if (s.thresholds) return [['thresholds', thresholdsText(s.thresholds)]];
  const explore: [string, string][] =
    s.maxForwardRate !== undefined || s.explore !== undefined
      ? [
          [
            'explore',
            `${pct(s.explore ?? (s.maxForwardRate !== undefined ? EXPLORE_DEFAULT : 0))} of requests scored at every edge exit for the controller${s.explore === undefined ? ' (default)' : ''}`,
          ],
        ]
      : [];
  if (s.maxForwardRate === undefined)
    return [['budget', `${s.budget} (${pct(s.budget!)} of the backbone)`], ...explore];
  const solved = s.solved;
  return [
    ['max forward rate', `${s.maxForwardRate} (at most ${pct(s.maxForwardRate)} of requests forwarded to the backend)`],
    ...explore,
    [
      're-solved',
      solved
        ? `${solved.at} on ${solved.samples} explored inputs: forwards ${pct(solved.forwardRate)} (95 % interval ${intervalText(solved.interval)}), budget ${metText(solved.met)}`
        : 'not yet (the validation point within the budget applies until the controller re-solves on explored traffic)',
    ],
  ];
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
    ...givenRows(s),
    ['split', String(s.split)],
    ['encoding', s.encoding],
    ...(s.note ? ([['note', s.note]] as [string, string][]) : []),
    ...(e.resolved ? resolvedRows(e.resolved, s.split, s.solved) : []),
  ];
  return table(rows);
}

/** Label/value rows of a re-solve (settings.solved) against its forward-rate budget. */
export function solvedRows(solved: Solved, maxForwardRate: number | undefined): [string, string][] {
  return [
    ['samples', `${solved.samples} explored inputs (solved ${solved.at})`],
    [
      'forward rate',
      `${pct(solved.forwardRate)} (95 % interval ${intervalText(solved.interval)})${maxForwardRate === undefined ? '' : `; budget ${pct(maxForwardRate)}`}`,
    ],
    ['budget', metText(solved.met)],
    [
      'expected accuracy',
      `${pct(solved.expectedAccuracy)} (validation, frontier path at λ=${solved.lambda.toFixed(3)})`,
    ],
    ['expected cost', `${pct(solved.expectedCost)} of the backbone`],
    ['thresholds', thresholdsText(solved.thresholds)],
  ];
}

/** What `regions resolve` prints: the new version (then `note`, e.g. that KV has yet to take it) and what the re-solve found. */
export function resolveText(e: RegionEntry & { key: string }, note = ''): string {
  const s = e.settings;
  const head = `re-solved ${e.key}: version ${e.version}${note}`;
  if (!s.solved) return `${head} (no solution recorded)`;
  return `${head}\n\n${table(solvedRows(s.solved, s.maxForwardRate))}`;
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

/** A figure as GET /v1/metrics answers it (core/cost-model.ts's Figure). */
interface FigureView {
  value: number | null;
  unit: string;
  assumptions: string[];
  reason?: string;
  items?: Record<string, FigureView>;
}
interface TotalsView {
  requests: number;
  edge: number;
  forwarded: number;
  degraded: number;
  errors: number;
  edgeRate: number | null;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  /** Answered decisions per exit index (the bundle's exit count is the final head's). */
  exits?: Record<string, number>;
  cost: {
    actual: FigureView;
    counterfactuals: { allOnGpu: FigureView; fullModelAtEdge: FigureView; workersAiResnet50: FigureView };
    assumptions: string[];
  };
}
/** The parts of GET /v1/metrics's answer the CLI prints. */
export interface MetricsView {
  from: string;
  to: string;
  step: string;
  region: string | null;
  model: string;
  totals: TotalsView;
  byRegion: Record<string, TotalsView>;
  series: {
    time: string;
    requests: number;
    edge: number;
    forwarded: number;
    degraded: number;
    errors: number;
    p95Ms: number | null;
  }[];
}

const msText = (x: number | null) => (x === null ? '-' : `${x} ms`);
const usd = (f: FigureView) => (f.value === null ? `- (${f.reason ?? 'n/a'})` : `$${f.value.toFixed(4)}`);

/** Totals and per-region rows, then the series. */
export function metricsText(m: MetricsView): string {
  const rows = [['REGION', 'REQUESTS', 'EDGE', 'FORWARDED', 'DEGRADED', 'ERRORS', 'EDGE RATE', 'P50', 'P95', 'P99']];
  const line = (name: string, t: TotalsView) =>
    rows.push([
      name,
      String(t.requests),
      String(t.edge),
      String(t.forwarded),
      String(t.degraded),
      String(t.errors),
      t.edgeRate === null ? '-' : pct(t.edgeRate, 1),
      msText(t.latencyMs.p50),
      msText(t.latencyMs.p95),
      msText(t.latencyMs.p99),
    ]);
  for (const [k, t] of Object.entries(m.byRegion)) line(k, t);
  line('total', m.totals);
  const series = [['TIME', 'REQUESTS', 'EDGE', 'FORWARDED', 'DEGRADED', 'ERRORS', 'P95']];
  for (const p of m.series.filter((p) => p.requests > 0))
    series.push([
      p.time,
      String(p.requests),
      String(p.edge),
      String(p.forwarded),
      String(p.degraded),
      String(p.errors),
      msText(p.p95Ms),
    ]);
  const R = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'] as const;
  const exits = Object.entries(m.totals.exits ?? {});
  return [
    `${m.from} to ${m.to}${m.region ? `, region ${m.region}` : ''}, step ${m.step} (latency: upper bound of the histogram bucket holding the quantile)`,
    '',
    table(rows, R),
    ...(exits.length
      ? [
          '',
          `answered per exit (the highest index is the final head): ${exits.map(([k, n]) => `exit ${k} ${n}`).join(', ')}`,
        ]
      : []),
    '',
    series.length > 1 ? table(series, R) : 'no decisions in the range',
  ].join('\n');
}

/** The cost part of the answer, per region and overall (for --json). */
export function costJson(m: MetricsView) {
  return {
    from: m.from,
    to: m.to,
    model: m.model,
    totals: m.totals.cost,
    byRegion: Object.fromEntries(Object.entries(m.byRegion).map(([k, t]) => [k, t.cost])),
  };
}

/** USD per million requests: the actual mix against the counterfactuals, per region and overall. */
export function costText(m: MetricsView): string {
  const rows = [['REGION', 'REQUESTS', 'ACTUAL', 'ALL ON GPU', 'FULL MODEL AT EDGE', 'WORKERS AI RESNET-50']];
  const line = (name: string, t: TotalsView) => {
    const c = t.cost.counterfactuals;
    rows.push([
      name,
      String(t.requests),
      usd(t.cost.actual),
      usd(c.allOnGpu),
      usd(c.fullModelAtEdge),
      usd(c.workersAiResnet50),
    ]);
  };
  for (const [k, t] of Object.entries(m.byRegion)) line(k, t);
  line('total', m.totals);
  const items = Object.entries(m.totals.cost.actual.items ?? {}).map(([k, f]) => `${k} ${usd(f)}`);
  return [
    `${m.from} to ${m.to}${m.region ? `, region ${m.region}` : ''}: ${m.totals.cost.actual.unit}; ${m.model}`,
    '',
    table(rows, ['l', 'r', 'r', 'r', 'r', 'r']),
    '',
    `actual, by item: ${items.join(', ') || '-'}`,
    '',
    'Assumptions:',
    ...m.totals.cost.assumptions.map((a) => `  - ${a}`),
  ].join('\n');
}
