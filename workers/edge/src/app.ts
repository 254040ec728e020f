/**
 * Wires the edge worker's routes and middleware; the route handlers live in routes/.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import type { Env } from './env.js';
import { onError, problem } from './errors.js';
import { classify } from './routes/classify.js';
import { healthz, readyz } from './routes/health.js';
import { admin } from './routes/admin.js';
import { openapi } from './routes/openapi.js';

/** Largest accepted request body: a 4096×4096 PNG compresses well below this; raw input is ~1 KB. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export function createApp(): Hono<{ Bindings: Env }> {
  const app = new Hono<{ Bindings: Env }>();
  app.use('*', requestId());
  app.post('/v1/classify', bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => problem(c, 413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_BODY_BYTES} bytes`),
  }), classify);
  app.get('/healthz', healthz);
  app.get('/readyz', readyz);
  app.get('/openapi.json', openapi);
  app.route('/admin', admin);
  app.notFound((c) => problem(c, 404, 'NOT_FOUND', `no route for ${c.req.method} ${new URL(c.req.url).pathname}; see /openapi.json`));
  app.onError(onError);
  return app;
}
