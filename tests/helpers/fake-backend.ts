/**
 * A stand-in for the GPU backend (another machine), bound to the worker under test as the BACKEND
 * service. It checks what a real backend checks (signature, safetensors body, metadata) and
 * behaves according to the request id's prefix, so tests can choose a failure mode:
 *   down-…    → 502, as a proxy in front of a dead host answers (a thrown error here would surface as
 *               a 500, not a network error); slow-… → answers after 5 s; garbage-… → 200, non-JSON body;
 *   error-…   → 500; anything else → a valid answer from "exit 3" with class 4.
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
  return Response.json({
    classIndex: 4,
    label: 'Coat',
    confidence: 0.97,
    exit: 3,
    timings: { queueMs: 0.1, computeMs: 0.4 },
    // Echoed for assertions: what the edge sent.
    echo: { shape: f.shape, encoding: f.encoding, metadata: f.metadata, values: f.data.length },
  });
}
