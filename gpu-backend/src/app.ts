/**
 * The backend's routes: `POST /v1/resume` (signed safetensors features → the rest of the cascade;
 * request and answer are the wire contract of core/wire.ts), `/healthz`, `/readyz`, `/metrics`.
 * Errors are problem+json with a stable code (core/problem.ts).
 */
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { timeout } from 'hono/timeout';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Manifest } from '../../core/manifest.js';
import { mediaType } from '../../core/media-type.js';
import { ProblemError, problem, problemOnError } from '../../core/problem.js';
import {
  decodeFeatures,
  parseResumeMetadata,
  RESUME_PATH,
  type ResumeAnswer,
  SafetensorsError,
  SIGNATURE_HEADER,
  verifyBody,
} from '../../core/wire.js';
import { type Batcher, BatchFailed, Overloaded } from './batcher.js';
import type { Config } from './config.js';
import type { AdapterInfo } from './executors/executor.js';
import type { Metrics } from './metrics.js';
import { nodeMac } from './node-mac.js';
import { ReplayGuard } from './replay-guard.js';
import { StoreUnavailable } from './shared-replay-guard.js';

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
   *  within the window. Default: this process's own ReplayGuard; cluster-processes.ts asks the
   *  primary's, so a replay reaching another process is refused too. */
  fresh?: (replayKey: string) => boolean | Promise<boolean>;
  /** Which replay guard `fresh` is, for /readyz; `store` carries the shared store's state, which
   *  decides readiness (a host whose store is down refuses resume requests). */
  replayGuard?: { kind: 'process' | 'primary' | 'store'; status?: () => { ok: boolean; error?: string } };
  /** The /metrics text. Default: this process's; cluster-processes.ts asks the primary for every
   *  process's, added up. */
  metricsText?: () => Promise<string>;
}

