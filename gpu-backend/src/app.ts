/**
 * The backend's routes: `POST /v1/resume` (signed safetensors features → the rest of the cascade),
 * `/healthz`, `/readyz`, `/metrics`. Errors are problem+json with a stable code.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { Manifest } from '../../core/manifest.js';
import { POLICIES } from '../../core/policies.js';
import { decodeFeatures } from '../../core/feature-codec.js';
import { mediaType } from '../../core/media-type.js';
import { SIGNATURE_HEADER, verifyBody } from '../../core/signature.js';
import { nodeMac } from './node-mac.js';
import { ReplayGuard } from './replay-guard.js';
import { SafetensorsError } from '../../core/safetensors.js';
import { BatchFailed, Overloaded, type Batcher } from './batcher.js';
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import type { AdapterInfo } from './executors/executor.js';

/** Seconds a client should wait after a 503: a few batch windows. */
const RETRY_AFTER_S = 1;

export interface BackendState {
  cfg: Config;
  manifest: Manifest;
  batcher: Batcher;
  metrics: Metrics;
  executor: { name: string; fallbacks: { name: string; reason: string }[]; info?: AdapterInfo };
  draining: boolean;
  /** Resume requests accepted and not yet answered (graceful shutdown waits for them). */
  inFlight: number;
  /** True the first time a signed body's replay key (its canonical MAC, from verifyBody) is presented
   *  within the window. Default: this process's own ReplayGuard; cluster.ts asks the primary's, so a
   *  replay reaching another process is refused too. */
  fresh?: (replayKey: string) => boolean | Promise<boolean>;
  /** The /metrics text. Default: this process's; cluster.ts asks the primary for every process's, added up. */
  metricsText?: () => Promise<string>;
}

function problem(c: Context, status: 400 | 401 | 404 | 409 | 413 | 415 | 422 | 500 | 503 | 504, code: string, detail: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: `https://edge-cascade.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`, status, code, detail, requestId: c.req.header('x-request-id') }), {
    status, headers: { 'content-type': 'application/problem+json', ...headers },
  });
}

/** Longest metadata string we take: ids and versions are tens of characters; thresholds a few numbers per exit. */
const MAX_META_CHARS = 1024;
const metaString = z.string().max(MAX_META_CHARS);

