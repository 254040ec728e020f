/**
 * Decision metrics in workerd with real (Miniflare) D1, migrated by apply-migrations.ts: classify
 * decisions aggregated in the isolate and flushed in batches lose nothing under concurrency; the
 * scheduled handler rolls old minutes into hours and applies retention; Analytics Engine points
 * through the binding's interface. vitest.config.ts sets METRICS_FLUSH_DECISIONS to 50.
 */
import { createExecutionContext, createScheduledController, env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random.js';
import worker from '../../workers/edge/src/index.js';
import { BUCKETS, type Decision, type Outcome, type Row } from '../../workers/edge/src/metrics/aggregate.js';
import { decisionDataPoint } from '../../workers/edge/src/metrics/analytics-engine.js';
import { writeRows } from '../../workers/edge/src/metrics/d1-store.js';
import { decisionStats, flushDecisions } from '../../workers/edge/src/metrics/record.js';
import { EXITS, every, SPLIT } from './bundle.js';
import { classifyRequest, putRegion } from './decision-requests.js';

const classify = (region: string, requestId?: string) => classifyRequest(region, { requestId });

const HIST = Array.from({ length: BUCKETS }, (_, i) => `b${i}`).join(' + ');
interface Group {
  region: string;
  outcome: Outcome;
  exit: number;
  n: number;
  bytes: number;
  hist: number;
  total_ms: number;
  backend_ms: number;
}
async function groups(table: 'decisions' | 'decisions_hourly', regions: string[]): Promise<Group[]> {
  const { results } = await env.METRICS.prepare(
    `SELECT region, outcome, exit, SUM(count) AS n, SUM(bytes) AS bytes, SUM(${HIST}) AS hist,
            SUM(total_ms) AS total_ms, SUM(backend_ms) AS backend_ms
     FROM ${table} WHERE region IN (${regions.map(() => '?').join(', ')})
     GROUP BY region, outcome, exit ORDER BY region, outcome, exit`,
  )
    .bind(...regions)
    .all<Group>();
  return results;
}

describe('decision metrics in D1', () => {
  it('200 concurrent classify calls: after a flush the table sums to exactly 200, split by outcome', async () => {
    // One region per outcome: edge (every exit answers), forwarded (none does), degraded (none does,
    // backend down), error (every edge exit off, backend down: 502, no edge answer to degrade to).
    await putRegion('colo:MEA', every(0));
    await putRegion('colo:MFW', every(1));
    await putRegion('colo:MDG', every(1));
    await putRegion('colo:MER', every(2));
    const plan: [string, Outcome, number][] = [
      ['colo:MEA', 'edge', 80],
      ['colo:MFW', 'forwarded', 60],
      ['colo:MDG', 'degraded', 40],
      ['colo:MER', 'error', 20],
    ];
    const requests: { outcome: Outcome; req: Request }[] = [];
    for (const [region, outcome, n] of plan)
      for (let i = 0; i < n; i++)
        requests.push({
          outcome,
          req: classify(region, outcome === 'degraded' || outcome === 'error' ? `down-${outcome}-${i}` : undefined),
        });
    // Shuffled (seeded), so every flush sees a mix; refused input on top, which is no decision.
    const rand = mulberry32(42);
    for (let i = requests.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [requests[i], requests[j]] = [requests[j]!, requests[i]!];
    }
    const refused = Array.from({ length: 10 }, () =>
      SELF.fetch('https://edge.test/v1/classify', {
        method: 'POST',
        body: '{"pixels": [1,',
        headers: { 'content-type': 'application/json', 'x-cascade-region': 'colo:MEA' },
      }),
    );
    const answers = await Promise.all(requests.map(({ req }) => SELF.fetch(req)));
    expect((await Promise.all(refused)).map((r) => r.status)).toEqual(new Array(10).fill(400));
    const statuses = answers.map((a, i) => [requests[i]!.outcome, a.status] as const);
    for (const [outcome, status] of statuses) expect(status, outcome).toBe(outcome === 'error' ? 502 : 200);
    const bodies = await Promise.all(answers.map((a) => a.json<{ where?: string; degraded?: boolean }>()));
    expect(bodies.filter((b) => b.where === 'backend')).toHaveLength(60);
    expect(bodies.filter((b) => b.degraded)).toHaveLength(40);

    expect(await flushDecisions(env)).toBe(true);
    const regions = plan.map(([r]) => r);
    const got = await groups('decisions', regions);
    expect(got.reduce((n, g) => n + g.n, 0)).toBe(200);
    const byOutcome = Object.fromEntries(got.map((g) => [g.outcome, g]));
    expect(Object.keys(byOutcome).sort()).toEqual(['degraded', 'edge', 'error', 'forwarded']);
    expect(byOutcome.edge).toMatchObject({ region: 'colo:MEA', exit: 0, n: 80, bytes: 0 });
    expect(byOutcome.forwarded).toMatchObject({ region: 'colo:MFW', exit: EXITS, n: 60 });
    expect(byOutcome.degraded).toMatchObject({ region: 'colo:MDG', n: 40 });
    expect(byOutcome.degraded!.exit).toBeLessThan(SPLIT);
    expect(byOutcome.error).toMatchObject({ region: 'colo:MER', exit: -1, n: 20 });
    for (const g of got) {
      expect(g.hist, g.outcome).toBe(g.n); // every decision in exactly one latency bucket
      expect(g.total_ms, g.outcome).toBeGreaterThan(0);
    }
    // The f16 features of the split's cut, with their safetensors header: sent whether or not the backend answered.
    expect(byOutcome.forwarded!.bytes / 60).toBeGreaterThan(100);
    expect(byOutcome.degraded!.bytes / 40).toBeGreaterThan(100);
    expect(byOutcome.forwarded!.backend_ms).toBeGreaterThan(0);

    // Batched: a few upserts of ≥ 50 decisions (METRICS_FLUSH_DECISIONS), not one write per request.
    const s = decisionStats()!;
    expect(s).toMatchObject({ pending: 0, written: 200, failures: 0, dropped: 0 });
    expect(s.flushes).toBeGreaterThanOrEqual(2);
    expect(s.flushes).toBeLessThanOrEqual(200 / 50 + 1);
  });

  it('the scheduled handler rolls minutes older than 48 h into hours and deletes hours older than 90 days', async () => {
    const now = Date.UTC(2026, 0, 10, 12, 17); // the cron's :17
    const h = 3600;
    const at = (ms: number) => Math.floor(ms / 60_000) * 60;
    const t = now / 1000;
    const row = (minute: number, over: Partial<Row> = {}): Row => ({
      minute,
      region: 'colo:ROL',
      exit: 0,
      outcome: 'edge',
      count: 3,
      bytes: 0,
      computeMs: 3,
      backendMs: 0,
      totalMs: 12,
      buckets: Array.from({ length: BUCKETS }, (_, i) => (i === 4 ? 3 : 0)),
      ...over,
    });
    const oldHour = Math.floor((t - 72 * h) / h) * h;
    await writeRows(env.METRICS, [
      row(oldHour + 60), // two minutes of one old hour: one hour row
      row(oldHour + 120),
      row(oldHour + 120, { outcome: 'forwarded', exit: EXITS, bytes: 900, backendMs: 30 }),
      row(oldHour + h + 300), // the next hour
      row(at(now - 49 * 3_600_000)), // older than 48 h: rolled
      row(at(now - 47 * 3_600_000)), // younger: kept
      row(at(now - 60_000)), // the last minute: kept
    ]);
    // An hour row already there for the old hour (an earlier run, then a late flush of its minutes): added to.
    // Hour rows at 100 days (deleted) and 89 days (kept).
    const insertHour = (hour: number, count: number) =>
      env.METRICS.prepare(
        'INSERT INTO decisions_hourly (hour, region, exit, outcome, count, total_ms, b4) VALUES (?, ?, 0, ?, ?, 0, ?)',
      )
        .bind(hour, 'colo:ROL', 'edge', count, count)
        .run();
    await insertHour(oldHour, 10);
    await insertHour(Math.floor((t - 100 * 86_400) / h) * h, 5);
    await insertHour(Math.floor((t - 89 * 86_400) / h) * h, 7);

    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: '17 * * * *' }), env);

    const minutes = await env.METRICS.prepare(
      "SELECT minute, count FROM decisions WHERE region = 'colo:ROL' ORDER BY minute",
    ).all<{ minute: number; count: number }>();
    expect(minutes.results.map((r) => r.minute)).toEqual([at(now - 47 * 3_600_000), at(now - 60_000)]);
    const hours = await env.METRICS.prepare(
      `SELECT hour, outcome, count, bytes, backend_ms, b4, ${HIST} AS hist FROM decisions_hourly
       WHERE region = 'colo:ROL' ORDER BY hour, outcome`,
    ).all<{
      hour: number;
      outcome: string;
      count: number;
      bytes: number;
      backend_ms: number;
      b4: number;
      hist: number;
    }>();
    const rolled49 = Math.floor(at(now - 49 * 3_600_000) / h) * h;
    expect(hours.results.map((r) => [r.hour, r.outcome, r.count])).toEqual([
      [Math.floor((t - 89 * 86_400) / h) * h, 'edge', 7],
      [oldHour, 'edge', 10 + 3 + 3],
      [oldHour, 'forwarded', 3],
      [oldHour + h, 'edge', 3],
      [rolled49, 'edge', 3],
    ]);
    for (const r of hours.results) expect(r.hist).toBe(r.count);
    expect(hours.results[2]).toMatchObject({ bytes: 900, backend_ms: 30 });

    // Configurable: minutes after 1 h, hours kept 30 days.
    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: '17 * * * *' }), {
      ...env,
      METRICS_ROLLUP_AFTER_HOURS: '1',
      METRICS_RETAIN_DAYS: '30',
    });
    const left = await env.METRICS.prepare(
      "SELECT (SELECT COUNT(*) FROM decisions WHERE region = 'colo:ROL') AS minutes, (SELECT SUM(count) FROM decisions_hourly WHERE region = 'colo:ROL') AS counted, (SELECT MIN(hour) FROM decisions_hourly WHERE region = 'colo:ROL') AS oldest",
    ).first<{ minutes: number; counted: number; oldest: number }>();
    // The last minute is in the current hour, not a whole hour older than 1 h: kept. The 89-day hour is past 30 days.
    expect(left).toEqual({ minutes: 1, counted: 16 + 3 + 3 + 3 + 3, oldest: oldHour });
  });
});

