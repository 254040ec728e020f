/**
 * The operator CLI's text output: aligned columns, and the words for region entries (thresholds, a
 * cost budget or a forward-rate budget and the controller's re-solve of it; shadow verification, its
 * guard and floors, a canary, a money cap), what they resolve to, their history (with the
 * controller's event per version), the controller's verification (regions guard / verify), and
 * frontier points.
 *
 * @example
 * table([['KEY', 'VERSION'], ['colo:LHR', '3']], ['l', 'r']); // "KEY       VERSION\ncolo:LHR        3"
 */
import type { FrontierView, OperatingPoint, Resolved } from '../../core/operating-points.js';
import {
  CANARY_MIN_SAMPLES,
  CANARY_SHADOW_DEFAULT,
  EXPLORE_DEFAULT,
  type RegionEntry,
  type RegionSettings,
  type Solved,
} from '../../core/regions.js';
import { DEFAULT_GUARD } from '../../core/shadow.js';
import type { Verification } from '../../workers/edge/src/thresholds/region-entries.js';

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

/** Per-exit threshold floors (settings.guarded): `-` none, `off` (2), else 4 decimals. */
export const floorsText = (f: readonly number[]) =>
  f.map((x) => (x > 1 ? 'off' : x > 0 ? x.toFixed(4) : '-')).join(', ');

/** `$0.1234`, or `-` (null or absent). */
export const usdText = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `$${x.toFixed(4)}`);

/** A guard in words: `disagreement with the backbone at most 1.00 % at 95 % confidence`. */
export const guardText = (g: { maxDisagreement: number; confidence: number }) =>
  `disagreement with the backbone at most ${pct(g.maxDisagreement)} at ${pct(g.confidence, 0)} confidence`;

/** A canary in one phrase: its share, thresholds, shadow share, minimum samples and start. */
export function canaryText(c: NonNullable<RegionSettings['canary']>): string {
  return [
    `${pct(c.share)} of requests at ${thresholdsText(c.thresholds)}`,
    `${pct(c.shadow ?? CANARY_SHADOW_DEFAULT)} of its confident answers shadowed${c.shadow === undefined ? ' (default)' : ''}`,
    `judged after ${c.minSamples ?? CANARY_MIN_SAMPLES} shadowed answers${c.minSamples === undefined ? ' (default)' : ''}`,
    ...(c.startedAt ? [`started ${c.startedAt}`] : []),
  ].join('; ');
}

/**
 * Label/value rows of the controller's settings on an entry: shadow share and guard (the guard also
 * when only a canary shadows), floors a broken guard set, the canary, the money cap and what it holds back.
 */
export function controllerRows(s: RegionSettings): [string, string][] {
  const rows: [string, string][] = [];
  if (s.shadow !== undefined)
    rows.push(['shadow', `${pct(s.shadow)} of confident edge answers re-answered by the full model`]);
  if (s.shadow !== undefined || s.guard || s.canary)
    rows.push(['guard', `${guardText(s.guard ?? DEFAULT_GUARD)}${s.guard ? '' : ' (default)'}`]);
  if (s.guarded) rows.push(['guard floors', `${floorsText(s.guarded.floors)} (${s.guarded.at}: ${s.guarded.reason})`]);
  if (s.canary) rows.push(['canary', canaryText(s.canary)]);
  if (s.maxUsdPerMillion !== undefined) rows.push(['money cap', `${usdText(s.maxUsdPerMillion)} per million requests`]);
  if (s.capped) {
    const c = s.capped;
    rows.push([
      'capped',
      `${pct(c.share)} of would-be forwards answered at the edge (degraded, reason "budget"), since ${c.at}: spend ${usdText(c.spendUsdPerMillion)}/M, uncapped ${usdText(c.uncappedUsdPerMillion)}/M over the last ${c.windowMinutes} min`,
    ]);
  }
  return rows;
}

/** A controller's event in one phrase: `canary-promote: …`. */
export const eventText = (e: RegionEntry['event']) => (e ? `${e.kind}: ${e.reason}` : '');

