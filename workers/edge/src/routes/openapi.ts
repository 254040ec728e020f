/**
 * `GET /openapi.json`: the OpenAPI 3.1 document, generated from the app's registered routes (each
 * route's createRoute description, the same schemas that validate its requests: api/define.ts).
 * `GET /docs`: the browsable reference page rendered from that document (api/reference-page.ts).
 * Both are routes like the others, so the document lists them too.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { type EdgeEnv, serve } from '../api/define.js';
import { type ApiDocument, referencePage } from '../api/reference-page.js';
import { edgeModel } from '../model/edge-model.js';

export const openapiRoute = createRoute({
  method: 'get',
  path: '/openapi.json',
  tags: ['docs'],
  summary: 'This API as an OpenAPI 3.1 document',
  responses: {
    200: {
      description: 'the document, generated from the route schemas',
      content: { 'application/json': { schema: z.object({ openapi: z.string() }).loose() } },
    },
  },
});

export const docsRoute = createRoute({
  method: 'get',
  path: '/docs',
  tags: ['docs'],
  summary: 'API reference (HTML), rendered from /openapi.json',
  responses: { 200: { description: 'a self-contained HTML page', content: { 'text/html': { schema: z.string() } } } },
});

/** The generated document of `app` (every route registered on it or on a sub-app mounted before the first call). */
export function apiDocument(app: OpenAPIHono<EdgeEnv>): ApiDocument {
  const m = edgeModel().manifest;
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'edge-cascade edge worker',
      version: '0.1.0',
      description: `Early-exit cascade on ${m.name}: ${m.classes.length} classes, input ${m.input.shape.join('×')}. Every error is application/problem+json with a stable code.`,
    },
    tags: [
      { name: 'classify', description: 'inference' },
      { name: 'admin', description: 'per-region cascade settings (bearer token)' },
      { name: 'health', description: 'liveness and readiness' },
      { name: 'docs', description: 'this description' },
    ],
  }) as ApiDocument;
}

/** Serves GET /openapi.json and GET /docs for `app`; the document is generated once per isolate, on first use. */
export function serveApiDocs(app: OpenAPIHono<EdgeEnv>): void {
  let doc: ApiDocument | undefined;
  const document = () => (doc ??= apiDocument(app));
  serve(app, openapiRoute, (c) => c.json(document()));
  serve(app, docsRoute, async (c) => c.html(await referencePage(document())));
}
