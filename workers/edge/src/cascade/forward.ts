/**
 * Forwards not-confident features to the GPU backend: safetensors body (f32/f16/i8 per region),
 * metadata in `__metadata__`, HMAC-signed, with a timeout; request and answer are the wire contract
 * of core/wire.ts. Never throws for backend trouble: the caller gets either the backend's answer or
 * the reason it could not be had.
 *
 * @example
 * const r = await forward({ fetcher, url, secret, timeoutMs: 1500 }, body, requestId);
 * if (r.ok) r.answer.classIndex; else r.reason; // 'backend_timeout' | 'backend_unreachable' | …
 */
import {
  REQUEST_ID_HEADER,
  RESUME_PATH,
  type ResumeAnswer,
  resumeAnswerSchema,
  SIGNATURE_HEADER,
  signBody,
} from '../../../../core/wire.js';

/** The backend's answer: the wire contract's (core/wire.ts). */
export type BackendAnswer = ResumeAnswer;

export type ForwardFailure =
  | 'backend_timeout'
  | 'backend_unreachable'
  | 'backend_error'
  | 'backend_invalid_response'
  | 'backend_not_configured';
export type ForwardResult =
  | { ok: true; answer: BackendAnswer; ms: number }
  | { ok: false; reason: ForwardFailure; detail: string; ms: number };

export interface BackendTarget {
  /** A service binding's fetch, or global fetch. */
  fetcher: (req: Request) => Promise<Response>;
  url: string;
  secret: string;
  timeoutMs: number;
  /** Sent with every request: a Cloudflare Access service token when the backend sits behind Access. */
  headers?: Record<string, string>;
}

/**
 * Headers every request to the backend carries besides its own: the Cloudflare Access service token
 * (`CF-Access-Client-Id` / `CF-Access-Client-Secret`) when BACKEND_ACCESS_CLIENT_ID and
 * BACKEND_ACCESS_CLIENT_SECRET are set, so a backend reached through a Cloudflare Tunnel behind an
 * Access policy admits the edge and nobody else (docs/deploy.md). Both or neither.
 */
/** The bindings these read (structural, so Node-side importers of forward() need no workerd types). */
interface BackendEnv {
  BACKEND?: { fetch(req: Request): Promise<Response> };
  BACKEND_URL?: string;
  CASCADE_SECRET?: string;
  BACKEND_ACCESS_CLIENT_ID?: string;
  BACKEND_ACCESS_CLIENT_SECRET?: string;
}

export function backendHeaders(env: BackendEnv): Record<string, string> {
  const id = env.BACKEND_ACCESS_CLIENT_ID,
    secret = env.BACKEND_ACCESS_CLIENT_SECRET;
  return id && secret ? { 'cf-access-client-id': id, 'cf-access-client-secret': secret } : {};
}

/** Where and how this worker reaches the backend, or undefined when it is not configured. */
export function backendTarget(env: BackendEnv, timeoutMs: number): BackendTarget | undefined {
  const url = env.BACKEND ? 'http://backend' : env.BACKEND_URL;
  if (!env.CASCADE_SECRET || !url) return undefined;
  return {
    fetcher: env.BACKEND ? (req) => env.BACKEND!.fetch(req) : (req) => fetch(req),
    url,
    secret: env.CASCADE_SECRET,
    timeoutMs,
    headers: backendHeaders(env),
  };
}

export async function forward(t: BackendTarget, body: Uint8Array, requestId: string): Promise<ForwardResult> {
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 100) / 100;
  const fail = (reason: ForwardFailure, detail: string): ForwardResult => ({ ok: false, reason, detail, ms: ms() });
  let res: Response;
  try {
    const req = new Request(new URL(RESUME_PATH, t.url), {
      method: 'POST',
      // encodeFeatures allocates a plain ArrayBuffer (never shared); DOM's BodyInit wants that said.
      body: body as Uint8Array<ArrayBuffer>,
      headers: {
        ...t.headers,
        'content-type': 'application/octet-stream',
        [SIGNATURE_HEADER]: await signBody(t.secret, body),
        [REQUEST_ID_HEADER]: requestId,
      },
      signal: AbortSignal.timeout(t.timeoutMs),
    });
    res = await t.fetcher(req);
  } catch (e) {
    const err = e as Error;
    return err.name === 'TimeoutError' || err.name === 'AbortError'
      ? fail('backend_timeout', `no answer within ${t.timeoutMs} ms`)
      : fail('backend_unreachable', err.message);
  }
  // Gateways in front of the backend report a dead or hung upstream as 502/504.
  if (res.status === 502) return fail('backend_unreachable', 'status 502 (bad gateway)');
  if (res.status === 504) return fail('backend_timeout', 'status 504 (gateway timeout)');
  let json: unknown;
  try {
    json = await res.json();
  } catch (e) {
    const err = e as Error;
    if (err.name === 'TimeoutError' || err.name === 'AbortError')
      return fail('backend_timeout', `no answer within ${t.timeoutMs} ms`);
    return fail(
      res.ok ? 'backend_invalid_response' : 'backend_error',
      res.ok ? 'body is not JSON' : `status ${res.status}`,
    );
  }
  if (!res.ok) return fail('backend_error', `status ${res.status}: ${JSON.stringify(json).slice(0, 200)}`);
  const parsed = resumeAnswerSchema.safeParse(json);
  if (!parsed.success)
    return fail(
      'backend_invalid_response',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  return { ok: true, answer: parsed.data, ms: ms() };
}
