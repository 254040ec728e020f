/**
 * Wires the edge worker's routes and middleware; the route handlers live in routes/.
 */
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import type { Env } from './env.js';
import { onError, problem } from './errors.js';
import { classify } from './routes/classify.js';
import { healthz, readyz } from './routes/health.js';
import { admin } from './routes/admin.js';
import { openapi } from './routes/openapi.js';

export function createApp(): Hono<{ Bindings: Env }> {
  const app = new Hono<{ Bindings: Env }>();
  app.use('*', requestId());
  // The body is read (capped, as a stream) by routes/input.ts.
  app.post('/v1/classify', classify);
  app.get('/healthz', healthz);
  app.get('/readyz', readyz);
  app.get('/openapi.json', openapi);
  app.route('/admin', admin);
  app.notFound((c) => problem(c, 404, 'NOT_FOUND', `no route for ${c.req.method} ${new URL(c.req.url).pathname}; see /openapi.json`));
  app.onError(onError);
  return app;
}
