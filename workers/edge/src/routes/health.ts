/**
 * `GET /healthz`: the isolate answers. `GET /readyz`: the model's edge sessions load, KV answers,
 * the backend's health, and any threshold problems (invalid or missing entries) seen recently.
 * 503 only when this worker cannot answer at all (model or KV); a down backend is reported but
 * the edge still serves (degraded answers).
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { type EdgeEnv, type RouteContext, serve } from '../api/define.js';
import { backendHeaders } from '../cascade/forward.js';
import { edgeModel } from '../model/edge-model.js';
import { wasmHeapBytes } from '../runtime/ort.js';
import { currentKey, listRegions, recentProblems } from '../thresholds/region-entries.js';

/** Short: /readyz must answer fast even when the backend hangs. */
const BACKEND_PROBE_TIMEOUT_MS = 500;

const check = z.object({ ok: z.boolean(), error: z.string().optional() }).loose();

export const healthzRoute = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['health'],
  summary: 'Liveness: the isolate answers',
  responses: {
    200: { description: 'alive', content: { 'application/json': { schema: z.object({ ok: z.literal(true) }) } } },
  },
});

export const readyzRoute = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['health'],
  summary: 'Readiness: model sessions, KV, the backend, recent threshold problems',
  description:
    '503 only when this worker cannot answer at all (model or KV); a down backend is reported with ready: true (the edge still serves, degraded).',
  responses: {
    200: {
      description: 'ready',
      content: {
        'application/json': {
          schema: z
            .object({
              ready: z.boolean(),
              checks: z.object({
                model: check,
                kv: check,
                backend: check,
                thresholdProblems: z.record(z.string(), z.object({ at: z.string(), problem: z.string() })),
                controller: z
                  .object({
                    ok: z
                      .boolean()
                      .describe('false while some region runs with a broken guard raised, or capped by money'),
                    guarded: z
                      .record(z.string(), z.object({ at: z.string(), floors: z.array(z.number()), reason: z.string() }))
                      .describe("regions whose shadow guard broke: the exits' threshold floors (2 = off) and why"),
                    capped: z
                      .record(
                        z.string(),
                        z.object({ at: z.string(), share: z.number(), spendUsdPerMillion: z.number() }),
                      )
                      .describe(
                        'regions whose money cap holds back a share of forwards (answers flagged reason "budget")',
                      ),
                    canaries: z.record(z.string(), z.object({ share: z.number(), startedAt: z.string().optional() })),
                  })
                  .loose()
                  .describe('what the per-region controller has done, as published to KV'),
              }),
            })
            .openapi('Readiness'),
        },
      },
    },
    503: {
      description: 'not ready (model or KV failed); same document, ready: false',
      content: {
        'application/json': {
          schema: z.object({ ready: z.literal(false), checks: z.record(z.string(), z.unknown()) }),
        },
      },
    },
  },
});

/** Serves GET /healthz and GET /readyz on `app`. */
export function serveHealth(app: OpenAPIHono<EdgeEnv>): void {
  serve(app, healthzRoute, (c) => c.json({ ok: true }));
  serve(app, readyzRoute, readyz);
}

async function readyz(c: RouteContext<typeof readyzRoute>): Promise<Response> {
  const model = edgeModel();
  const checks: Record<string, unknown> = {};
  let ready = true;
  try {
    await model.load(model.manifest.exits.length);
    checks.model = {
      ok: true,
      name: model.manifest.name,
      sessions: model.loadedSessions(),
      segments: model.manifest.segments.length,
      exits: model.manifest.exits.length,
      wasmHeapBytes: wasmHeapBytes(),
    };
  } catch (e) {
    ready = false;
    checks.model = { ok: false, error: (e as Error).message };
  }
  try {
    const hasDefault = (await c.env.THRESHOLDS.get(currentKey('default'))) !== null;
    checks.kv = {
      ok: true,
      defaultEntry: hasDefault,
      ...(hasDefault
        ? {}
        : { warning: 'no "default" region entry: requests without a matching region use the manifest defaults' }),
    };
  } catch (e) {
    ready = false;
    checks.kv = { ok: false, error: (e as Error).message };
  }
  const url = c.env.BACKEND ? 'http://backend' : c.env.BACKEND_URL;
  if (!url) checks.backend = { ok: false, error: 'not configured: not-confident requests get degraded edge answers' };
  else {
    try {
      const req = new Request(new URL('/healthz', url), {
        headers: backendHeaders(c.env),
        signal: AbortSignal.timeout(BACKEND_PROBE_TIMEOUT_MS),
      });
      const res = await (c.env.BACKEND ? c.env.BACKEND.fetch(req) : fetch(req));
      checks.backend = { ok: res.ok, status: res.status };
    } catch (e) {
      checks.backend = { ok: false, error: (e as Error).message };
    }
  }
  checks.thresholdProblems = Object.fromEntries(recentProblems);
  try {
    const regions = await listRegions(c.env.THRESHOLDS);
    const pick = <T>(f: (s: (typeof regions)[number]['settings']) => T | undefined) =>
      Object.fromEntries(regions.flatMap((r) => (f(r.settings) ? [[r.key, f(r.settings)!]] : [])));
    const guarded = pick((s) => s.guarded);
    const capped = pick((s) =>
      s.capped
        ? { at: s.capped.at, share: s.capped.share, spendUsdPerMillion: s.capped.spendUsdPerMillion }
        : undefined,
    );
    checks.controller = {
      ok: !Object.keys(guarded).length && !Object.keys(capped).length,
      guarded,
      capped,
      canaries: pick((s) => (s.canary ? { share: s.canary.share, startedAt: s.canary.startedAt } : undefined)),
    };
  } catch (e) {
    checks.controller = { ok: false, error: (e as Error).message, guarded: {}, capped: {}, canaries: {} };
  }
  return c.json({ ready, checks }, ready ? 200 : 503);
}
