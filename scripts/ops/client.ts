/**
 * The operator CLI's HTTP client for the edge's admin API (workers/edge/src/routes/admin.ts): bearer
 * token on every request, JSON bodies, and one wording per failure an operator can act on: a
 * refused token, a problem+json's detail, a worker that cannot be reached.
 *
 * @example
 * const api = adminClient('http://127.0.0.1:8787', 'dev-admin-token');
 * const res = await api.request('GET', '/regions/colo:LHR'); // { status, etag, body }
 * if (res.status !== 200) throw failure(res);
 */

/** A failure to report: `error: <message>` on stderr, then exit `exitCode` (1: the request failed; 2: usage). */
export class OpsError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'OpsError';
  }
}

export interface ApiResponse {
  status: number;
  /** The ETag's version (`"3"` → 3), when the answer has one. */
  etag: number | undefined;
  headers: Headers;
  body: unknown;
}

export interface AdminClient {
  url: string;
  request(method: string, path: string, opts?: { body?: unknown; ifMatch?: number }): Promise<ApiResponse>;
}

/** How long one request may take: the admin API answers in milliseconds; a hung worker should not hang the CLI. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The version an ETag names (`"3"` or `3`), or undefined. */
export function etagVersion(h: string | null): number | undefined {
  const m = h ? /^"?(\d+)"?$/.exec(h) : null;
  return m ? Number(m[1]) : undefined;
}

export function adminClient(url: string, token: string): AdminClient {
  const base = url.replace(/\/+$/, '');
  return {
    url: base,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      if (opts.ifMatch !== undefined) headers['if-match'] = `"${opts.ifMatch}"`;
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${base}${path.startsWith('/v1/') ? '' : '/admin'}${path}`, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        text = await res.text();
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        const why =
          (e as Error).name === 'TimeoutError'
            ? 'no answer within 30 s'
            : (cause?.code ?? cause?.message ?? (e as Error).message);
        throw new OpsError(`cannot reach ${base} (${why}); is the worker running (npm start)? Set --url or EDGE_URL`);
      }
      let body: unknown = text;
      if (text && /json/.test(res.headers.get('content-type') ?? '')) {
        try {
          body = JSON.parse(text);
        } catch {
          // left as text: failure() shows it
        }
      }
      return { status: res.status, etag: etagVersion(res.headers.get('etag')), headers: res.headers, body };
    },
  };
}

interface Problem {
  code?: string;
  detail?: string;
}

/** The OpsError for an answer that is not the one expected. */
export function failure(res: ApiResponse): OpsError {
  if (res.status === 401) return new OpsError('the admin token was refused (ADMIN_TOKEN / --token)');
  const p = typeof res.body === 'object' && res.body !== null ? (res.body as Problem) : undefined;
  if (p?.detail)
    return new OpsError(res.status === 400 ? p.detail : `${p.detail} (${res.status} ${p.code ?? ''})`.trim());
  const text = typeof res.body === 'string' ? res.body.slice(0, 200) : JSON.stringify(res.body)?.slice(0, 200);
  return new OpsError(`unexpected answer ${res.status}${text ? `: ${text}` : ''}`);
}
