/**
 * Wires the edge worker's routes and middleware; the route handlers, each with its OpenAPI
 * description (createRoute), live in routes/. /openapi.json and /docs are generated from those.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import { log, parseLogLevel, setLogLevel } from '../../../core/log.js';
import { type EdgeEnv, problemHook } from './api/define.js';
import { problem, problemOnError } from './errors.js';
import { admin } from './routes/admin.js';
import { serveClassify } from './routes/classify.js';
import { serveHealth } from './routes/health.js';
import { metricsApi } from './routes/metrics.js';
import { serveApiDocs } from './routes/openapi.js';

export function createApp(): OpenAPIHono<EdgeEnv> {
  // Routes here validate only headers (classify's x-cascade-region, any string): a failure would be a header problem.
  const app = new OpenAPIHono<EdgeEnv>({ defaultHook: problemHook({ header: 'BAD_HEADER' }) });
  // Bindings come with requests, not at module load: apply LOG_LEVEL on the first request, and again
  // only when it differs from the last value seen (one string comparison per request).
  let level: string | undefined;
  app.use('*', async (c, next) => {
    if (c.env?.LOG_LEVEL !== level) {
      level = c.env?.LOG_LEVEL;
      try {
        setLogLevel(parseLogLevel(level) ?? 'info');
      } catch (e) {
        setLogLevel('info');
        log.warn('LOG_LEVEL ignored; logging at info', { error: (e as Error).message });
      }
    }
    await next();
  });
  app.use('*', requestId());
  // The classify body is read (capped, as a stream) by request/pixels.ts, admin bodies by request/json-body.ts.
  serveClassify(app);
  serveHealth(app);
  app.route('/admin', admin);
  app.route('/', metricsApi);
  serveApiDocs(app);
  app.notFound((c) =>
    problem(
      c,
      404,
      'NOT_FOUND',
      `no route for ${c.req.method} ${new URL(c.req.url).pathname}; see /openapi.json or /docs`,
    ),
  );
  app.onError(problemOnError());
  return app;
}
