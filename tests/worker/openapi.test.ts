/**
 * The API is described once: /openapi.json is generated from the routes' schemas, so it lists
 * exactly the routes the app serves, publishes core/regions.ts's region-key pattern, and /docs
 * renders it.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { REGION_KEY } from '../../core/regions.js';
import { createApp } from '../../workers/edge/src/app.js';

interface Schema {
  $ref?: string;
  pattern?: string;
  properties?: Record<string, Schema>;
}
interface Doc {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string; schema: Schema }[];
        requestBody?: { content: Record<string, unknown> };
        responses: Record<string, unknown>;
      }
    >
  >;
  components: { schemas: Record<string, Schema> };
}
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const doc = async () => (await SELF.fetch('https://edge.test/openapi.json')).json<Doc>();
/** `METHOD /path/{param}` of every operation in the document. */
const documented = (d: Doc) =>
  Object.entries(d.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );

describe('the OpenAPI document', () => {
  it('lists every route the app serves, and nothing else', async () => {
    // app.routes has an entry per handler of a route (validators included) and the middleware ('ALL').
    const served = new Set(
      createApp()
        .routes.filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path.replace(/:([^/]+)/g, '{$1}')}`),
    );
    const d = await doc();
    expect(d.openapi).toMatch(/^3\.1\./);
    const ops = documented(d);
    expect(new Set(ops).size).toBe(ops.length);
    expect(ops.sort()).toEqual([...served].sort());
    for (const p of [
      '/v1/classify',
      '/healthz',
      '/readyz',
      '/openapi.json',
      '/docs',
      '/admin/regions',
      '/admin/regions/{key}',
      '/admin/regions/{key}/history',
      '/admin/regions/{key}/rollback',
      '/admin/regions/{key}/resolve',
      '/admin/frontier',
    ])
      expect(Object.keys(d.paths)).toContain(p);
  });

  it("publishes core/regions.ts's region-key pattern for every {key}", async () => {
    const d = await doc();
    const keyParams = Object.entries(d.paths)
      .filter(([p]) => p.includes('{key}'))
      .flatMap(([, item]) =>
        Object.values(item).flatMap((op) => (op.parameters ?? []).filter((p) => p.in === 'path' && p.name === 'key')),
      );
    // get, put, delete of {key}; history, rollback, resolve, guard, verify.
    expect(keyParams.length).toBe(8);
    for (const p of keyParams) {
      const schema = p.schema.$ref ? d.components.schemas[p.schema.$ref.split('/').at(-1)!]! : p.schema;
      expect(schema.pattern).toBe(REGION_KEY.source);
    }
  });

  it('describes classify bodies as content types and errors as problem+json', async () => {
    const d = await doc();
    const op = d.paths['/v1/classify']!.post!;
    expect(Object.keys(op.requestBody!.content)).toEqual(['image/png', 'application/octet-stream', 'application/json']);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '413', '415']));
    expect(d.components.schemas.Problem).toBeDefined();
    expect(d.components.schemas.RegionSettings).toBeDefined();
  });
});

describe('GET /docs', () => {
  it('renders a self-contained HTML page naming every path', async () => {
    const res = await SELF.fetch('https://edge.test/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await res.text();
    expect(page).toMatch(/^<!doctype html>/i);
    for (const path of Object.keys((await doc()).paths)) expect(page).toContain(`<code>${path}</code>`);
    // Offline: nothing is loaded from elsewhere.
    expect(page).not.toMatch(/<script|<link[^>]+href="http|src="http/i);
  });
});
