/**
 * Reading the decision rows back (GET /v1/metrics, routes/metrics.ts): pure query building and
 * result assembly; the D1 I/O is d1-store.ts's `readBuckets`. Every decision lives in exactly one
 * table at a time (the roll-up moves minute rows into hour rows in one transaction), so a query
 * reads the minute rows of its range from `decisions` and, when the range starts before the roll-up
 * horizon (whole hours older than METRICS_ROLLUP_AFTER_HOURS), the hour rows from `decisions_hourly`,
 * and adds them: nothing is counted twice. Hour rows have hour resolution: one is counted whole when
 * the range covers part of its hour, and falls in the step bucket of its hour's start.
 *
 * @example
 * const plan = planQuery({ fromMs, toMs, stepSeconds: 300, region: null, nowMs: Date.now(), rollupAfterHours: 48 });
 * const summary = summarise(await readBuckets(env.METRICS, plan), plan, (t) => costOf(t));
 */
import type { DecisionTotals } from '../../../../core/cost-model.js';
import { BUCKET_BOUNDS_MS, BUCKETS, type Outcome } from './aggregate.js';

/** The steps a query may ask for, in seconds. */
export const STEPS = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '6h': 21_600, '1d': 86_400 } as const;
export type Step = keyof typeof STEPS;
/** Most step buckets one query answers (a day of minutes, a bit over two months of hours). */
export const MAX_POINTS = 1500;

/** The default step for a range: the finest that keeps the series under ~300 points. */
export function defaultStep(rangeSeconds: number): Step {
  if (rangeSeconds <= 6 * 3600) return '1m';
  if (rangeSeconds <= 24 * 3600) return '5m';
  if (rangeSeconds <= 14 * 86_400) return '1h';
  return '1d';
}

/**
 * A timestamp as a query parameter gives it: ISO 8601 (with a zone or `Z`) or epoch milliseconds
 * (digits only). null when it is neither.
 */
export function parseTime(s: string): number | null {
  if (/^\d{1,15}$/.test(s)) return Number(s);
  if (!/^\d{4}-\d{2}-\d{2}(T|$)/.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
}

export interface QueryInput {
  fromMs: number;
  toMs: number;
  stepSeconds: number;
  region: string | null;
  nowMs: number;
  rollupAfterHours: number;
}

export interface Statement {
  table: 'decisions' | 'decisions_hourly';
  sql: string;
  params: (string | number)[];
}

export interface QueryPlan {
  /** Unix s: the range [from, to), from floored and to ceiled to the minute. */
  from: number;
  to: number;
  stepSeconds: number;
  region: string | null;
  /** Unix s: minute rows older than this may have been rolled into hour rows. */
  horizon: number;
  statements: Statement[];
}

const BUCKET_COLUMNS = Array.from({ length: BUCKETS }, (_, i) => `b${i}`);
const SUMS = `SUM(count) AS n, SUM(bytes) AS bytes, SUM(compute_ms) AS compute_ms, SUM(backend_ms) AS backend_ms,
SUM(total_ms) AS total_ms, COUNT(*) AS stored_rows, ${BUCKET_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}`;

/** The statements for a range: at most one per table, grouped by (step bucket, region, exit, outcome). */
export function planQuery(q: QueryInput): QueryPlan {
  const from = Math.floor(q.fromMs / 60_000) * 60;
  const to = Math.ceil(q.toMs / 60_000) * 60;
  const step = q.stepSeconds;
  const horizon = Math.floor((Math.floor(q.nowMs / 1000) - q.rollupAfterHours * 3600) / 3600) * 3600;
  const regionClause = q.region === null ? '' : ' AND region = ?4';
  const params = (lo: number): (string | number)[] => [step, lo, to, ...(q.region === null ? [] : [q.region])];
  const select = (table: Statement['table'], col: string) =>
    `SELECT (${col} / ?1) * ?1 AS bucket, region, exit, outcome, ${SUMS}
FROM ${table} WHERE ${col} >= ?2 AND ${col} < ?3${regionClause}
GROUP BY bucket, region, exit, outcome ORDER BY bucket, region, exit, outcome`;
  const statements: Statement[] = [{ table: 'decisions', sql: select('decisions', 'minute'), params: params(from) }];
  // An hour row covers [hour, hour + 3600): it overlaps the range when hour > from - 3600.
  if (from < horizon)
    statements.push({
      table: 'decisions_hourly',
      sql: select('decisions_hourly', 'hour'),
      params: params(Math.floor(from / 3600) * 3600),
    });
  return { from, to, stepSeconds: step, region: q.region, horizon, statements };
}

/** One result row of a plan's statements. */
export interface BucketRow {
  bucket: number;
  region: string;
  /** The exit that answered (the final head is index `exits`), NO_EXIT (-1) for outcome error. */
  exit: number;
  outcome: Outcome;
  n: number;
  bytes: number;
  compute_ms: number;
  backend_ms: number;
  total_ms: number;
  stored_rows: number;
  [bucketColumn: `b${number}`]: number;
}

/**
 * The q-quantile of a histogram as the upper bound (ms) of the bucket holding it: an over-estimate
 * by at most one bucket. The open last bucket (≥ 5000 ms) reads 5000 ("at least"); null when empty.
 */
export function bucketQuantile(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] ?? 0;
    if (seen >= rank) return BUCKET_BOUNDS_MS[Math.min(i, BUCKET_BOUNDS_MS.length - 1)]!;
  }
  return BUCKET_BOUNDS_MS[BUCKET_BOUNDS_MS.length - 1]!;
}

