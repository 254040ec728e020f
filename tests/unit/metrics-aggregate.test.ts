/**
 * The edge's decision metrics, the pure parts (workers/edge/src/metrics/): the aggregator's rows,
 * histogram and cap, the flusher's policy (count, age, one in flight, retry, lost flushes) with a
 * fake clock, sleep and write, the settings, and the Analytics Engine point. The D1 side runs in
 * workerd: tests/worker/metrics.test.ts.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleSink, type LogLevel, setLogSink } from '../../core/log.js';
import { mulberry32 } from '../../core/random.js';
import {
  Aggregator,
  BUCKET_BOUNDS_MS,
  BUCKETS,
  bucketOf,
  type Decision,
  histogramQuantile,
  minuteOf,
  type Row,
} from '../../workers/edge/src/metrics/aggregate.js';
import { decisionDataPoint } from '../../workers/edge/src/metrics/analytics-engine.js';
import { metricsConfig } from '../../workers/edge/src/metrics/config.js';
import { FlushError, Flusher, STUCK_FLUSH_MS, type WriteRows } from '../../workers/edge/src/metrics/flusher.js';

const d = (over: Partial<Decision> = {}): Decision => ({
  region: 'colo:LHR',
  exit: 0,
  outcome: 'edge',
  bytes: 0,
  computeMs: 1,
  backendMs: 0,
  totalMs: 4,
  ...over,
});
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const sum = (rows: readonly Row[]) => rows.reduce((n, r) => n + r.count, 0);

let logs: { level: LogLevel; msg: string }[] = [];
function captureLogs() {
  logs = [];
  setLogSink((level, line) => logs.push({ level, msg: JSON.parse(line).msg }));
}
afterEach(() => setLogSink(consoleSink));

describe('Aggregator', () => {
  it('adds decisions of one (minute, region, exit, outcome) into one row', () => {
    const agg = new Aggregator();
    agg.add(d({ totalMs: 0.4, computeMs: 0.3 }), T0);
    agg.add(d({ totalMs: 7, computeMs: 2 }), T0 + 59_999);
    agg.add(d(), T0 + 60_000); // the next minute
    agg.add(d({ exit: 1 }), T0);
    agg.add(d({ outcome: 'forwarded', exit: 4, bytes: 1000, backendMs: 12, totalMs: 20 }), T0);
    agg.add(d({ region: 'default' }), T0);
    expect(agg.pending).toBe(6);
    const rows = agg.take();
    expect(agg.pending).toBe(0);
    expect(agg.size).toBe(0);
    expect(rows).toHaveLength(5);
    const first = rows[0]!;
    expect(first).toMatchObject({ minute: T0 / 1000, region: 'colo:LHR', exit: 0, outcome: 'edge', count: 2 });
    expect(first.computeMs).toBeCloseTo(2.3);
    expect(first.totalMs).toBeCloseTo(7.4);
    expect(first.buckets[0]).toBe(1); // 0.4 ms
    expect(first.buckets[bucketOf(7)]).toBe(1);
    expect(rows[1]!.minute).toBe(T0 / 1000 + 60);
    expect(rows.find((r) => r.outcome === 'forwarded')).toMatchObject({ bytes: 1000, backendMs: 12, count: 1 });
    for (const r of rows) expect(r.buckets.reduce((a, b) => a + b, 0)).toBe(r.count);
  });

  it('counts nonsense amounts (NaN, negative) as 0, never poisoning a sum', () => {
    const agg = new Aggregator();
    agg.add(d({ totalMs: Number.NaN, computeMs: -1, bytes: Number.POSITIVE_INFINITY }), T0);
    const [r] = agg.take();
    expect(r).toMatchObject({ count: 1, totalMs: 0, computeMs: 0, bytes: 0 });
    expect(r!.buckets[0]).toBe(1);
  });

  it('restores a failed batch ahead of newer rows, merging keys, and drops the oldest past the cap', () => {
    const agg = new Aggregator(3);
    agg.add(d(), T0);
    agg.add(d({ exit: 1 }), T0);
    const failed = agg.take();
    agg.add(d(), T0); // same key as a failed row: merges
    agg.add(d({ exit: 2 }), T0 + 60_000);
    agg.restore(failed);
    expect(agg.pending).toBe(4);
    expect(agg.size).toBe(3);
    expect(agg.dropped).toBe(0);
    agg.add(d({ exit: 3 }), T0 + 120_000); // a fourth row: the oldest (exit 0, 2 decisions) goes
    expect(agg.size).toBe(3);
    expect(agg.dropped).toBe(2);
    expect(agg.pending).toBe(3);
    const rows = agg.take();
    expect(rows.map((r) => r.exit)).toEqual([1, 2, 3]);
    expect(sum(rows) + agg.dropped).toBe(5);
  });

  it('minuteOf is the minute start in Unix seconds', () => {
    expect(minuteOf(T0 + 61_234)).toBe(T0 / 1000 + 60);
  });
});

describe('latency histogram', () => {
  it('buckets are [previous bound, bound), the last open; the migration has one column per bucket', () => {
    expect(BUCKETS).toBe(20);
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(0.999)).toBe(0);
    expect(bucketOf(1)).toBe(1);
    expect(bucketOf(4.99)).toBe(3);
    expect(bucketOf(5000)).toBe(19);
    expect(bucketOf(1e9)).toBe(19);
    for (let i = 1; i < BUCKET_BOUNDS_MS.length; i++) {
      const ratio = BUCKET_BOUNDS_MS[i]! / BUCKET_BOUNDS_MS[i - 1]!;
      expect(ratio).toBeGreaterThanOrEqual(1.5);
      expect(ratio).toBeLessThanOrEqual(2);
    }
    const sql = readFileSync('workers/edge/migrations/0001_decisions.sql', 'utf8');
    for (const table of ['decisions', 'decisions_hourly']) {
      const body = sql.split(`CREATE TABLE ${table} (`)[1]!.split(') WITHOUT ROWID')[0]!;
      const cols = [...body.matchAll(/^\s+(b\d+) INTEGER/gm)].map((m) => m[1]);
      expect(cols, table).toEqual(Array.from({ length: BUCKETS }, (_, i) => `b${i}`));
    }
  });

  it('p50 / p95 / p99 read from the buckets are within one bucket of the exact ones', () => {
    const rand = mulberry32(7);
    // A cascade-like mix: most answers at the edge in a few ms, some forwards at tens of ms, a few slow.
    const ms = Array.from({ length: 20_000 }, () => {
      const u = rand();
      if (u < 0.85) return 0.5 + rand() * 6;
      if (u < 0.98) return 15 + rand() * 60;
      return 400 + rand() * 1500;
    });
    const buckets = new Array<number>(BUCKETS).fill(0);
    for (const v of ms) buckets[bucketOf(v)]!++;
    const sorted = [...ms].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      const est = histogramQuantile(buckets, q);
      // Same bucket, so within its bounds.
      const b = bucketOf(exact);
      expect(est, `q=${q}`).toBeGreaterThanOrEqual(b === 0 ? 0 : BUCKET_BOUNDS_MS[b - 1]!);
      expect(est, `q=${q}`).toBeLessThanOrEqual(BUCKET_BOUNDS_MS[b]!);
      expect(Math.abs(est - exact) / exact, `q=${q}`).toBeLessThan(0.4);
    }
    expect(histogramQuantile(new Array(BUCKETS).fill(0), 0.5)).toBeNaN();
    const open = new Array<number>(BUCKETS).fill(0);
    open[BUCKETS - 1] = 3;
    expect(histogramQuantile(open, 0.99)).toBe(5000);
  });
});

/** A controllable world for the flusher: a clock, sleeps that fire when the clock passes them, writes the test settles. */
function world(policy = { maxPending: 10, maxAgeMs: 10_000 }, maxRows?: number) {
  let now = T0;
  const sleeps: { at: number; fire: () => void }[] = [];
  const writes: { rows: Row[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const deferred: Promise<unknown>[] = [];
  const f = new Flusher(
    policy,
    new Aggregator(maxRows),
    () => now,
    (ms) => new Promise<void>((r) => sleeps.push({ at: now + ms, fire: r })),
  );
  const write: WriteRows = (rows) =>
    new Promise<void>((resolve, reject) => {
      writes.push({ rows, resolve, reject });
    });
  const settle = () => new Promise((r) => setImmediate(r));
  return {
    f,
    writes,
    sleeps,
    deferred,
    record: (over: Partial<Decision> = {}) => f.record(d(over), write, (p) => deferred.push(p)),
    write,
    settle,
    /** Moves the clock and fires the sleeps due by then. */
    advance: async (ms: number) => {
      now += ms;
      for (const s of sleeps.splice(0)) {
        if (s.at <= now) s.fire();
        else sleeps.push(s);
      }
      await settle();
    },
  };
}

describe('Flusher', () => {
  it('flushes at maxPending, one flush in flight, the next at once when enough gathered meanwhile', async () => {
    const w = world();
    for (let i = 0; i < 9; i++) w.record();
    expect(w.writes).toHaveLength(0);
    w.record();
    expect(w.writes).toHaveLength(1);
    expect(sum(w.writes[0]!.rows)).toBe(10);
    for (let i = 0; i < 25; i++) w.record(); // all while the first is in flight
    expect(w.writes).toHaveLength(1);
    w.writes[0]!.resolve();
    await w.settle();
    expect(w.writes).toHaveLength(2);
    expect(sum(w.writes[1]!.rows)).toBe(25);
    w.writes[1]!.resolve();
    await w.settle();
    expect(w.f.snapshot()).toMatchObject({ pending: 0, flushes: 2, written: 35, failures: 0, inFlight: false });
    // Requests never wait: record() returned before any write settled, the work went to defer (waitUntil).
    expect(w.deferred.length).toBeGreaterThan(0);
  });

  it('flushes a batch maxAgeMs after its first decision, from that request’s timer, without later traffic', async () => {
    const w = world();
    w.record();
    await w.advance(3_000);
    w.record();
    expect(w.sleeps).toHaveLength(1); // one timer per batch
    await w.advance(6_999);
    expect(w.writes).toHaveLength(0);
    await w.advance(1);
    expect(w.writes).toHaveLength(1);
    expect(sum(w.writes[0]!.rows)).toBe(2);
    // Decisions during that flush start the next batch and arm its timer.
    w.record();
    expect(w.sleeps).toHaveLength(1);
    w.writes[0]!.resolve();
    await w.advance(10_000);
    expect(w.writes).toHaveLength(2);
    expect(sum(w.writes[1]!.rows)).toBe(1);
  });

  it('a batch flushed by count leaves its timer with nothing to do', async () => {
    const w = world();
    for (let i = 0; i < 10; i++) w.record();
    w.writes[0]!.resolve();
    await w.advance(10_000);
    expect(w.writes).toHaveLength(1);
  });

  it('keeps the counts of a failed write, logs once, retries no sooner than maxAgeMs, then writes all', async () => {
    captureLogs();
    const w = world();
    for (let i = 0; i < 10; i++) w.record();
    w.writes[0]!.reject(new Error('D1_ERROR: no such table: decisions'));
    await w.settle();
    expect(w.f.snapshot()).toMatchObject({ pending: 10, failures: 1, written: 0 });
    for (let i = 0; i < 30; i++) w.record(); // over maxPending, but inside the retry delay: no hammering
    expect(w.writes).toHaveLength(1);
    await w.advance(10_000); // the new batch's timer, set for the retry time
    expect(w.writes).toHaveLength(2);
    expect(sum(w.writes[1]!.rows)).toBe(40);
    w.writes[1]!.reject(new Error('still down'));
    await w.settle();
    await w.advance(5_000);
    w.record();
    await w.advance(5_000);
    expect(w.writes).toHaveLength(3);
    w.writes[2]!.resolve();
    await w.settle();
    expect(w.f.snapshot()).toMatchObject({ pending: 0, failures: 2, written: 41, dropped: 0 });
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(/^metrics: decision flush failed; keeping the counts/),
    ]);
    expect(logs.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual(['metrics: decision flush recovered']);
  });

  it('keeps only the unwritten rows of a partial write (FlushError)', async () => {
    captureLogs();
    const w = world({ maxPending: 3, maxAgeMs: 10_000 });
    w.record({ exit: 0 });
    w.record({ exit: 1 });
    w.record({ exit: 2 });
    const rows = w.writes[0]!.rows;
    w.writes[0]!.reject(new FlushError(rows.slice(2), new Error('batch 2 failed')));
    await w.settle();
    expect(w.f.snapshot()).toMatchObject({ pending: 1, written: 2 });
    const retried: Row[] = [];
    expect(await w.f.flushNow(async (r) => void retried.push(...r))).toBe(true);
    expect(retried.map((r) => r.exit)).toEqual([2]);
  });

  it('drops the oldest rows past the cap while D1 is down, counted and logged once', async () => {
    captureLogs();
    const w = world({ maxPending: 1, maxAgeMs: 1000 }, 4);
    w.record({ exit: 0 });
    w.writes[0]!.reject(new Error('down'));
    await w.settle();
    for (let minute = 1; minute <= 6; minute++) {
      await w.advance(60_000);
      w.record({ exit: 0 });
      const last = w.writes.at(-1)!;
      last.reject(new Error('down'));
      await w.settle();
    }
    const s = w.f.snapshot();
    expect(s.pending + s.dropped).toBe(7);
    expect(s.pending).toBe(4);
    expect(s.dropped).toBe(3);
    expect(logs.filter((l) => /past the cap/.test(l.msg))).toHaveLength(1);
  });

  it('a flush that never settles is presumed lost after STUCK_FLUSH_MS, and flushing resumes', async () => {
    captureLogs();
    const w = world();
    for (let i = 0; i < 10; i++) w.record();
    expect(w.writes).toHaveLength(1); // never settled
    for (let i = 0; i < 10; i++) w.record();
    expect(w.writes).toHaveLength(1);
    // The second batch's timer fires past the limit: the first flush is given up, the second written.
    await w.advance(STUCK_FLUSH_MS + 1);
    expect(w.writes).toHaveLength(2);
    expect(sum(w.writes[1]!.rows)).toBe(10);
    expect(w.f.snapshot().dropped).toBe(10);
    expect(logs.some((l) => /never settled/.test(l.msg))).toBe(true);
  });

  it('flushNow gives up waiting on a flush that never settles after STUCK_FLUSH_MS', async () => {
    captureLogs();
    const w = world();
    for (let i = 0; i < 12; i++) w.record(); // 10 in a flight that never settles, 2 held
    const done = w.f.flushNow(w.write);
    await w.settle();
    expect(w.writes).toHaveLength(1);
    await w.advance(STUCK_FLUSH_MS + 1);
    expect(w.writes).toHaveLength(2);
    expect(sum(w.writes[1]!.rows)).toBe(2);
    w.writes[1]!.resolve();
    expect(await done).toBe(true);
    expect(w.f.snapshot()).toMatchObject({ dropped: 10, written: 2 });
  });

  it('flushNow waits for the flush in flight, then writes the rest', async () => {
    const w = world();
    for (let i = 0; i < 13; i++) w.record();
    const done = w.f.flushNow(w.write);
    await w.settle();
    expect(w.writes).toHaveLength(1);
    w.writes[0]!.resolve();
    await w.settle();
    expect(w.writes).toHaveLength(2);
    expect(sum(w.writes[1]!.rows)).toBe(3);
    w.writes[1]!.resolve();
    expect(await done).toBe(true);
  });

  it('loses nothing under random interleavings of decisions, write completions and failures', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = mulberry32(seed);
      const w = world({ maxPending: 1 + Math.floor(rand() * 20), maxAgeMs: 10_000 });
      setLogSink(() => undefined);
      let recorded = 0;
      let settled = 0;
      for (let step = 0; step < 400; step++) {
        const u = rand();
        if (u < 0.6) {
          w.record({ exit: Math.floor(rand() * 3), outcome: rand() < 0.5 ? 'edge' : 'forwarded' });
          recorded++;
        } else if (u < 0.9 && settled < w.writes.length) {
          const next = w.writes[settled++]!;
          if (rand() < 0.2) next.reject(new Error('flaky'));
          else next.resolve();
          await w.settle();
        } else await w.advance(Math.floor(rand() * 4000));
      }
      while (settled < w.writes.length) {
        w.writes[settled++]!.resolve();
        await w.settle();
      }
      const final = w.f.flushNow(w.write);
      await w.settle();
      while (settled < w.writes.length) {
        w.writes[settled++]!.resolve();
        await w.settle();
      }
      await final;
      const s = w.f.snapshot();
      expect(s.pending, `seed ${seed}`).toBe(0);
      expect(s.dropped, `seed ${seed}`).toBe(0);
      expect(s.written, `seed ${seed}`).toBe(recorded);
      // Batched: far fewer writes than decisions.
      expect(s.flushes, `seed ${seed}`).toBeLessThan(recorded);
    }
  });
});

