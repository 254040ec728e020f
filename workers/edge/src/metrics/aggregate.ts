/**
 * Decision counters, aggregated in the isolate: every classify decision adds to one row per
 * (minute, region key, exit, outcome), the rows D1 stores (metrics/d1-store.ts upserts them, adding
 * counts to counts). Pure: no workerd or Node API, so the node tests run it as the worker does.
 *
 * A row holds the decisions' count, the bytes forwarded, the sums of edge compute, backend and total
 * milliseconds (means = sum / count), and a fixed-bucket histogram of the total milliseconds, from
 * which p50 / p95 / p99 are read (`histogramQuantile`). Buckets rather than sketches because D1 adds
 * them with `b0 = b0 + excluded.b0` in one upsert, and rows of any minutes, regions or isolates merge
 * by adding, exactly.
 *
 * Memory is bounded by rows, not decisions: adding to a row allocates nothing. Past `maxRows` (D1
 * failing for a long time: rows are kept for the retry), the oldest rows are dropped and their counts
 * added to `dropped`.
 *
 * @example
 * const agg = new Aggregator();
 * agg.add({ region: 'colo:LHR', exit: 0, outcome: 'edge', bytes: 0, computeMs: 1.2, backendMs: 0, totalMs: 3 }, Date.now());
 * const rows = agg.take(); // [{ minute: 1767225600, region: 'colo:LHR', exit: 0, outcome: 'edge', count: 1, … }]
 */

/**
 * Where a decision ended, by the path it took (what it cost), not by the answer's `degraded` flag:
 *   - edge: an edge exit answered (also when the region's thresholds were stale);
 *   - forwarded: the backend answered;
 *   - degraded: the forward failed and the edge's best answer was given (degraded: true);
 *   - capped: the region's money cap kept a would-be forward at the edge: the edge's best answer
 *     (degraded: true, reason "budget"), nothing forwarded;
 *   - error: no answer: 502/504 BACKEND_UNAVAILABLE (no edge answer to degrade to) or an unexpected
 *     500 after the region was resolved. Refused input (4xx before the region is resolved) is not a
 *     decision and is not counted; Workers' own analytics count requests by status.
 */
