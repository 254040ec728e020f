/**
 * `POST /v1/classify`: decode → normalise (manifest) → edge cascade → answer, or forward the
 * features to the backend; if the backend cannot answer, the best edge answer with degraded:true.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { log } from '../../../../core/log.js';
import { imageShape, type Manifest } from '../../../../core/manifest.js';
import { normaliseImages } from '../../../../core/normalise.js';
import { CANARY_SHADOW_DEFAULT, checkSettings, exploreShare, resolveThresholds } from '../../../../core/regions.js';
import type { Arm } from '../../../../core/shadow.js';
import { encodeFeatures, resumeMetadata } from '../../../../core/wire.js';
import { type EdgeEnv, problems, type RouteContext, serve } from '../api/define.js';
import { backendTarget, forward } from '../cascade/forward.js';
import { runEdge, scoreEdgeExits } from '../cascade/run-edge.js';
import { recordExplored } from '../controller/scores.js';
import { recordArmDecision, shadowAnswer } from '../controller/shadow.js';
import { problem } from '../errors.js';
import { type Decision, NO_EXIT } from '../metrics/aggregate.js';
import { recordDecision } from '../metrics/record.js';
import { edgeModel } from '../model/edge-model.js';
import { pixelsBody, readPixels } from '../request/pixels.js';
import { REGION_HEADER, requestRegionKeys } from '../request/region-keys.js';
import { resolveRegion } from '../thresholds/region-entries.js';

/** Backend answer deadline when BACKEND_TIMEOUT_MS is unset: well under a client's patience, above a batched GPU round trip. */
const DEFAULT_BACKEND_TIMEOUT_MS = 1500;

export const classifyResponseSchema = z
  .object({
    label: z.string(),
    classIndex: z.number().int(),
    confidence: z.number(),
    exit: z.number().int(),
    where: z.enum(['edge', 'backend']),
    degraded: z.boolean(),
    reason: z.string().optional(),
    region: z.string(),
    thresholdVersion: z.string(),
    requestId: z.string(),
    /**
     * Milliseconds: edgeMs from arrival to the edge decision, of which computeMs is this request's own
     * inference (time waiting for the isolate's inference thread excluded); backendMs the forward's
     * round trip. Deployed Workers advance timers only on I/O (Spectre mitigation), so there edgeMs and
     * computeMs omit pure CPU time; locally (workerd) they are wall-clock in whole milliseconds (its
     * clock's resolution). bench:edge:cpu measures CPU per request instead.
     */
    timings: z.object({
      edgeMs: z.number(),
      computeMs: z.number(),
      backendMs: z.number().optional(),
      totalMs: z.number(),
    }),
  })
  .openapi('ClassifyAnswer');
export type ClassifyResponse = z.infer<typeof classifyResponseSchema>;

/** The route, for this bundle's input shape (the JSON body's pixel count, the raw body's size). */
export function classifyRoute(m: Manifest) {
  return createRoute({
    method: 'post',
    path: '/v1/classify',
    tags: ['classify'],
    summary: 'Classify one image',
    description: `Runs the edge segments and exits up to the region's split point and answers at the first confident exit; otherwise forwards the features to the GPU backend. If the backend cannot answer, the best edge answer comes back with \`degraded: true\` and the reason. Input: ${m.input.shape.join('×')}, ${m.classes.length} classes (${m.name}).`,
    request: {
      headers: z.object({
        [REGION_HEADER]: z.string().optional().openapi({
          description:
            'Local use only (honoured when ALLOW_REGION_HEADER is "true", `--env dev`; ignored in production): the region key to use instead of request.cf\'s; 400 BAD_REGION if it is not one.',
          example: 'colo:LHR',
        }),
      }),
      body: pixelsBody(imageShape(m)),
    },
    responses: {
      200: {
        description: 'The answer: from an edge exit or the backend, or a degraded edge answer',
        content: { 'application/json': { schema: classifyResponseSchema } },
      },
      ...problems({
        400: ['EMPTY_BODY', 'BAD_INPUT_SIZE', 'BAD_JSON', 'BAD_PIXELS', 'BAD_PNG', 'BODY_ABORTED', 'BAD_REGION'],
        413: ['PAYLOAD_TOO_LARGE'],
        415: ['UNSUPPORTED_MEDIA_TYPE'],
        502: ['BACKEND_UNAVAILABLE'],
        504: ['BACKEND_UNAVAILABLE'],
      }),
    },
  });
}
type ClassifyRoute = ReturnType<typeof classifyRoute>;