/** A metadata string holding a JSON array of `item`. */
function jsonNumbers<T>(item: z.ZodType<T, unknown>, message: string) {
  return metaString.transform((s, ctx) => {
    try {
      return z.array(item).max(MAX_META_CHARS).parse(JSON.parse(s));
    } catch {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
  });
}

const metaSchema = z.object({
  modelHash: metaString,
  // A plain decimal index, parsed once: "0x1", "1e0" or " 1" are not segment numbers.
  segment: z.string().regex(/^(0|[1-9]\d{0,5})$/, 'must be a decimal segment index').transform(Number),
  policy: z.enum(POLICIES),
  thresholds: jsonNumbers(z.number(), 'must be a JSON array of finite numbers'),
  /** Scores of the exits the edge ran (policy eenet reads them at the deeper exits). */
  // JSON has no NaN: an edge exit whose score was NaN sends null, read back as NaN (it never passes a threshold).
  scores: jsonNumbers(z.number().nullable().transform((v) => v ?? NaN), 'must be a JSON array of numbers (null for a NaN score)').optional(),
  thresholdVersion: metaString.optional(),
  requestId: metaString.optional(),
  region: metaString.optional(),
});

function allFinite(x: Float32Array): boolean {
  // x - x is 0 for finite values and NaN for NaN and ±Infinity.
  for (let i = 0; i < x.length; i++) if (x[i]! - x[i]! !== 0) return false;
  return true;
}

/** This process's gauges: requests accepted and not yet answered, and batcher work (running batches + queued requests). */
export function gauges(st: BackendState): Record<string, number> {
  return { cascade_requests_in_flight: st.inFlight, cascade_in_flight: st.batcher.inFlight() };
}

export function createBackendApp(st: BackendState): Hono {
  const app = new Hono();
  const local = new ReplayGuard(st.cfg.SIGNATURE_WINDOW_MS);
  const fresh = st.fresh ?? ((s: string) => local.fresh(s));
  const m = st.manifest;

  app.use('*', async (c, next) => {
    await next();
    if (c.req.path === '/v1/resume') st.metrics.request(c.res.status);
    // While draining, every answer ends its connection: clients reconnect (elsewhere) for the next request.
    if (st.draining) c.res.headers.set('connection', 'close');
  });

  app.post('/v1/resume', bodyLimit({ maxSize: st.cfg.BODY_LIMIT_BYTES, onError: (c) => problem(c, 413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${st.cfg.BODY_LIMIT_BYTES} bytes`, {
    // The unread rest of the body is still on the connection: close it, or its bytes would be parsed as the next request.
    connection: 'close',
  }) }), async (c) => {
    const fail = (status: Parameters<typeof problem>[1], code: string, detail: string, headers?: Record<string, string>) => {
      st.metrics.error(code);
      return problem(c, status, code, detail, headers);
    };
    if (st.draining) return fail(503, 'SHUTTING_DOWN', 'the backend is shutting down', { 'retry-after': String(RETRY_AFTER_S) });
    st.inFlight++;
    try {
      return await resume(c, fail);
    } finally {
      st.inFlight--;
    }
  });

  async function resume(c: Context, fail: (status: Parameters<typeof problem>[1], code: string, detail: string, headers?: Record<string, string>) => Response): Promise<Response> {
    const type = mediaType(c.req.header('content-type'));
    if (type !== 'application/octet-stream') return fail(415, 'UNSUPPORTED_MEDIA_TYPE', `content-type "${type}" is not accepted; send application/octet-stream (safetensors)`);
    // A client that disconnects mid-body makes this throw ECONNRESET: onError answers 400 BODY_ABORTED.
    const body = new Uint8Array(await c.req.arrayBuffer());
    const header = c.req.header(SIGNATURE_HEADER);
    const sig = await verifyBody(st.cfg.CASCADE_SECRET, body, header, { windowMs: st.cfg.SIGNATURE_WINDOW_MS, mac: nodeMac });
    if (!sig.ok) return fail(401, `SIGNATURE_${sig.reason.toUpperCase()}`, `${SIGNATURE_HEADER} is ${sig.reason}`);
    if (!(await fresh(sig.replayKey))) return fail(401, 'SIGNATURE_REPLAYED', 'this signed body was already received');
    let f: ReturnType<typeof decodeFeatures>;
    try {
      f = decodeFeatures(body);
    } catch (e) {
      if (e instanceof SafetensorsError) return fail(400, 'BAD_BODY', e.message);
      throw e;
    }
    const meta = metaSchema.safeParse(f.metadata);
    if (!meta.success) return fail(400, 'BAD_METADATA', meta.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const md = meta.data;
    if (md.modelHash !== m.backbone.sha256) return fail(409, 'MODEL_MISMATCH', `modelHash ${md.modelHash.slice(0, 12)}… is not this backend's model ${m.name} (${m.backbone.sha256.slice(0, 12)}…)`);
    if (md.segment < 1 || md.segment >= m.segments.length) return fail(400, 'BAD_SEGMENT', `segment ${md.segment} is not resumable; allowed 1-${m.segments.length - 1}`);
    const want = [1, ...m.segments[md.segment]!.inputShape];
    if (f.shape.length !== want.length || f.shape.some((d, i) => d !== want[i])) return fail(400, 'BAD_SHAPE', `features shape [${f.shape}] does not match segment ${md.segment}'s input [${want}]`);
    const deeper = m.exits.length - md.segment;
    if (md.thresholds.length !== deeper) return fail(400, 'BAD_METADATA', `thresholds has ${md.thresholds.length} entries; resuming at segment ${md.segment} needs one per deeper exit (${deeper})`);
    if (md.scores && md.scores.length !== md.segment) return fail(400, 'BAD_METADATA', `scores has ${md.scores.length} entries; resuming at segment ${md.segment} needs one per exit the edge ran (${md.segment})`);
    if (md.policy === 'eenet' && deeper > 0 && !md.scores) return fail(400, 'BAD_METADATA', `policy eenet needs "scores" (the ${md.segment} edge exits' scores): the scheduler's deeper exits read them`);
    if (md.policy === 'eenet' && !m.exits.every((e) => e.scheduler)) return fail(400, 'BAD_METADATA', `this bundle (${m.name}) has no EENet scheduler; policy eenet is not served`);
    if (!allFinite(f.data)) return fail(400, 'BAD_VALUES', 'features contain NaN or Infinity');
    try {
      const work = st.batcher.submit({ segment: md.segment, features: f.data, policy: md.policy, thresholds: md.thresholds, scores: md.scores ?? [] });
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), st.cfg.REQUEST_TIMEOUT_MS).unref());
      const r = await Promise.race([work, timeout]);
      if (r === 'timeout') return fail(504, 'TIMEOUT', `no answer within ${st.cfg.REQUEST_TIMEOUT_MS} ms`);
      // Finite features far outside what the edge's segments produce (e.g. ±3e38) overflow inside the
      // network: the answer would carry a NaN confidence (JSON null). That is the input's fault: 422.
      if (!Number.isFinite(r.confidence)) return fail(422, 'NON_FINITE_RESULT', `the features drove the model to a non-finite score (${r.confidence}); they are not what segment ${md.segment - 1} produces`);
      return c.json({ classIndex: r.classIndex, label: r.label, confidence: r.confidence, exit: r.exit, timings: r.timings, batchSize: r.batchSize, executor: st.executor.name });
    } catch (e) {
      if (e instanceof Overloaded) return fail(503, 'OVERLOADED', e.message, { 'retry-after': String(RETRY_AFTER_S) });
      if (e instanceof BatchFailed) return fail(500, 'EXECUTOR_FAILED', e.message);
      throw e;
    }
  }

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', (c) => c.json({ ready: !st.draining, model: m.name, modelHash: m.backbone.sha256, executor: st.executor.name, ...(st.executor.info ? { adapter: st.executor.info } : {}), fallbacks: st.executor.fallbacks, queued: st.batcher.queued(), maxBatch: st.cfg.MAX_BATCH, maxWaitMs: st.cfg.MAX_WAIT_MS }, st.draining ? 503 : 200));
  app.get('/metrics', async (c) => c.text(st.metricsText ? await st.metricsText() : st.metrics.render(gauges(st)), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  app.notFound((c) => problem(c, 404, 'NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    // A client that disconnects mid-body (Node: ECONNRESET "aborted", read in the route or, for a
    // chunked body, in bodyLimit): its fault, and nobody is left to read the answer. Counted, not
    // logged as an internal error.
    if ((err as { code?: string }).code === 'ECONNRESET') {
      st.metrics.error('BODY_ABORTED');
      return problem(c, 400, 'BODY_ABORTED', `the body ended early (${err.message})`);
    }
    console.error(JSON.stringify({ level: 'error', error: err.message }));
    st.metrics.error('INTERNAL');
    return problem(c, 500, 'INTERNAL', 'unexpected error');
  });
  return app;
}
