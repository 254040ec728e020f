/**
 * The edge's HTTP API is described once, per route, as a `createRoute()` config with zod schemas
 * (routes/*.ts). `serve()` uses that one description twice:
 *   - it registers it in the app's OpenAPI registry: /openapi.json and /docs are generated from it;
 *   - it mounts the route with @hono/zod-openapi validating the path parameters and headers with the
 *     same schemas, failures rendered by `problemHook` as problem+json (400 with the route's code).
 * Request bodies are described in the same config (content types and schemas) and validated with
 * those schemas too, but read by the edge's capped readers (request/json-body.ts, request/pixels.ts),
 * which take the route's body description: @hono/zod-openapi's own body validator would read the
 * body with `c.req.json()` (no byte cap, while a 413 for an over-long or endless upload is the point
 * of request/body.ts), and its media-type gate answers a bare 415 without the project's `code` and
 * refuses spellings the edge accepts (`application/json;`, `application/json ; charset=utf-8`:
 * core/media-type.ts decides).
 *
 * @example
 * const route = createRoute({ method: 'get', path: '/regions/{key}', request: { params: z.object({ key: regionKeySchema }) }, responses: { 200: … } });
 * serve(admin, route, async (c) => c.json(await read(c.req.valid('param').key)));
 */
import { type OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context, ValidationTargets } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Env } from '../env.js';
import { problem } from '../errors.js';

export type EdgeEnv = { Bindings: Env };

/** `/regions/{key}/history` → `/regions/:key/history`: the hono path of an OpenAPI path. */
type HonoPath<P extends string> = P extends `${infer A}/{${infer K}}${infer B}` ? `${A}/:${K}${HonoPath<B>}` : P;
type Out<S> = S extends z.ZodType ? z.output<S> : never;
type Req<R extends RouteConfig> = NonNullable<R['request']>;

/** The context of a served route: `c.req.valid('param')` / `('header')` typed from its schemas. */
export type RouteContext<R extends RouteConfig> = Context<
  EdgeEnv,
  HonoPath<R['path']>,
  {
    out: { param: Out<Req<R>['params']>; header: Out<Req<R>['headers']>; query: Out<Req<R>['query']> };
  }
>;

/**
 * Registers `route` in `app`'s OpenAPI document and serves it: parameters and headers validated
 * by @hono/zod-openapi (the app's defaultHook, `problemHook`, answers failures), the body left to the
 * handler's capped reader, which validates it with the route's body schema.
 */
export function serve<R extends RouteConfig>(
  app: OpenAPIHono<EdgeEnv>,
  route: R,
  handler: (c: RouteContext<R>) => Response | Promise<Response>,
): void {
  app.openAPIRegistry.registerPath(route);
  const { body: _readByTheHandler, ...validated } = route.request ?? {};
  app.openapi({ ...route, hide: true, request: validated } as RouteConfig, handler as never);
}

/** The detail of a failed validation: each issue as `where: message` (a custom issue's message is a whole sentence already). */
export function issuesDetail(issues: readonly z.core.$ZodIssue[], where: string): string {
  return issues
    .map((i) => (i.code === 'custom' ? i.message : `${i.path.map(String).join('.') || where}: ${i.message}`))
    .join('; ');
}

type Target = keyof ValidationTargets;

/**
 * The defaultHook of an OpenAPIHono: a request that fails a route's parameter or header schema gets
 * 400 problem+json with the code given for that target.
 *
 * @example
 * new OpenAPIHono<EdgeEnv>({ defaultHook: problemHook({ param: 'BAD_REGION', header: 'BAD_IF_MATCH' }) });
 */
export function problemHook(codes: Partial<Record<Target, string>>) {
  return (
    result: { target: Target } & ({ success: true } | { success: false; error: z.ZodError }),
    c: Context,
  ): Response | undefined => {
    if (result.success) return undefined;
    return problem(c, 400, codes[result.target] ?? 'BAD_REQUEST', issuesDetail(result.error.issues, result.target));
  };
}

/** The problem+json document every 4xx and 5xx of the edge answers with (core/problem.ts). */
export const problemSchema = z
  .object({
    type: z.string().describe('a URL per code'),
    title: z.string().describe("the status's reason phrase"),
    status: z.number().int(),
    code: z.string().describe('stable, machine-readable (e.g. BAD_REGION)'),
    detail: z.string().describe('what was wrong and what is accepted'),
    requestId: z.string().optional(),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details with a stable `code`' });

/**
 * Problem responses for a route's `responses`: status → the codes it can carry.
 *
 * @example
 * responses: { 200: …, ...problems({ 400: ['BAD_REGION'], 404: ['REGION_NOT_FOUND'] }) }
 */
export function problems<S extends ContentfulStatusCode>(
  byStatus: Record<S, string[]>,
): Record<S, { description: string; content: { 'application/problem+json': { schema: typeof problemSchema } } }> {
  return Object.fromEntries(
    Object.entries<string[]>(byStatus).map(([status, codes]) => [
      status,
      {
        description: `problem+json, code ${codes.join(' | ')}`,
        content: { 'application/problem+json': { schema: problemSchema } },
      },
    ]),
  ) as never;
}