describe('metrics settings', () => {
  it('defaults, overrides, and refused values logged once and replaced by the default', () => {
    captureLogs();
    expect(metricsConfig({})).toEqual({
      flush: { maxPending: 1000, maxAgeMs: 10_000 },
      rollupAfterHours: 48,
      retainDays: 90,
      enabled: true,
    });
    expect(
      metricsConfig({
        METRICS_FLUSH_DECISIONS: '50',
        METRICS_FLUSH_SECONDS: ' 5 ',
        METRICS_ROLLUP_AFTER_HOURS: '24',
        METRICS_RETAIN_DAYS: '30',
      }),
    ).toEqual({ flush: { maxPending: 50, maxAgeMs: 5000 }, rollupAfterHours: 24, retainDays: 30, enabled: true });
    expect(metricsConfig({ METRICS_ENABLED: 'false' }).enabled).toBe(false);
    expect(metricsConfig({ METRICS_ENABLED: ' TRUE ' }).enabled).toBe(true);
    // 30 s is past what a waitUntil may wait after its response.
    expect(metricsConfig({ METRICS_FLUSH_SECONDS: '30' }).flush.maxAgeMs).toBe(10_000);
    expect(metricsConfig({ METRICS_FLUSH_SECONDS: '30' }).flush.maxAgeMs).toBe(10_000);
    expect(metricsConfig({ METRICS_RETAIN_DAYS: 'ninety' }).retainDays).toBe(90);
    // Metrics stay on unless switched off in so many words.
    expect(metricsConfig({ METRICS_ENABLED: 'no' }).enabled).toBe(true);
    expect(logs.map((l) => l.msg)).toEqual([
      'METRICS_FLUSH_SECONDS ignored; using the default',
      'METRICS_RETAIN_DAYS ignored; using the default',
      'METRICS_ENABLED ignored; using the default',
    ]);
  });
});

describe('Analytics Engine point', () => {
  it('index region; blobs region, outcome; doubles exit, bytes, compute, backend, total ms', () => {
    expect(
      decisionDataPoint(
        d({
          region: 'country:GB',
          outcome: 'degraded',
          exit: 1,
          bytes: 812,
          computeMs: 2,
          backendMs: 800,
          totalMs: 805,
        }),
      ),
    ).toEqual({ indexes: ['country:GB'], blobs: ['country:GB', 'degraded'], doubles: [1, 812, 2, 800, 805] });
  });
});
