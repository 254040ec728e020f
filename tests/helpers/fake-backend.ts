/**
 * A stand-in for the GPU backend (another machine), bound to the worker under test as the BACKEND
 * service. It checks what a real backend checks (signature, safetensors body, metadata) and
 * behaves according to the request id's prefix, so tests can choose a failure mode:
 *   down-…    → 502, as a proxy in front of a dead host answers (a thrown error here would surface as
 *               a 500, not a network error); slow-… → answers after 5 s; garbage-… → 200, non-JSON body;
 *   error-…   → 500; anything else → a valid answer from the final head (exit = segment + the number
 *   of deeper thresholds, i.e. the bundle's exit count, whatever the bundle) with class 4.
 */
import { decodeFeatures } from '../../core/feature-codec.js';
import { SIGNATURE_HEADER, verifyBody } from '../../core/signature.js';

export const FAKE_SECRET = 'test-cascade-secret';
export const SLOW_MS = 5_000;

export async function fakeBackend(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === '/healthz') return Response.json({ ok: true });
  const id = req.headers.get('x-request-id') ?? '';
  if (id.startsWith('down-')) return new Response('Bad Gateway', { status: 502 });
  if (id.startsWith('slow-')) await new Promise((r) => setTimeout(r, SLOW_MS));
  if (id.startsWith('garbage-')) return new Response('<html>oops</html>', { status: 200 });
  if (id.startsWith('error-')) return Response.json({ code: 'INTERNAL' }, { status: 500 });
  const body = new Uint8Array(await req.arrayBuffer());
  const sig = await verifyBody(FAKE_SECRET, body, req.headers.get(SIGNATURE_HEADER), { windowMs: 30_000 });
  if (!sig.ok) return Response.json({ code: 'BAD_SIGNATURE', detail: sig.reason }, { status: 401 });
  const f = decodeFeatures(body);
  const missing = ['model', 'modelHash', 'segment', 'thresholdVersion', 'requestId', 'region', 'policy', 'thresholds', 'encoding'].filter((k) => !(k in f.metadata));
  if (missing.length || f.shape[0] !== 1 || f.metadata.requestId !== id) {
    return Response.json({ code: 'BAD_METADATA', detail: `missing ${missing.join(', ')}; shape [${f.shape}]` }, { status: 400 });
  }
  // The edge sends the thresholds of the exits past `segment`, and (as the real backend requires when
  // present) one score per exit it ran: so the final head is exit segment + deeper thresholds.
  const segment = Number(f.metadata.segment);
  const deeper = jsonArray(f.metadata.thresholds);
  const scores = 'scores' in f.metadata ? jsonArray(f.metadata.scores) : [];
  if (!Number.isInteger(segment) || segment < 1 || !deeper || !scores || ('scores' in f.metadata && scores.length !== segment)) {
    return Response.json({ code: 'BAD_METADATA', detail: `segment ${f.metadata.segment}, thresholds ${f.metadata.thresholds}, scores ${f.metadata.scores}` }, { status: 400 });
  }
  return Response.json({
    classIndex: 4,
    label: 'Coat',
    confidence: 0.97,
    exit: segment + deeper.length,
    timings: { queueMs: 0.1, computeMs: 0.4 },
    // Echoed for assertions: what the edge sent.
    echo: { shape: f.shape, encoding: f.encoding, metadata: f.metadata, values: f.data.length },
  });
}

function jsonArray(s: string | undefined): unknown[] | null {
  try {
    const v = JSON.parse(s ?? '') as unknown;
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