describe('Analytics Engine', () => {
  it('writes one point per decision through the binding, with the documented layout', async () => {
    await putRegion('colo:AEE', every(0));
    await putRegion('colo:AEF', every(1));
    // Miniflare's local dataset (bound by vitest.config.ts) takes points and keeps none to read back,
    // so the worker gets a recording stand-in with the same method, through the same binding name.
    const points: AnalyticsEngineDataPoint[] = [];
    const recording = { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) };
    const ctx = createExecutionContext();
    const local = env.DECISIONS_AE!;
    const one: Decision = {
      region: 'default',
      exit: 0,
      outcome: 'edge',
      bytes: 0,
      computeMs: 1,
      backendMs: 0,
      totalMs: 2,
    };
    expect(() => local.writeDataPoint(decisionDataPoint(one))).not.toThrow();
    const e = { ...env, DECISIONS_AE: recording };
    const a = await worker.fetch(classify('colo:AEE'), e, ctx);
    const b = await worker.fetch(classify('colo:AEF'), e, ctx);
    const bad = await worker.fetch(
      new Request('https://edge.test/v1/classify', {
        method: 'POST',
        body: 'x',
        headers: { 'content-type': 'text/plain' },
      }),
      e,
      ctx,
    );
    // Points are written as each decision is recorded, before its response; ctx is not waited on (it
    // holds the batch's D1 timer, METRICS_FLUSH_SECONDS).
    expect([a.status, b.status, bad.status]).toEqual([200, 200, 415]);
    expect(points).toHaveLength(2); // refused input is no decision
    expect(points[0]).toMatchObject({ indexes: ['colo:AEE'], blobs: ['colo:AEE', 'edge'] });
    expect(points[0]!.doubles!.slice(0, 2)).toEqual([0, 0]);
    expect(points[1]).toMatchObject({ indexes: ['colo:AEF'], blobs: ['colo:AEF', 'forwarded'] });
    const [exit, bytes, computeMs, backendMs, totalMs] = points[1]!.doubles!;
    expect(exit).toBe(EXITS);
    expect(bytes).toBeGreaterThan(100);
    expect(computeMs).toBeGreaterThanOrEqual(0);
    expect(backendMs).toBeGreaterThanOrEqual(0);
    expect(totalMs).toBeGreaterThanOrEqual(backendMs!);
  });
});