/** A route's problem answer that is also counted in the metrics (every resume refusal is). */
type Fail = (status: ContentfulStatusCode, code: string, detail: string, headers?: Record<string, string>) => Response;

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
  /** Requests the route's timeout() has answered (504) while their handler still runs. */
  const expired = new WeakSet<Context>();

  app.use('*', async (c, next) => {
    await next();
    if (c.req.path === RESUME_PATH) st.metrics.request(c.res.status);
    // While draining, every answer ends its connection: clients reconnect (elsewhere) for the next request.
    if (st.draining) c.res.headers.set('connection', 'close');
  });

  app.post(
    RESUME_PATH,
    bodyLimit({
      maxSize: st.cfg.BODY_LIMIT_BYTES,
      onError: (c) =>
        problem(c, 413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${st.cfg.BODY_LIMIT_BYTES} bytes`, {
          // The unread rest of the body is still on the connection: close it, or its bytes would be parsed as the next request.
          connection: 'close',
        }),
    }),
    timeout(st.cfg.REQUEST_TIMEOUT_MS, (c) => {
      expired.add(c);
      return new ProblemError(504, 'TIMEOUT', `no answer within ${st.cfg.REQUEST_TIMEOUT_MS} ms`, {
        // The timer may fire while the body is still arriving: as above, its rest must not be read as a request.
        headers: { connection: 'close' },
      });
    }),
    async (c) => {
      // What the timeout leaves running (this request's batcher work) still ends in this handler,
      // answered or refused, and nothing rejects unhandled; hono keeps the 504 and drops that late
      // answer, and a late refusal is not counted again (the 504 was).
      const fail: Fail = (status, code, detail, headers) => {
        if (!expired.has(c)) st.metrics.error(code);
        return problem(c, status, code, detail, headers);
      };
      if (st.draining)
        return fail(503, 'SHUTTING_DOWN', 'the backend is shutting down', { 'retry-after': String(RETRY_AFTER_S) });
      st.inFlight++;
      try {
        return await resume(c, fail);
      } finally {
        st.inFlight--;
      }
    },
  );

  async function resume(c: Context, fail: Fail): Promise<Response> {
    const type = mediaType(c.req.header('content-type'));
    if (type !== 'application/octet-stream')
      return fail(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `content-type "${type}" is not accepted; send application/octet-stream (safetensors)`,
      );
    // A client that disconnects mid-body makes this throw ECONNRESET: onError answers 400 BODY_ABORTED.
    const body = new Uint8Array(await c.req.arrayBuffer());
    const header = c.req.header(SIGNATURE_HEADER);
    const sig = await verifyBody(st.cfg.CASCADE_SECRET, body, header, {
      windowMs: st.cfg.SIGNATURE_WINDOW_MS,
      mac: nodeMac,
    });
    if (!sig.ok) return fail(401, `SIGNATURE_${sig.reason.toUpperCase()}`, `${SIGNATURE_HEADER} is ${sig.reason}`);
    let isFresh: boolean;
    try {
      isFresh = await fresh(sig.replayKey);
    } catch (e) {
      if (!(e instanceof StoreUnavailable)) throw e;
      return fail(503, 'REPLAY_STORE_UNAVAILABLE', `${e.message}; not served unchecked`, {
        'retry-after': String(RETRY_AFTER_S),
      });
    }
    if (!isFresh) return fail(401, 'SIGNATURE_REPLAYED', 'this signed body was already received');
    let f: ReturnType<typeof decodeFeatures>;
    try {
      f = decodeFeatures(body);
    } catch (e) {
      if (e instanceof SafetensorsError) return fail(400, 'BAD_BODY', e.message);
      throw e;
    }
    const meta = parseResumeMetadata(f.metadata);
    if (!meta.ok) return fail(400, 'BAD_METADATA', meta.detail);
    const md = meta.data;
    if (md.modelHash !== m.backbone.sha256)
      return fail(
        409,
        'MODEL_MISMATCH',
        `modelHash ${md.modelHash.slice(0, 12)}… is not this backend's model ${m.name} (${m.backbone.sha256.slice(0, 12)}…)`,
      );
    if (md.segment < 1 || md.segment >= m.segments.length)
      return fail(400, 'BAD_SEGMENT', `segment ${md.segment} is not resumable; allowed 1-${m.segments.length - 1}`);
    const want = [1, ...m.segments[md.segment]!.inputShape];
    if (f.shape.length !== want.length || f.shape.some((d, i) => d !== want[i]))
      return fail(
        400,
        'BAD_SHAPE',
        `features shape [${f.shape}] does not match segment ${md.segment}'s input [${want}]`,
      );
    const deeper = m.exits.length - md.segment;
    if (md.thresholds.length !== deeper)
      return fail(
        400,
        'BAD_METADATA',
        `thresholds has ${md.thresholds.length} entries; resuming at segment ${md.segment} needs one per deeper exit (${deeper})`,
      );
    if (md.scores && md.scores.length !== md.segment)
      return fail(
        400,
        'BAD_METADATA',
        `scores has ${md.scores.length} entries; resuming at segment ${md.segment} needs one per exit the edge ran (${md.segment})`,
      );
    if (md.policy === 'eenet' && deeper > 0 && !md.scores)
      return fail(
        400,
        'BAD_METADATA',
        `policy eenet needs "scores" (the ${md.segment} edge exits' scores): the scheduler's deeper exits read them`,
      );
    if (md.policy === 'eenet' && !m.exits.every((e) => e.scheduler))
      return fail(400, 'BAD_METADATA', `this bundle (${m.name}) has no EENet scheduler; policy eenet is not served`);
    if (!allFinite(f.data)) return fail(400, 'BAD_VALUES', 'features contain NaN or Infinity');
    try {
      // REQUEST_TIMEOUT_MS is the route's timeout() above; past it, this await still settles (and is handled) here.
      const r = await st.batcher.submit({
        segment: md.segment,
        features: f.data,
        policy: md.policy,
        thresholds: md.thresholds,
        scores: md.scores ?? [],
      });
      // Finite features far outside what the edge's segments produce (e.g. ±3e38) overflow inside the
      // network: the answer would carry a NaN confidence (JSON null). That is the input's fault: 422.
      if (!Number.isFinite(r.confidence))
        return fail(
          422,
          'NON_FINITE_RESULT',
          `the features drove the model to a non-finite score (${r.confidence}); they are not what segment ${md.segment - 1} produces`,
        );
      return c.json({
        classIndex: r.classIndex,
        label: r.label,
        confidence: r.confidence,
        exit: r.exit,
        timings: r.timings,
        batchSize: r.batchSize,
        executor: st.executor.name,
      } satisfies ResumeAnswer);
    } catch (e) {
      if (e instanceof Overloaded) return fail(503, 'OVERLOADED', e.message, { 'retry-after': String(RETRY_AFTER_S) });
      if (e instanceof BatchFailed) return fail(500, 'EXECUTOR_FAILED', e.message);
      throw e;
    }
  }

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', (c) => {
    const guard = st.replayGuard ?? { kind: 'process' as const };
    const store = guard.status?.();
    const ready = !st.draining && (store?.ok ?? true);
    return c.json(
      {
        ready,
        replayGuard: { kind: guard.kind, ...(store ? store : {}) },
        model: m.name,
        modelHash: m.backbone.sha256,
        executor: st.executor.name,
        ...(st.executor.info ? { adapter: st.executor.info } : {}),
        fallbacks: st.executor.fallbacks,
        queued: st.batcher.queued(),
        maxBatch: st.cfg.MAX_BATCH,
        maxWaitMs: st.cfg.MAX_WAIT_MS,
      },
      ready ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) =>
    c.body(st.metricsText ? await st.metricsText() : await st.metrics.render(gauges(st)), 200, {
      'content-type': st.metrics.contentType,
    }),
  );
  app.notFound((c) => problem(c, 404, 'NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));
  app.onError(
    problemOnError({
      // Every problem rendered here (TIMEOUT from timeout(), BODY_ABORTED, INTERNAL, …) is counted, as the route's own are.
      counted: (code) => st.metrics.error(code),
      // A client that disconnects mid-body (Node: ECONNRESET "aborted", read in the route or, for a
      // chunked body, in bodyLimit): its fault, and nobody is left to read the answer. Counted, not
      // logged as an internal error.
      special: (err, c) => {
        if ((err as { code?: string }).code !== 'ECONNRESET') return undefined;
        st.metrics.error('BODY_ABORTED');
        return problem(c, 400, 'BODY_ABORTED', `the body ended early (${err.message})`);
      },
    }),
  );
  return app;
}