/**
 * The decision metrics' view of one request, filled in as it goes: `region` once resolved (refused
 * input, before that, is no decision), the rest where it answers. Left as set when the handler
 * throws after the region: outcome error.
 */
type Tally = Omit<Decision, 'totalMs' | 'region'> & { region?: string };

/**
 * The controller's exploration (core/live-solve.ts): a share of a region's requests (its `explore`,
 * default 5 % with a forward-rate budget) is scored at every edge exit once its answer has gone:
 * the work is queued behind this request on the isolate's inference thread under `waitUntil`, and
 * the scores go to the region's Durable Object in batches (controller/scores.ts). The answer is
 * never changed or delayed by it; a failure is logged.
 */
function explore(
  c: RouteContext<ClassifyRoute>,
  region: Awaited<ReturnType<typeof resolveRegion>>,
  x: Float32Array,
): void {
  const share = region.source === 'manifest-default' ? 0 : exploreShare(region.settings);
  if (!(share > 0) || Math.random() >= share) return;
  const defer = deferrer(c);
  if (!defer) return;
  const model = edgeModel();
  const { policy, split } = region.settings;
  defer(
    model
      .exclusive((runner) => scoreEdgeExits(runner, model.manifest, x, policy, split))
      .then(({ result }) => recordExplored(c.env, defer, region.key, result))
      .catch((e) =>
        log.warn('controller: exploring an input failed; the answer is unaffected', { region: region.key, error: e }),
      ),
  );
}

/** The request's waitUntil, or null without an ExecutionContext (app.request in a test): nothing can outlive the response. */
function deferrer(c: RouteContext<ClassifyRoute>): ((p: Promise<unknown>) => void) | null {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return null;
  }
}

/**
 * Which arm serves this request: a region with a canary serves that share of its requests with the
 * canary's thresholds (not raised by guard floors: the canary is what is being judged).
 */
function chooseArm(region: Awaited<ReturnType<typeof resolveRegion>>): Arm {
  const canary = region.source === 'manifest-default' ? undefined : region.settings.canary;
  return canary && Math.random() < canary.share ? 'canary' : 'stable';
}

/** Serves POST /v1/classify on `app`, described for the isolate's bundle. */
export function serveClassify(app: OpenAPIHono<EdgeEnv>): void {
  const route = classifyRoute(edgeModel().manifest);
  serve(app, route, async (c) => {
    const t0 = performance.now();
    const tally: Tally = { exit: NO_EXIT, outcome: 'error', bytes: 0, computeMs: 0, backendMs: 0 };
    try {
      return await classify(c, route, t0, tally);
    } finally {
      // Counted after the answer is made, written later (waitUntil, batched): never on the answer's path.
      if (tally.region !== undefined)
        recordDecision(c.env, (p) => c.executionCtx.waitUntil(p), {
          ...tally,
          region: tally.region,
          totalMs: performance.now() - t0,
        });
    }
  });
}

