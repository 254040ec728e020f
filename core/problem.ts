/**
 * Errors of both services as RFC 9457 problem+json, one shape everywhere: `type` (a URL per code),
 * `title`, `status`, a stable machine `code`, a human `detail`, and the `requestId`. Routes either
 * return `problem(c, …)` or throw `ProblemError`; one `onError` (from `problemOnError`) renders
 * what is thrown. Only hono, which runs on workerd and Node alike; no node: imports.
 *
 * @example
 * throw new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', 'content-type text/plain is not accepted; use image/png, …');
 * return problem(c, 503, 'OVERLOADED', 'segment 2 has 1024 requests waiting', { 'retry-after': '1' });
 * app.onError(problemOnError());
 */
import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { log } from './log.js';
import { REQUEST_ID_HEADER } from './wire.js';

/**
 * An error with a status and a stable `code`, rendered as problem+json. An HTTPException, so hono's
 * own middleware that takes one (timeout(), …) accepts it, and even an app without our `onError`
 * answers it as problem+json.
 *
 * @example
 * throw new ProblemError(412, 'VERSION_CONFLICT', detail, { headers: { etag: '"3"' }, cause: e });
 */
export class ProblemError extends HTTPException {
  readonly headers: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    detail: string,
    opts: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(status, { message: detail, cause: opts.cause });
    this.name = 'ProblemError';
    this.headers = opts.headers ?? {};
  }

  override getResponse(): Response {
    return problemResponse(this.status, this.code, this.message, { headers: this.headers });
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The reason phrase of a status ('Error' for one not listed). */
export const statusTitle = (status: number): string => TITLES[status] ?? 'Error';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  requestId?: string;
}

/**
 * The problem+json document, for writers without a hono Context (Node's clientError socket, the
 * tests' fake backend).
 *
 * @example
 * problemBody(400, 'BAD_METADATA', 'segment: Required'); // { type: 'https://edge-cascade.dev/problems/bad-metadata', title: 'Bad Request', … }
 */
export function problemBody(status: number, code: string, detail: string, requestId?: string): ProblemBody {
  return {
    type: `https://edge-cascade.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    title: statusTitle(status),
    status,
    code,
    detail,
    ...(requestId !== undefined ? { requestId } : {}),
  };
}

/** A problem+json Response without a Context. @example return problemResponse(401, 'SIGNATURE_MISSING', '…', { requestId }); */
export function problemResponse(
  status: ContentfulStatusCode,
  code: string,
  detail: string,
  opts: { requestId?: string; headers?: Record<string, string> } = {},
): Response {
  // content-type last: an HTTPException's own response headers (passed on by onError) say text/plain.
  return new Response(JSON.stringify(problemBody(status, code, detail, opts.requestId)), {
    status,
    headers: { ...opts.headers, 'content-type': 'application/problem+json' },
  });
}

/** The request's id: the edge's requestId() middleware sets it; the backend reads the edge's header. */
function requestIdOf(c: Context): string | undefined {
  return (c.get('requestId' as never) as string | undefined) ?? c.req.header(REQUEST_ID_HEADER);
}

/** The problem+json answer to this request. @example return problem(c, 404, 'NOT_FOUND', `no route for ${c.req.path}`); */
export function problem(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return problemResponse(status, code, detail, { requestId: requestIdOf(c), headers });
}

export interface OnErrorOptions {
  /** A service's own cases, tried first (the backend: a client that hung up mid-body). */
  special?: (err: Error, c: Context) => Response | undefined;
  /** Called with the code of every problem this handler renders (the backend counts them). */
  counted?: (code: string) => void;
}

/**
 * The `app.onError` of both services: a ProblemError as itself, an HTTPException (hono's
 * middleware: bodyLimit, bearer auth, …) by its status, anything else 500 INTERNAL, logged with the
 * request id (the answer only names the id: internals stay in the logs).
 *
 * @example
 * app.onError(problemOnError({ counted: (code) => metrics.error(code) }));
 */
export function problemOnError(opts: OnErrorOptions = {}): ErrorHandler {
  const render = (
    c: Context,
    status: ContentfulStatusCode,
    code: string,
    detail: string,
    headers?: Record<string, string>,
  ) => {
    opts.counted?.(code);
    return problem(c, status, code, detail, headers);
  };
  return (err, c) => {
    const own = opts.special?.(err, c);
    if (own) return own;
    if (err instanceof ProblemError) return render(c, err.status, err.code, err.message, err.headers);
    if (err instanceof HTTPException) {
      const code =
        err.status === 401
          ? 'UNAUTHORIZED'
          : err.status === 413
            ? 'PAYLOAD_TOO_LARGE'
            : err.status === 504
              ? 'TIMEOUT'
              : 'HTTP_ERROR';
      const headers: Record<string, string> = {};
      // Its own response's headers (www-authenticate, …); forEach, as Headers is not iterable under every lib.
      err.getResponse().headers.forEach((v, k) => {
        headers[k] = v;
      });
      return render(c, err.status, code, err.message || statusTitle(err.status), headers);
    }
    log.error('unexpected error', { requestId: requestIdOf(c), method: c.req.method, path: c.req.path, error: err });
    return render(c, 500, 'INTERNAL', 'unexpected error; the request id identifies it in the logs');
  };
}