export const OUTCOMES = ['edge', 'forwarded', 'degraded', 'capped', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `exit` of a decision without an answer (outcome error). */
export const NO_EXIT = -1;

/** One classify decision, as classify.ts records it. */
export interface Decision {
  /** The resolved region key (`colo:LHR`, …, `default`): bounded by the region entries in KV. */
  region: string;
  /** The exit that answered (the backend's for forwarded), NO_EXIT for outcome error. */
  exit: number;
  outcome: Outcome;
  /** Bytes of the forward's body (forwarded, degraded, error after a forward), else 0. */
  bytes: number;
  /** The edge's own inference. */
  computeMs: number;
  /** The forward's round trip, 0 when nothing was forwarded. */
  backendMs: number;
  /** Arrival to answer. */
  totalMs: number;
}

/**
 * Upper bounds (exclusive, ms) of the latency histogram's buckets; one more bucket holds ≥ the last.
 * Roughly log-spaced, 1-2-3-5-8 per decade (each bound 1.5-1.67× the one before, 2× for the first): a
 * quantile read from it is within one bucket, a factor ≤ 1.67, of the true one, and interpolation
 * inside the bucket does better. Why this range: edge answers take 1-50 ms (README, bench:edge; a
 * deployed Worker's clock does not advance during pure CPU, so many read 0 ms: the first bucket is
 * [0, 1)), forwards tens to hundreds of ms, and a forward that times out ~1.5 s (BACKEND_TIMEOUT_MS)
 * or more; ≥ 5 s is only ever trouble and needs no finer split. 20 buckets = columns b0..b19 in D1
 * (workers/edge/migrations/0001_decisions.sql: change both together, in a new migration).
 */
export const BUCKET_BOUNDS_MS = [
  1, 2, 3, 5, 8, 13, 20, 30, 50, 80, 130, 200, 300, 500, 800, 1300, 2000, 3000, 5000,
] as const;
export const BUCKETS = BUCKET_BOUNDS_MS.length + 1;

/** The histogram bucket of a latency: the first whose bound is above it (the last for ≥ 5000 ms, NaN, …). */
export function bucketOf(ms: number): number {
  for (let i = 0; i < BUCKET_BOUNDS_MS.length; i++) if (ms < BUCKET_BOUNDS_MS[i]!) return i;
  return BUCKETS - 1;
}

/** One aggregated row: a D1 row's columns. `minute` is the minute's start in Unix seconds. */
export interface Row {
  minute: number;
  region: string;
  exit: number;
  outcome: Outcome;
  count: number;
  bytes: number;
  computeMs: number;
  backendMs: number;
  totalMs: number;
  /** Decisions per latency bucket (BUCKETS entries). */
  buckets: number[];
}

/** The minute (Unix seconds of its start) a time in ms falls in. */
export const minuteOf = (ms: number): number => Math.floor(ms / 60_000) * 60;

const keyOf = (minute: number, region: string, exit: number, outcome: string) =>
  `${minute}\u0000${region}\u0000${exit}\u0000${outcome}`;

/** A finite, non-negative number; anything else (NaN, -1, Infinity) counts as 0 in the sums. */
const amount = (v: number): number => (Number.isFinite(v) && v > 0 ? v : 0);

/**
 * Rows the isolate has not written yet: ~40 bytes of key plus ~30 numbers each, so the default cap
 * holds about 1.5 MB of a 128 MB isolate. An isolate typically sees one or a few region keys, a
 * handful of exits and 2-3 outcomes: ~15 rows a minute, so 4096 rows keep over 4 hours of a D1
 * outage before the oldest go.
 */
export const DEFAULT_MAX_ROWS = 4096;

/** See the module comment. */
export class Aggregator {
  private rows = new Map<string, Row>();
  private decisions = 0;
  /** Decisions dropped past the cap since the isolate started. */
  dropped = 0;

  constructor(readonly maxRows = DEFAULT_MAX_ROWS) {}

  /** Decisions held (not yet taken by a flush, or restored after a failed one). */
  get pending(): number {
    return this.decisions;
  }

  /** Rows held. */
  get size(): number {
    return this.rows.size;
  }

  /** Adds one decision made at `nowMs` to its row. */
  add(d: Decision, nowMs: number): void {
    const minute = minuteOf(nowMs);
    const key = keyOf(minute, d.region, d.exit, d.outcome);
    let row = this.rows.get(key);
    if (!row) {
      row = {
        minute,
        region: d.region,
        exit: d.exit,
        outcome: d.outcome,
        count: 0,
        bytes: 0,
        computeMs: 0,
        backendMs: 0,
        totalMs: 0,
        buckets: new Array<number>(BUCKETS).fill(0),
      };
      this.rows.set(key, row);
    }
    row.count++;
    row.bytes += amount(d.bytes);
    row.computeMs += amount(d.computeMs);
    row.backendMs += amount(d.backendMs);
    row.totalMs += amount(d.totalMs);
    row.buckets[bucketOf(amount(d.totalMs))]!++;
    this.decisions++;
    this.trim();
  }

  /** Every row held, oldest first; the aggregator is then empty. */
  take(): Row[] {
    const rows = [...this.rows.values()];
    this.rows = new Map();
    this.decisions = 0;
    return rows;
  }

  /**
   * Puts back the rows of a failed write, ahead of those added since (they are older), merging rows
   * of the same key; then drops the oldest past the cap.
   */
  restore(rows: readonly Row[]): void {
    const merged = new Map<string, Row>();
    for (const r of [...rows, ...this.rows.values()]) {
      const key = keyOf(r.minute, r.region, r.exit, r.outcome);
      const into = merged.get(key);
      if (into) mergeRow(into, r);
      else merged.set(key, { ...r, buckets: [...r.buckets] });
    }
    this.rows = merged;
    this.decisions += rows.reduce((n, r) => n + r.count, 0);
    this.trim();
  }

  /** Counts `n` decisions as lost (a flush that never settled: see flusher.ts). */
  lose(n: number): void {
    this.dropped += n;
  }

  private trim(): void {
    while (this.rows.size > this.maxRows) {
      const [key, row] = this.rows.entries().next().value as [string, Row];
      this.rows.delete(key);
      this.decisions -= row.count;
      this.dropped += row.count;
    }
  }
}

/** Adds `from`'s counts and sums to `into` (same key). */
export function mergeRow(into: Row, from: Row): void {
  into.count += from.count;
  into.bytes += from.bytes;
  into.computeMs += from.computeMs;
  into.backendMs += from.backendMs;
  into.totalMs += from.totalMs;
  for (let i = 0; i < BUCKETS; i++) into.buckets[i]! += from.buckets[i] ?? 0;
}

/**
 * The q-quantile (0 < q ≤ 1) of the latencies a histogram counts, in ms, interpolated linearly inside
 * its bucket; a quantile in the open last bucket reads as its lower bound (5000 ms: "at least").
 * NaN for an empty histogram. What a query over any set of rows does after adding their buckets.
 *
 * @example
 * histogramQuantile(row.buckets, 0.99); // p99 of total ms
 */
export function histogramQuantile(buckets: readonly number[], q: number): number {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && below + n >= rank) {
      const lo = i === 0 ? 0 : BUCKET_BOUNDS_MS[i - 1]!;
      if (i >= BUCKET_BOUNDS_MS.length) return lo;
      const hi = BUCKET_BOUNDS_MS[i]!;
      return lo + ((hi - lo) * Math.max(0, rank - below)) / n;
    }
    below += n;
  }
  return BUCKET_BOUNDS_MS[BUCKET_BOUNDS_MS.length - 1]!;
}