async function classify(
  c: RouteContext<ClassifyRoute>,
  route: ClassifyRoute,
  t0: number,
  tally: Tally,
): Promise<Response> {
  const since = () => Math.round((performance.now() - t0) * 100) / 100;
  const model = edgeModel();
  const m = model.manifest;
  const image = imageShape(m);
  // Read by the capped reader, by the route's body description (its content types and JSON schema).
  const pixels = await readPixels(c.req.raw, image, route.request.body);
  const region = await resolveRegion(c.env.THRESHOLDS, requestRegionKeys(c), m, (s) => checkSettings(s, m));
  tally.region = region.key;
  const s = region.settings;
  const arm = chooseArm(region);
  const thresholds = arm === 'canary' ? s.canary!.thresholds : resolveThresholds(s, m);
  const thresholdVersion = arm === 'canary' ? `${region.thresholdVersion}+canary` : region.thresholdVersion;
  // The controller's view of this region: shadowed answers, and each arm's decisions, when it verifies.
  const verifies = region.source !== 'manifest-default' && ((s.shadow ?? 0) > 0 || s.canary !== undefined);
  const shadowShare = arm === 'canary' ? (s.canary!.shadow ?? CANARY_SHADOW_DEFAULT) : (s.shadow ?? 0);
  const defer = verifies ? deferrer(c) : null;
  const count = (where: 'edge' | 'forwarded') => {
    if (defer) recordArmDecision(c.env, defer, region.key, region.version, arm, where);
  };
  const x = normaliseImages(pixels, 1, image, m.input.normalisation.mean, m.input.normalisation.std, m.input.layout);
  const { result: r, computeMs: compute } = await model.exclusive((runner) =>
    runEdge(runner, m, x, { policy: s.policy, thresholds, split: s.split }),
  );
  const edgeMs = since();
  const computeMs = Math.round(compute * 100) / 100;
  tally.computeMs = computeMs;
  explore(c, region, x);
  const requestId = c.get('requestId' as never) as string;
  const base = { region: region.key, thresholdVersion, requestId };
  const staleReason = region.source === 'kv-stale' ? 'thresholds_stale' : undefined;
  if (r.kind === 'answer') {
    [tally.outcome, tally.exit] = ['edge', r.answer.exit];
    count('edge');
    if (defer && shadowShare > 0 && r.answer.exit < m.exits.length && Math.random() < shadowShare)
      shadowAnswer(c.env, defer, {
        key: region.key,
        version: region.version,
        arm,
        x,
        answer: r.answer,
        split: s.split,
        requestId,
        thresholdVersion,
      });
    return c.json({
      label: m.classes[r.answer.classIndex]!,
      ...r.answer,
      where: 'edge',
      degraded: !!staleReason,
      ...(staleReason ? { reason: staleReason } : {}),
      ...base,
      timings: { edgeMs, computeMs, totalMs: since() },
    } satisfies ClassifyResponse);
  }
  // The money cap (controller/cap.ts): this share of would-be forwards is answered at the edge, flagged.
  const capShare = region.source === 'manifest-default' ? 0 : (s.capped?.share ?? 0);
  if (r.best && capShare > 0 && Math.random() < capShare) {
    [tally.outcome, tally.exit] = ['capped', r.best.exit];
    count('edge');
    return c.json({
      label: m.classes[r.best.classIndex]!,
      ...r.best,
      where: 'edge',
      degraded: true,
      reason: 'budget',
      ...base,
      timings: { edgeMs, computeMs, totalMs: since() },
    } satisfies ClassifyResponse);
  }
  count('forwarded');
  const body = encodeFeatures(
    r.features,
    r.featureShape,
    s.encoding,
    resumeMetadata({
      model: m.name,
      modelHash: m.backbone.sha256,
      segment: r.resumeAt,
      thresholdVersion,
      requestId,
      region: region.key,
      policy: s.policy,
      thresholds: thresholds.slice(r.resumeAt),
      // The earlier exits' scores: the EENet scheduler's deeper exits read them.
      scores: r.scores,
    }),
  );
  const target = backendTarget(c.env, Number(c.env.BACKEND_TIMEOUT_MS ?? DEFAULT_BACKEND_TIMEOUT_MS));
  const fwd = target
    ? await forward(target, body, requestId)
    : {
        ok: false as const,
        reason: 'backend_not_configured' as const,
        detail: 'BACKEND/BACKEND_URL or CASCADE_SECRET is not set',
        ms: 0,
      };
  tally.bytes = !fwd.ok && fwd.reason === 'backend_not_configured' ? 0 : body.byteLength;
  tally.backendMs = fwd.ms;
  if (fwd.ok) {
    const a = fwd.answer;
    [tally.outcome, tally.exit] = ['forwarded', a.exit];
    return c.json({
      label: a.label,
      classIndex: a.classIndex,
      confidence: a.confidence,
      exit: a.exit,
      where: 'backend',
      degraded: !!staleReason,
      ...(staleReason ? { reason: staleReason } : {}),
      ...base,
      timings: { edgeMs, computeMs, backendMs: fwd.ms, totalMs: since() },
    } satisfies ClassifyResponse);
  }
  log.warn('backend did not answer; degrading', {
    requestId,
    region: region.key,
    segment: r.resumeAt,
    reason: fwd.reason,
    detail: fwd.detail,
    backendMs: fwd.ms,
  });
  const best = r.best;
  if (!best) {
    // Every exit the edge ran was off (e.g. "backbone only"): there is no edge answer to fall back on.
    const status = fwd.reason === 'backend_timeout' ? 504 : 502;
    return problem(
      c,
      status,
      'BACKEND_UNAVAILABLE',
      `the backend could not answer (${fwd.reason}) and this region's thresholds turn off every exit the edge runs, so there is no edge answer to degrade to`,
    );
  }
  [tally.outcome, tally.exit] = ['degraded', best.exit];
  return c.json({
    label: m.classes[best.classIndex]!,
    ...best,
    where: 'edge',
    degraded: true,
    reason: fwd.reason,
    ...base,
    timings: { edgeMs, computeMs, backendMs: fwd.ms, totalMs: since() },
  } satisfies ClassifyResponse);
}
