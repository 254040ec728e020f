/**
 * One error type with a stable machine `code`, rendered as RFC 9457 problem+json by one `onError`.
 *
 * @example
 * throw new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', 'content-type text/plain is not accepted; use image/png, …');
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ProblemError extends Error {
  constructor(readonly status: ContentfulStatusCode, readonly code: string, detail: string, opts: { cause?: unknown; headers?: Record<string, string> } = {}) {
    super(detail, { cause: opts.cause });
    this.name = 'ProblemError';
    this.headers = opts.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

const TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 412: 'Precondition Failed', 413: 'Content Too Large', 415: 'Unsupported Media Type', 428: 'Precondition Required', 500: 'Internal Server Error', 503: 'Service Unavailable' };

export function problem(c: Context, status: ContentfulStatusCode, code: string, detail: string, headers: Record<string, string> = {}): Response {
  const body = { type: `https://edge-cascade.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`, title: TITLES[status] ?? 'Error', status, code, detail, requestId: c.get('requestId' as never) as string | undefined };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json', ...headers } });
}

export function onError(err: Error, c: Context): Response {
  if (err instanceof ProblemError) return problem(c, err.status, err.code, err.message, err.headers);
  if (err instanceof HTTPException) {
    const code = err.status === 401 ? 'UNAUTHORIZED' : err.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'HTTP_ERROR';
    return problem(c, err.status as ContentfulStatusCode, code, err.message || TITLES[err.status] || 'error', Object.fromEntries(err.getResponse().headers));
  }
  console.error(JSON.stringify({ level: 'error', requestId: c.get('requestId' as never), error: err.message, stack: err.stack?.split('\n').slice(0, 4) }));
  return problem(c, 500, 'INTERNAL', 'unexpected error; the request id identifies it in the logs');
}