/** Counts and sums of a set of rows, before quantiles and cost. */
export interface Sums {
  requests: number;
  edge: number;
  forwarded: number;
  degraded: number;
  /** Would-be forwards the money cap answered at the edge (outcome capped). */
  capped: number;
  errors: number;
  bytesForwarded: number;
  edgeMs: number;
  backendMs: number;
  totalMs: number;
  storedRows: number;
  buckets: number[];
  /** Answered decisions per exit index (the final head's is the bundle's exit count); errors have none. */
  byExit: Record<string, number>;
}

const emptySums = (): Sums => ({
  requests: 0,
  edge: 0,
  forwarded: 0,
  degraded: 0,
  capped: 0,
  errors: 0,
  bytesForwarded: 0,
  edgeMs: 0,
  backendMs: 0,
  totalMs: 0,
  storedRows: 0,
  buckets: new Array<number>(BUCKETS).fill(0),
  byExit: {},
});

const OUTCOME_FIELD = {
  edge: 'edge',
  forwarded: 'forwarded',
  degraded: 'degraded',
  capped: 'capped',
  error: 'errors',
} as const;

function addRow(s: Sums, r: BucketRow): void {
  const n = Number(r.n) || 0;
  s.requests += n;
  const field = OUTCOME_FIELD[r.outcome];
  if (field) s[field] += n;
  s.bytesForwarded += Number(r.bytes) || 0;
  s.edgeMs += Number(r.compute_ms) || 0;
  s.backendMs += Number(r.backend_ms) || 0;
  s.totalMs += Number(r.total_ms) || 0;
  s.storedRows += Number(r.stored_rows) || 0;
  for (let i = 0; i < BUCKETS; i++) s.buckets[i]! += Number(r[`b${i}`]) || 0;
  const exit = Number(r.exit);
  if (r.outcome !== 'error' && Number.isInteger(exit) && exit >= 0) s.byExit[exit] = (s.byExit[exit] ?? 0) + n;
}

/** What the estimates of KV reads and D1 rows written say (see `decisionTotals`). */
export const KV_READS_ASSUMPTION =
  'kvReads: 0, not measured: the edge reads a region entry from KV at most once per 15 s per isolate and key (cached), which the decision rows do not record; at one isolate that is at most ~4 reads per region key and minute of traffic ($0.000002)';
export const D1_ROWS_ASSUMPTION =
  'd1RowsWritten: the decision rows stored for the range (minute and hour rows), a lower bound: each was written at least once, and more often when several isolates or flushes added to the same minute row; the roll-up writes and deletes are not counted';

