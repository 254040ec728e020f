/**
 * A stand-in for the GPU backend (another machine), bound to the worker under test as the BACKEND
 * service. It speaks the real backend's wire contract (core/wire.ts): it checks the signature, the
 * safetensors body and the metadata with the same schema, answers with the same answer type, and
 * refuses with the same problem+json (tests/e2e/wire-contract.test.ts holds the two to that). It
 * behaves according to the request id's prefix, so tests can choose a failure mode:
 *   down-…    → 502, as a proxy in front of a dead host answers (a thrown error here would surface as
 *               a 500, not a network error); slow-… → answers after 5 s; garbage-… → 200, non-JSON body;
 *   error-…   → 500; shadow-… (the edge's shadow verification, workers/edge/src/controller/shadow.ts)
 *   → the real answer: the shipped bundle's deeper segments run from the features sent by the
 *   backend's own batcher on onnxruntime-node's CPU executor (what the real backend computes; only
 *   the network between the machines is faked), so shadowed disagreement is the model's own;
 *   anything else → a valid answer from the final head (exit = segment + the number of deeper
 *   thresholds, i.e. the bundle's exit count, whatever the bundle) with class 4.
 *
 * @example
 * serviceBindings: { BACKEND: fakeBackend } // vitest.config.ts; sign with FAKE_SECRET
 */

import { fileURLToPath } from 'node:url';
import { loadBundle } from '../../core/node/bundle.js';
import { problemResponse } from '../../core/problem.js';
import {
  decodeFeatures,
  parseResumeMetadata,
  REQUEST_ID_HEADER,
  RESUME_PATH,
  type ResumeAnswer,
  SafetensorsError,
  SIGNATURE_HEADER,
  verifyBody,
} from '../../core/wire.js';
import { Batcher } from '../../gpu-backend/src/batcher.js';
import { createOrtNodeExecutor } from '../../gpu-backend/src/executors/ort-node.js';

export const FAKE_SECRET = 'test-cascade-secret';

/** The shipped bundle's backend half, loaded on the first shadow request. */
let real: Promise<Batcher> | undefined;
function realBackend(): Promise<Batcher> {
  real ??= (async () => {
    const b = loadBundle(fileURLToPath(new URL('../../models/fashion-resnet', import.meta.url)));
    const ex = await createOrtNodeExecutor('cpu', b, 1);
    return new Batcher(ex, b.manifest, { maxBatch: 16, maxWaitMs: 0, maxQueue: 4096 });
  })();
  return real;
}
export const SLOW_MS = 5_000;

export async function fakeBackend(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === '/healthz') return Response.json({ ok: true });
  const id = req.headers.get(REQUEST_ID_HEADER) ?? '';
  const refuse = (status: 400 | 401 | 404 | 500, code: string, detail: string) =>
    problemResponse(status, code, detail, { requestId: id });
  if (id.startsWith('down-')) return new Response('Bad Gateway', { status: 502 });
  if (id.startsWith('slow-')) await new Promise((r) => setTimeout(r, SLOW_MS));
  if (id.startsWith('garbage-')) return new Response('<html>oops</html>', { status: 200 });
  if (id.startsWith('error-')) return refuse(500, 'INTERNAL', 'unexpected error (fake backend, error- request id)');
  if (req.method !== 'POST' || url.pathname !== RESUME_PATH)
    return refuse(404, 'NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
  const body = new Uint8Array(await req.arrayBuffer());
  const sig = await verifyBody(FAKE_SECRET, body, req.headers.get(SIGNATURE_HEADER), { windowMs: 30_000 });
  if (!sig.ok) return refuse(401, `SIGNATURE_${sig.reason.toUpperCase()}`, `${SIGNATURE_HEADER} is ${sig.reason}`);
  let f: ReturnType<typeof decodeFeatures>;
  try {
    f = decodeFeatures(body);
  } catch (e) {
    if (e instanceof SafetensorsError) return refuse(400, 'BAD_BODY', e.message);
    throw e;
  }
  const meta = parseResumeMetadata(f.metadata);
  if (!meta.ok) return refuse(400, 'BAD_METADATA', meta.detail);
  const md = meta.data;
  // Stricter than the real backend on purpose: the edge must send one sample, and its own request id
  // in the metadata as in the header.
  if (f.shape[0] !== 1 || md.requestId !== id)
    return refuse(
      400,
      'BAD_METADATA',
      `shape [${f.shape}], metadata requestId ${JSON.stringify(md.requestId)}, header ${JSON.stringify(id)}`,
    );
  // What the real backend checks without needing the bundle: a resumable segment, and (when sent)
  // one score per exit the edge ran. The final head is then exit segment + deeper thresholds.
  if (md.segment < 1) return refuse(400, 'BAD_SEGMENT', `segment ${md.segment} is not resumable`);
  if (md.scores && md.scores.length !== md.segment)
    return refuse(
      400,
      'BAD_METADATA',
      `scores has ${md.scores.length} entries; resuming at segment ${md.segment} needs one per exit the edge ran (${md.segment})`,
    );
  if (id.startsWith('shadow-')) {
    const r = await (await realBackend()).submit({
      segment: md.segment,
      features: f.data,
      policy: md.policy,
      thresholds: md.thresholds,
      scores: md.scores,
    });
    return Response.json({ ...r, executor: 'fake' } satisfies ResumeAnswer);
  }
  return Response.json({
    classIndex: 4,
    label: 'Coat',
    confidence: 0.97,
    exit: md.segment + md.thresholds.length,
    timings: { queueMs: 0.1, computeMs: 0.4 },
    batchSize: 1,
    executor: 'fake',
  } satisfies ResumeAnswer);
}
