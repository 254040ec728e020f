/**
 * A JSON request body, read with a byte cap (request/body.ts) and validated with the body schema of
 * the route's own description (createRoute's `request.body`, the one /openapi.json publishes):
 * 415 UNSUPPORTED_MEDIA_TYPE unless application/json, 413 over the cap (declared or streamed), 400
 * BAD_JSON if it is not JSON (UTF-8), 400 `code` naming each issue if it does not match the schema.
 *
 * @example
 * const settings = await readJsonBody(c, putRoute.request.body, { maxBytes: 16 * 1024, code: 'BAD_SETTINGS' });
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { mediaType } from '../../../../core/media-type.js';
import { issuesDetail } from '../api/define.js';
import { ProblemError } from '../errors.js';
import { readBody } from './body.js';

/** A route's JSON body description, as createRoute takes it. */
export interface JsonBody<S extends z.ZodType> {
  content: { 'application/json': { schema: S } };
  required?: boolean;
  description?: string;
}

export async function readJsonBody<S extends z.ZodType>(
  c: Context,
  body: JsonBody<S>,
  opts: { maxBytes: number; code: string },
): Promise<z.output<S>> {
  const type = c.req.header('content-type');
  if (mediaType(type) !== 'application/json') {
    throw new ProblemError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type ${type === undefined ? '(none)' : JSON.stringify(type)} is not accepted; send application/json`,
    );
  }
  // The worker's one capped body reader (413 over the cap, declared or streamed; 400 if it breaks off).
  const bytes = await readBody(c.req.raw, opts.maxBytes);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new ProblemError(400, 'BAD_JSON', 'the body is not valid JSON (UTF-8)');
  }
  const p = await body.content['application/json'].schema.safeParseAsync(json);
  if (!p.success) throw new ProblemError(400, opts.code, issuesDetail(p.error.issues, 'body'));
  return p.data;
}
