/** The ops CLI's `metrics` and `cost` tables (scripts/ops/format.ts) from a GET /v1/metrics answer. */
import { describe, expect, it } from 'vitest';
import { costJson, costText, type MetricsView, metricsText } from '../../scripts/ops/format.js';

const fig = (value: number | null) => ({ value, unit: 'USD per million requests', assumptions: ['a'] });
const totals = (requests: number, edge: number) => ({
  requests,
  edge,
  forwarded: requests - edge,
  degraded: 0,
  errors: 0,
  edgeRate: requests ? edge / requests : null,
  latencyMs: { p50: 3, p95: 50, p99: 80 },
  cost: {
    actual: { ...fig(0.35), items: { requests: fig(0.3), gpu: fig(0.05) } },
    counterfactuals: { allOnGpu: fig(0.43), fullModelAtEdge: fig(null), workersAiResnet50: fig(2.81) },
    assumptions: ['kvReads: 0, not measured'],
  },
});
const m: MetricsView = {
  from: '2026-01-10T12:00:00.000Z',
  to: '2026-01-10T13:00:00.000Z',
  step: '1m',
  region: null,
  model: 'manifest x',
  totals: { ...totals(20, 12), exits: { '0': 12, '4': 8 } },
  byRegion: { 'colo:AAA': totals(12, 12), 'colo:BBB': totals(8, 0) },
  series: [
    { time: '2026-01-10T12:00:00.000Z', requests: 0, edge: 0, forwarded: 0, degraded: 0, errors: 0, p95Ms: null },
    { time: '2026-01-10T12:01:00.000Z', requests: 20, edge: 12, forwarded: 8, degraded: 0, errors: 0, p95Ms: 50 },
  ],
};

describe('ops metrics / cost output', () => {
  it('metrics: a row per region and the total, and the non-empty series buckets', () => {
    const t = metricsText(m);
    expect(t).toMatch(/colo:AAA\s+12\s+12\s+0\s+0\s+0\s+100\.0 %\s+3 ms\s+50 ms\s+80 ms/);
    expect(t).toMatch(/colo:BBB\s+8\s+0\s+8\s+0\s+0\s+0\.0 %/);
    expect(t).toMatch(/total\s+20\s+12/);
    expect(t).toContain('answered per exit (the highest index is the final head): exit 0 12, exit 4 8');
    expect(t).toContain('2026-01-10T12:01:00.000Z');
    expect(t).not.toContain('2026-01-10T12:00:00.000Z  ');
  });

  it('cost: $/M actual against the counterfactuals, with the assumptions', () => {
    const t = costText(m);
    expect(t).toMatch(/ACTUAL\s+ALL ON GPU\s+FULL MODEL AT EDGE\s+WORKERS AI RESNET-50/);
    expect(t).toMatch(/total\s+20\s+\$0\.3500\s+\$0\.4300\s+- \(n\/a\)\s+\$2\.8100/);
    expect(t).toContain('USD per million requests');
    expect(t).toContain('kvReads: 0, not measured');
    expect(Object.keys(costJson(m).byRegion)).toEqual(['colo:AAA', 'colo:BBB']);
  });
});
