/**
 * GET /v1/metrics (admin bearer token): the decision counters in D1 over a time range, as totals, per
 * region key and per step bucket, each total priced by the cost model (core/cost-model.ts) with the
 * served bundle at its default operating point. Query building and assembly are
 * metrics/query.ts's (pure), the reads d1-store.ts's `readBuckets`.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { type CostReport, costReport, type ModelFacts, modelFacts } from '../../../../core/cost-model.js';
import { defaultSplit, regionKeySchema } from '../../../../core/regions.js';
import { type EdgeEnv, problemHook, problems, serve } from '../api/define.js';
import { ProblemError } from '../errors.js';
import { metricsConfig } from '../metrics/config.js';
import { edgeCpuPerRequest } from '../metrics/cpu.js';
import { readBuckets } from '../metrics/d1-store.js';
import {
  D1_ROWS_ASSUMPTION,
  decisionTotals,
  defaultStep,
  KV_READS_ASSUMPTION,
  MAX_POINTS,
  parseTime,
  planQuery,
  STEPS,
  type Step,
  summarise,
} from '../metrics/query.js';
import { edgeModel } from '../model/edge-model.js';
import { listRegions } from '../thresholds/region-entries.js';
import { auth, requireAdmin, security } from './admin.js';

/** The longest range one query reads (the hour rows are kept 90 days by default). */
export const MAX_RANGE_DAYS = 400;
const DAY_MS = 86_400_000;