/**
 * The cost model's totals for some sums. Degraded decisions were forwarded (the forward failed), so
 * they count in `forwarded` here; capped ones were answered at the edge (nothing forwarded), so in
 * `edge`, and both are flagged answers (`degraded`); `errors` are the decisions without an answer. kvReads and
 * d1RowsWritten are estimates (KV_READS_ASSUMPTION, D1_ROWS_ASSUMPTION).
 */
export function decisionTotals(s: Sums): DecisionTotals {
  return {
    requests: s.requests,
    edge: s.edge + s.capped,
    forwarded: s.forwarded + s.degraded,
    degraded: s.degraded + s.capped,
    errors: s.errors,
    edgeCpuMs: s.edgeMs,
    backendMs: s.backendMs,
    bytesForwarded: s.bytesForwarded,
    kvReads: 0,
    d1RowsWritten: s.storedRows,
  };
}

export interface Latency {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface TotalsView<C> {
  requests: number;
  edge: number;
  forwarded: number;
  degraded: number;
  /** Would-be forwards the money cap answered at the edge (flagged reason "budget"); not in `edge`. */
  capped: number;
  errors: number;
  edgeRate: number | null;
  bytesForwarded: number;
  edgeMs: number;
  backendMs: number;
  totalMs: number;
  latencyMs: Latency;
  /** Answered decisions per exit index, ascending (the final head's index is the bundle's exit count). */
  exits: Record<string, number>;
  cost: C;
}

export interface SeriesPoint {
  time: string;
  requests: number;
  edge: number;
  forwarded: number;
  degraded: number;
  capped: number;
  errors: number;
  p95Ms: number | null;
}

export interface Summary<C> {
  totals: TotalsView<C>;
  byRegion: Record<string, TotalsView<C>>;
  series: SeriesPoint[];
}

const latency = (b: readonly number[]): Latency => ({
  p50: bucketQuantile(b, 0.5),
  p95: bucketQuantile(b, 0.95),
  p99: bucketQuantile(b, 0.99),
});

function view<C>(s: Sums, cost: (s: Sums) => C): TotalsView<C> {
  return {
    requests: s.requests,
    edge: s.edge,
    forwarded: s.forwarded,
    degraded: s.degraded,
    capped: s.capped,
    errors: s.errors,
    edgeRate: s.requests > 0 ? s.edge / s.requests : null,
    bytesForwarded: s.bytesForwarded,
    edgeMs: s.edgeMs,
    backendMs: s.backendMs,
    totalMs: s.totalMs,
    latencyMs: latency(s.buckets),
    exits: Object.fromEntries(Object.entries(s.byExit).sort(([a], [b]) => Number(a) - Number(b))),
    cost: cost(s),
  };
}

/**
 * Totals, per region key and per step bucket, from the rows of a plan's statements; `cost` prices a
 * set of sums. Every step bucket of the range is in the series, empty ones with zeros.
 */
export function summarise<C>(rows: readonly BucketRow[], plan: QueryPlan, cost: (s: Sums) => C): Summary<C> {
  const total = emptySums();
  const regions = new Map<string, Sums>();
  const buckets = new Map<number, Sums>();
  const first = Math.floor(plan.from / plan.stepSeconds) * plan.stepSeconds;
  for (let t = first; t < plan.to; t += plan.stepSeconds) buckets.set(t, emptySums());
  for (const r of rows) {
    addRow(total, r);
    const reg = regions.get(r.region) ?? emptySums();
    regions.set(r.region, reg);
    addRow(reg, r);
    const b = Number(r.bucket);
    const bs = buckets.get(b) ?? emptySums(); // new: an hour row's bucket before `from`
    buckets.set(b, bs);
    addRow(bs, r);
  }
  return {
    totals: view(total, cost),
    byRegion: Object.fromEntries(
      [...regions].sort(([a], [b]) => a.localeCompare(b)).map(([k, s]) => [k, view(s, cost)]),
    ),
    series: [...buckets]
      .sort(([a], [b]) => a - b)
      .map(([t, s]) => ({
        time: new Date(t * 1000).toISOString(),
        requests: s.requests,
        edge: s.edge,
        forwarded: s.forwarded,
        degraded: s.degraded,
        capped: s.capped,
        errors: s.errors,
        p95Ms: bucketQuantile(s.buckets, 0.95),
      })),
  };
}
