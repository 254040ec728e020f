/**
 * GET /v1/metrics in workerd with real (Miniflare) D1: classify decisions from two regions with
 * different thresholds (set through the admin API), flushed, then read back as totals, per region,
 * series and cost; bad parameters are 400 BAD_QUERY, a missing token 401.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { flushDecisions } from '../../workers/edge/src/metrics/record.js';
import { every, SPLIT } from './bundle.js';
import { classifyRequest } from './decision-requests.js';

const TOKEN = 'test-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const classify = (region: string) => SELF.fetch(classifyRequest(region));
const metrics = (qs: string, headers: Record<string, string> = auth) =>
  SELF.fetch(`https://edge.test/v1/metrics${qs}`, { headers });

interface Figure {
  value: number | null;
  unit: string;
  assumptions: string[];
}
interface Totals {
  requests: number;
  edge: number;
  forwarded: number;
  degraded: number;
  errors: number;
  edgeRate: number | null;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  exits: Record<string, number>;
  cost: {
    actual: Figure & { items: Record<string, Figure> };
    counterfactuals: Record<string, Figure>;
    assumptions: string[];
  };
}
interface Metrics {
  step: string;
  tables: string[];
  totals: Totals;
  byRegion: Record<string, Totals>;
  series: { time: string; requests: number; edge: number; forwarded: number; degraded: number; errors: number }[];
}

describe('GET /v1/metrics', () => {
  it('reads back the flushed decisions: totals, per region, series and cost', async () => {
    const settings = (t: number) => ({ policy: 'max-softmax', thresholds: every(t), split: SPLIT, encoding: 'f16' });
    for (const [key, t] of [
      ['colo:QAA', 0], // every exit answers: all at the edge
      ['colo:QAB', 1], // none does: all forwarded
    ] as const) {
      const put = await SELF.fetch(`https://edge.test/admin/regions/${key}`, {
        method: 'PUT',
        body: JSON.stringify(settings(t)),
        headers: { ...auth, 'content-type': 'application/json' },
      });
      expect(put.status, key).toBe(201);
    }
    const before = Date.now();
    const sent = { 'colo:QAA': 12, 'colo:QAB': 8 };
    const answers = await Promise.all(
      Object.entries(sent).flatMap(([region, n]) => Array.from({ length: n }, () => classify(region))),
    );
    expect(answers.map((a) => a.status)).toEqual(new Array(20).fill(200));
    await Promise.all(answers.map((a) => a.arrayBuffer()));
    expect(await flushDecisions(env)).toBe(true);

    const res = await metrics(`?from=${before - 120_000}&to=${new Date(Date.now() + 60_000).toISOString()}&step=1m`);
    expect(res.status).toBe(200);
    const body = await res.json<Metrics>();
    expect(body.step).toBe('1m');
    expect(body.tables).toEqual(['decisions']);
    expect(body.totals.requests).toBe(20);
    expect(body.totals.edge + body.totals.forwarded + body.totals.degraded + body.totals.errors).toBe(20);
    expect(Object.keys(body.byRegion).sort()).toEqual(['colo:QAA', 'colo:QAB']);
    const a = body.byRegion['colo:QAA']!;
    const b = body.byRegion['colo:QAB']!;
    expect(a).toMatchObject({ requests: 12, edge: 12, edgeRate: 1 });
    expect(b).toMatchObject({ requests: 8, edge: 0, forwarded: 8, edgeRate: 0 });
    expect(a.edgeRate).not.toBe(b.edgeRate);
    // The exit distribution: threshold 0 answers every input at the first exit; the forwarded ones at
    // the backend's exits (SPLIT and later), and the totals are the regions' sums.
    expect(a.exits).toEqual({ '0': 12 });
    expect(Object.values(b.exits).reduce((n, x) => n + x, 0)).toBe(8);
    for (const k of Object.keys(b.exits)) expect(Number(k)).toBeGreaterThanOrEqual(SPLIT);
    expect(body.totals.exits['0']).toBe(12 + (b.exits['0'] ?? 0));
    for (const k of ['requests', 'edge', 'forwarded', 'degraded', 'errors'] as const)
      expect(
        body.series.reduce((n, p) => n + p[k], 0),
        k,
      ).toBe(body.totals[k]);
    expect(body.totals.latencyMs.p95).toBeGreaterThan(0);
    expect(body.totals.latencyMs.p50!).toBeLessThanOrEqual(body.totals.latencyMs.p99!);

    const cost = body.totals.cost;
    expect(cost.actual.unit).toBe('USD per million requests');
    expect(cost.actual.value).toBeGreaterThan(0);
    expect(cost.actual.items.gpu!.unit).toBe('USD per million requests');
    for (const k of ['allOnGpu', 'fullModelAtEdge', 'workersAiResnet50']) {
      expect(cost.counterfactuals[k]!.unit, k).toBe('USD per million requests');
      expect(cost.counterfactuals[k]!.assumptions.length, k).toBeGreaterThan(0);
    }
    expect(cost.assumptions.join(' ')).toMatch(/kvReads: 0/);
    expect(cost.assumptions.join(' ')).toMatch(/d1RowsWritten/);
    expect(b.cost.actual.value).toBeGreaterThan(0);

    const one = await (await metrics(`?from=${before - 120_000}&region=colo:QAB`)).json<Metrics>();
    expect(Object.keys(one.byRegion)).toEqual(['colo:QAB']);
    expect(one.totals.requests).toBe(8);
  });

  it('a range older than the roll-up horizon also reads hour rows', async () => {
    const now = Date.now();
    const hour = Math.floor((now / 1000 - 72 * 3600) / 3600) * 3600;
    await env.METRICS.prepare(
      "INSERT INTO decisions_hourly (hour, region, exit, outcome, count, total_ms, b4) VALUES (?, 'colo:QHR', 0, 'edge', 5, 30, 5)",
    )
      .bind(hour)
      .run();
    const res = await metrics(`?from=${(hour - 3600) * 1000}&to=${(hour + 7200) * 1000}&region=colo:QHR`);
    const body = await res.json<Metrics>();
    expect(body.tables).toEqual(['decisions', 'decisions_hourly']);
    expect(body.step).toBe('1m');
    expect(body.totals).toMatchObject({
      requests: 5,
      edge: 5,
      latencyMs: { p50: 8, p95: 8, p99: 8 },
      exits: { '0': 5 },
    });
    expect(body.series.reduce((n, p) => n + p.requests, 0)).toBe(5);
  });

  it('bad parameters are 400 BAD_QUERY; no token is 401', async () => {
    for (const qs of [
      '?from=yesterday',
      '?to=2026-13-45T00:00:00Z',
      '?step=2m',
      '?region=nowhere',
      '?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
      '?from=2026-01-01T00:00:00Z&to=2026-01-10T00:00:00Z&step=1m',
    ]) {
      const res = await metrics(qs);
      expect(res.status, qs).toBe(400);
      expect(res.headers.get('content-type'), qs).toMatch(/^application\/problem\+json/);
      expect((await res.json<{ code: string }>()).code, qs).toBe('BAD_QUERY');
    }
    const none = await metrics('', {});
    expect(none.status).toBe(401);
    expect((await none.json<{ code: string }>()).code).toBe('UNAUTHORIZED');
  });
});