const timeParam = (name: string, description: string) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const ms = parseTime(s);
      if (ms === null) {
        ctx.addIssue({
          code: 'custom',
          message: `${name}=${JSON.stringify(s)} is neither an ISO 8601 timestamp (2026-01-10T12:00:00Z) nor epoch milliseconds`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .openapi({ type: 'string', description, example: '2026-01-10T12:00:00Z' });

const STEP_NAMES = Object.keys(STEPS) as [Step, ...Step[]];
const query = z.object({
  from: timeParam(
    'from',
    'Start of the range (inclusive, floored to the minute): ISO 8601 or epoch ms. Default: `to` - 1 h.',
  ),
  to: timeParam('to', 'End of the range (exclusive, ceiled to the minute): ISO 8601 or epoch ms. Default: now.'),
  region: regionKeySchema
    .optional()
    .meta({ description: 'Only this region key (colo:LHR, country:GB, continent:EU, default)' }),
  step: z
    .enum(STEP_NAMES)
    .optional()
    .openapi({
      description: `Series bucket (UTC-aligned). Default from the range: ≤ 6 h 1m, ≤ 24 h 5m, ≤ 14 d 1h, else 1d; at most ${MAX_POINTS} buckets.`,
    }),
});

const figure = z
  .object({
    value: z.number().nullable().openapi({ description: 'null when it cannot be computed (see reason)' }),
    unit: z.string(),
    assumptions: z.array(z.string()),
    reason: z.string().optional(),
  })
  .openapi('Figure');
const itemised = figure
  .extend({
    items: z
      .record(z.string(), figure)
      .openapi({ description: 'requests, cpu, kv, d1, analyticsEngine, egress, gpu, workersAi' }),
  })
  .openapi('ItemisedFigure');
const costSchema = z
  .object({
    currency: z.literal('USD'),
    actual: itemised.openapi({ description: 'USD per million requests, the actual mix' }),
    periodTotal: itemised.openapi({ description: 'USD for the range' }),
    counterfactuals: z.object({ allOnGpu: itemised, fullModelAtEdge: itemised, workersAiResnet50: itemised }),
    gpuPerForwardedSample: figure,
    assumptions: z.array(z.string()),
  })
  .openapi('MetricsCost', {
    description: `core/cost-model.ts costReport of these totals with the served bundle at its default operating point. Degraded decisions count as forwarded (the forward was made). ${KV_READS_ASSUMPTION}. ${D1_ROWS_ASSUMPTION}.`,
  });
const ms = (what: string) => z.number().nullable().openapi({ description: what });
const totals = z
  .object({
    requests: z.number().int().describe('decisions (refused input is not one)'),
    edge: z.number().int().describe('answered at an edge exit'),
    forwarded: z.number().int().describe('answered by the backend'),
    degraded: z.number().int().describe("forward failed, the edge's best answer given"),
    capped: z
      .number()
      .int()
      .describe(
        'the money cap (maxUsdPerMillion) kept a would-be forward at the edge: best edge answer, reason "budget"',
      ),
    errors: z.number().int().describe('no answer (502/504, unexpected 500)'),
    edgeRate: z.number().nullable().describe('edge / requests; null without requests'),
    bytesForwarded: z.number(),
    edgeMs: z.number().describe("sum of the edge's own inference ms"),
    backendMs: z.number().describe('sum of forward round trips, ms'),
    totalMs: z.number().describe('sum of arrival-to-answer ms'),
    latencyMs: z.object({ p50: ms('p50'), p95: ms('p95'), p99: ms('p99') }).openapi({
      description:
        'Arrival-to-answer quantiles from the histogram buckets: the upper bound of the bucket holding the quantile (an over-estimate by at most one bucket, ×1.67); ≥ 5000 ms reads 5000. null without requests.',
    }),
    exits: z.record(z.string(), z.number().int()).openapi({
      description:
        "the exit distribution: answered decisions per exit index (0 = the first exit; the bundle's exit count = the final head, on the backend or at the edge when every segment runs there); errors are in none",
      example: { '0': 120, '1': 14, '4': 6 },
    }),
    cost: costSchema,
  })
  .openapi('MetricsTotals');
const metricsSchema = z
  .object({
    from: z.string().describe('ISO, the range start used'),
    to: z.string().describe('ISO, the range end used (exclusive)'),
    region: z.string().nullable(),
    step: z.enum(STEP_NAMES),
    stepSeconds: z.number().int(),
    rollupHorizon: z
      .string()
      .describe('ISO: before this, minutes may be rolled into hour rows (counted whole, in the bucket of their hour)'),
    tables: z.array(z.enum(['decisions', 'decisions_hourly'])),
    model: z.string().describe('the bundle and operating point the cost is computed for'),
    totals,
    byRegion: z.record(z.string(), totals).describe('the same per region key'),
    controller: z
      .record(
        z.string(),
        z.object({
          guarded: z
            .object({ at: z.string(), floors: z.array(z.number()), reason: z.string() })
            .optional()
            .describe("a broken shadow guard raised these exits' thresholds (2 = off)"),
          capped: z
            .object({ at: z.string(), share: z.number(), spendUsdPerMillion: z.number() })
            .optional()
            .describe('the money cap answers this share of would-be forwards at the edge'),
          canary: z.object({ share: z.number(), startedAt: z.string().optional() }).optional(),
          maxUsdPerMillion: z.number().optional(),
          maxForwardRate: z.number().optional(),
          shadow: z.number().optional(),
        }),
      )
      .describe(
        "the per-region controller's state, as published to KV now (not over the range): regions with a guard raised, a money cap holding forwards back, a canary, or controller budgets",
      ),
    series: z.array(
      z.object({
        time: z.string().describe('ISO start of the step bucket'),
        requests: z.number().int(),
        edge: z.number().int(),
        forwarded: z.number().int(),
        degraded: z.number().int(),
        capped: z.number().int(),
        errors: z.number().int(),
        p95Ms: z.number().nullable().describe('upper bound of the bucket holding p95'),
      }),
    ),
  })
  .openapi('Metrics');

export const metricsRoute = createRoute({
  method: 'get',
  path: '/v1/metrics',
  tags: ['admin'],
  security,
  summary: 'Decision metrics over a time range: totals, per region, series, and their cost',
  description:
    'From the D1 decision rows: minute rows, plus hour rows for the part of the range older than the roll-up horizon (METRICS_ROLLUP_AFTER_HOURS). Decisions not yet flushed by their isolate (< METRICS_FLUSH_DECISIONS or METRICS_FLUSH_SECONDS) are not in them.',
  request: { query },
  responses: {
    200: { description: 'the metrics', content: { 'application/json': { schema: metricsSchema } } },
    ...problems({ 400: ['BAD_QUERY'] }),
    ...auth,
  },
});

let facts: ModelFacts | undefined;
function servedFacts(): ModelFacts {
  if (facts) return facts;
  const m = edgeModel().manifest;
  const point = m.policies.atDefault;
  facts = modelFacts(m, {
    split: defaultSplit(m),
    exitRates: point.exitRates,
    policy: m.policies.default,
    thresholds: m.exits.map((e) => e.defaultThreshold),
  });
  return facts;
}

const trim = (r: CostReport, extra: string[]) => ({
  currency: r.currency,
  actual: r.actual,
  periodTotal: r.periodTotal,
  counterfactuals: r.counterfactuals,
  gpuPerForwardedSample: r.gpuPerForwardedSample,
  assumptions: [...extra, ...r.assumptions],
});

export const metricsApi = new OpenAPIHono<EdgeEnv>({ defaultHook: problemHook({ query: 'BAD_QUERY' }) });
// Only this path: metricsApi is mounted at the root, where '*' would cover every route.
metricsApi.use(metricsRoute.path, requireAdmin);
serve(metricsApi, metricsRoute, async (c) => {
  const q = c.req.valid('query');
  const now = Date.now();
  const toMs = q.to ?? now;
  const fromMs = q.from ?? toMs - 3_600_000;
  const bad = (detail: string) => new ProblemError(400, 'BAD_QUERY', detail);
  if (!(fromMs < toMs))
    throw bad(`from (${new Date(fromMs).toISOString()}) must be before to (${new Date(toMs).toISOString()})`);
  if (toMs - fromMs > MAX_RANGE_DAYS * DAY_MS) throw bad(`the range is longer than ${MAX_RANGE_DAYS} days`);
  const step = q.step ?? defaultStep((toMs - fromMs) / 1000);
  const stepSeconds = STEPS[step];
  const points = Math.ceil((toMs - fromMs) / 1000 / stepSeconds);
  if (points > MAX_POINTS)
    throw bad(`step=${step} gives ${points} buckets over this range; at most ${MAX_POINTS}: choose a longer step`);
  const plan = planQuery({
    fromMs,
    toMs,
    stepSeconds,
    region: q.region ?? null,
    nowMs: now,
    rollupAfterHours: metricsConfig(c.env).rollupAfterHours,
  });
  const rows = await readBuckets(c.env.METRICS, plan);
  const model = servedFacts();
  const options = {
    model,
    analyticsEngine: Boolean(c.env.DECISIONS_AE),
    periodSeconds: plan.to - plan.from,
    edgeCpuMsPerRequest: edgeCpuPerRequest(c.env, edgeModel().manifest.name),
  };
  const summary = summarise(rows, plan, (s) =>
    trim(costReport(decisionTotals(s), options), [KV_READS_ASSUMPTION, D1_ROWS_ASSUMPTION]),
  );
  const controller = Object.fromEntries(
    (await listRegions(c.env.THRESHOLDS))
      .filter((r) => plan.region === null || r.key === plan.region)
      .map(({ key, settings: s }) => [
        key,
        {
          ...(s.guarded ? { guarded: s.guarded } : {}),
          ...(s.capped
            ? { capped: { at: s.capped.at, share: s.capped.share, spendUsdPerMillion: s.capped.spendUsdPerMillion } }
            : {}),
          ...(s.canary ? { canary: { share: s.canary.share, startedAt: s.canary.startedAt } } : {}),
          ...(s.maxUsdPerMillion !== undefined ? { maxUsdPerMillion: s.maxUsdPerMillion } : {}),
          ...(s.maxForwardRate !== undefined ? { maxForwardRate: s.maxForwardRate } : {}),
          ...(s.shadow ? { shadow: s.shadow } : {}),
        },
      ])
      .filter(([, v]) => Object.keys(v as object).length > 0),
  );
  return c.json({
    from: new Date(plan.from * 1000).toISOString(),
    to: new Date(plan.to * 1000).toISOString(),
    region: plan.region,
    step,
    stepSeconds,
    rollupHorizon: new Date(plan.horizon * 1000).toISOString(),
    tables: plan.statements.map((s) => s.table),
    model: model.source,
    ...summary,
    controller,
  });
});