/** Label/value rows of an entry and what it resolves to. */
export function entryText(e: RegionEntry & { key: string; resolved?: Resolved }): string {
  const s = e.settings;
  const rows: [string, string][] = [
    ['key', e.key],
    ['version', String(e.version)],
    ['updated', e.updatedAt],
    ...(e.rolledBackTo ? ([['rolled back to', `version ${e.rolledBackTo}`]] as [string, string][]) : []),
    ...(e.event ? ([['event', eventText(e.event)]] as [string, string][]) : []),
    ['policy', s.policy],
    ...givenRows(s),
    ['split', String(s.split)],
    ['encoding', s.encoding],
    ...controllerRows(s),
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

/**
 * Every version of a region entry, oldest first: how it gives its exit policy, its canary, the
 * version it rolled back to, its note, and (last, unpadded: the reasons are long) the controller's
 * event that wrote it.
 */
export function historyText(key: string, versions: readonly RegionEntry[]): string {
  if (!versions.length) return `region ${key} has no history`;
  const rows = [
    [
      'VERSION',
      'UPDATED',
      'POLICY',
      'THRESHOLDS / BUDGET',
      'SPLIT',
      'ENCODING',
      'CANARY',
      'ROLLED BACK TO',
      'NOTE',
      'EVENT',
    ],
  ];
  for (const e of versions) {
    const s = e.settings;
    rows.push([
      String(e.version),
      e.updatedAt,
      s.policy,
      givenText(s),
      String(s.split),
      s.encoding,
      s.canary ? `${pct(s.canary.share, 0)} at ${thresholdsText(s.canary.thresholds)}` : '',
      e.rolledBackTo ? String(e.rolledBackTo) : '',
      s.note ?? '',
      eventText(e.event),
    ]);
  }
  return table(rows, ['r', 'l', 'l', 'l', 'r']);
}

/** GET /admin/regions/{key}/guard's and POST …/verify's answer. */
export type VerificationView = Verification;
type ArmView = Verification['stable'];
type IntervalView = ArmView['interval'];

/** A disagreement and its interval: `0.83 % [0.15 %, 4.57 %]`; `- [0.00 %, 100.00 %]` without samples. */
export const disagreementText = (i: IntervalView) => `${i.p === null ? '-' : pct(i.p)} [${pct(i.lo)}, ${pct(i.hi)}]`;

/** The shadow share the guard needs, in words. */
function neededText(v: VerificationView): string {
  if (v.shadowShare === 0) return 'unknown: nothing is shadowed (regions set <key> --shadow=<share>)';
  if (v.neededShadowShare === null)
    return 'cannot be reached: an unproven exit disagrees at or above the guard at its observed rate';
  if (v.neededShadowShare === 0) return 'none: no exit is unproven';
  const more = v.neededShadowShare > v.shadowShare ? ` (above the current ${pct(v.shadowShare)})` : '';
  return `${pct(v.neededShadowShare)} to settle the unproven exits within ${v.windowMinutes} min${more}`;
}

/**
 * What `regions guard` prints (and `regions verify`, with `verified` set: then the action taken, or
 * "no change"): per edge exit its shadowed answers at or above its threshold, the disagreement with
 * its interval and the guard's status; the guard; the shadow share, the share needed and its cost;
 * the stable and canary arms; the canary's decision and why.
 */
export function verificationText(key: string, v: VerificationView, verified = false): string {
  const conf = pct(v.guard.confidence, 0);
  const exits = [['EXIT', 'THRESHOLD', 'N', 'DISAGREED', `DISAGREEMENT [${conf} INTERVAL]`, 'STATUS', 'NEEDED']];
  for (const e of v.exits)
    exits.push([
      String(e.exit),
      thresholdsText([e.threshold]),
      String(e.n),
      String(e.disagree),
      disagreementText(e.interval),
      e.status,
      e.status === 'unproven' ? (e.samplesNeeded === null ? 'cannot' : String(e.samplesNeeded)) : '',
    ]);
  const arms = [
    [
      'ARM',
      'SHARE',
      'REQUESTS',
      'EDGE',
      'FORWARDED',
      'FORWARD RATE',
      'SHADOWED',
      'DISAGREED',
      'DISAGREEMENT',
      'STATUS',
    ],
  ];
  const arm = (name: string, share: number, a: ArmView) =>
    arms.push([
      name,
      pct(share),
      String(a.requests),
      String(a.edge),
      String(a.forwarded),
      a.forwardRate === null ? '-' : pct(a.forwardRate),
      String(a.shadowed),
      String(a.disagree),
      disagreementText(a.interval),
      a.status,
    ]);
  arm('stable', 1 - (v.canary?.share ?? 0), v.stable);
  if (v.canary) arm('canary', v.canary.share, v.canary);
  const rows: [string, string][] = [
    ['guard', guardText(v.guard)],
    ['shadow share', `${pct(v.shadowShare)} of confident edge answers`],
    ['needed share', neededText(v)],
    [
      'shadow cost',
      v.shadowUsdPerMillion === null ? '- (not known)' : `${usdText(v.shadowUsdPerMillion)} per million requests`,
    ],
  ];
  const canary: [string, string][] = v.canary
    ? [
        ['canary', `${pct(v.canary.share)} of requests since ${v.canary.startedAt}`],
        ['canary decision', `${v.canary.decision}: ${v.canary.reason}`],
      ]
    : [['canary', 'none']];
  if (verified)
    canary.push([
      'action',
      v.action
        ? `${v.action.kind}: ${v.action.reason}${v.action.version === null ? ' (not written)' : ` (new version ${v.action.version})`}`
        : 'no change',
    ]);
  const assumptions = v.shadowUsdPerMillion === null ? [] : v.costAssumptions;
  return [
    `shadow verification of ${key}, version ${v.version}, last ${v.windowMinutes} min`,
    '',
    v.exits.length ? table(exits, ['r', 'r', 'r', 'r', 'r', 'l', 'r']) : 'no edge exit is on',
    '',
    table(rows),
    '',
    table(arms, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
    '',
    table(canary),
    ...(assumptions.length ? ['', 'Shadow cost assumptions:', ...assumptions.map((a) => `  - ${a}`)] : []),
  ].join('\n');
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
  /** Would-be forwards the money cap answered at the edge (not in edge or degraded); absent from older workers' answers. */
  capped?: number;
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
    capped?: number;
    errors: number;
    p95Ms: number | null;
  }[];
}

const msText = (x: number | null) => (x === null ? '-' : `${x} ms`);
const usd = (f: FigureView) => (f.value === null ? `- (${f.reason ?? 'n/a'})` : `$${f.value.toFixed(4)}`);

/** Totals and per-region rows, then the series; a CAPPED column (the money cap's) after DEGRADED when the answer counts them. */
export function metricsText(m: MetricsView): string {
  const capped = m.totals.capped !== undefined;
  const c = (n: number | undefined) => (capped ? [String(n ?? 0)] : []);
  const rows = [
    [
      'REGION',
      'REQUESTS',
      'EDGE',
      'FORWARDED',
      'DEGRADED',
      ...(capped ? ['CAPPED'] : []),
      'ERRORS',
      'EDGE RATE',
      'P50',
      'P95',
      'P99',
    ],
  ];
  const line = (name: string, t: TotalsView) =>
    rows.push([
      name,
      String(t.requests),
      String(t.edge),
      String(t.forwarded),
      String(t.degraded),
      ...c(t.capped),
      String(t.errors),
      t.edgeRate === null ? '-' : pct(t.edgeRate, 1),
      msText(t.latencyMs.p50),
      msText(t.latencyMs.p95),
      msText(t.latencyMs.p99),
    ]);
  for (const [k, t] of Object.entries(m.byRegion)) line(k, t);
  line('total', m.totals);
  const series = [
    ['TIME', 'REQUESTS', 'EDGE', 'FORWARDED', 'DEGRADED', ...(capped ? ['CAPPED'] : []), 'ERRORS', 'P95'],
  ];
  for (const p of m.series.filter((p) => p.requests > 0))
    series.push([
      p.time,
      String(p.requests),
      String(p.edge),
      String(p.forwarded),
      String(p.degraded),
      ...c(p.capped),
      String(p.errors),
      msText(p.p95Ms),
    ]);
  const R = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'] as const;
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
    ...(capped && m.totals.capped
      ? ['', 'capped: would-be forwards the money cap (maxUsdPerMillion) answered at the edge, flagged reason "budget"']
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
