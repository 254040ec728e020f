/**
 * Admin API for region entries (bearer token, compared in constant time), mounted at /admin: list,
 * read, write (If-Match to replace), delete, history and rollback of /regions/{key}, and the
 * bundle's operating points (/frontier). Every entry answered (read, write, rollback; list) carries
 * `resolved`: the thresholds it applies and the frontier point they are (core/operating-points.ts). Each route is
 * described once below (createRoute: summary, key and If-Match schemas, body, answers); that
 * description is both the OpenAPI document's (/openapi.json, /docs) and the requests' validation.
 *
 * Writes go through one Durable Object per key (thresholds/region-object.ts), which checks If-Match
 * and writes atomically, then publishes to KV for the edge. `x-kv-publish: pending` on a write's
 * answer: durable, but KV has not taken it yet (the object retries from an alarm).
 * Every 4xx is problem+json, 401 included (with `WWW-Authenticate: Bearer`).
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import {
  frontierView,
  frontierViewSchema,
  resolvedSchema,
  resolvedSettings,
} from '../../../../core/operating-points.js';
import {
  checkSettings,
  type RegionEntry,
  regionEntrySchema,
  regionKeySchema,
  regionSettingsSchema,
} from '../../../../core/regions.js';
import { hex, timingSafeEqualStr } from '../../../../core/signature.js';
import { type EdgeEnv, problemHook, problems, serve } from '../api/define.js';
import { ProblemError } from '../errors.js';
import { edgeModel } from '../model/edge-model.js';
import { readJsonBody } from '../request/json-body.js';
import {
  AlreadyExists,
  deleteEntry,
  history,
  listRegions,
  NotFound,
  readEntry,
  resolveEntry,
  type Verification,
  VersionConflict,
  verifyEntry,
  writeEntry,
} from '../thresholds/region-entries.js';

/** Largest admin body: region settings are a few hundred bytes; anything near this is a mistake. */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;

/** A version as we emit it in ETags: decimal, no sign, no leading zeros, no exponent or hex. */
const VERSION = /^(?:0|[1-9][0-9]*)$/;
const IF_MATCH_ALLOWED =
  'send the version from the ETag, as 3 or "3" (one decimal integer: no sign, leading zeros, spaces, weak prefix or list)';

/**
 * Parses If-Match once into a canonical version number (null when absent), or says why it is not
 * one. Only what we emit is accepted, so `01`, `0x1` or `1e3` cannot alias a version through loose
 * number parsing.
 */
export function parseIfMatch(h: string | null | undefined): { version: number | null } | { error: string } {
  if (h === null || h === undefined) return { version: null };
  const bad = (why: string) => ({ error: `If-Match ${JSON.stringify(h)} ${why}; ${IF_MATCH_ALLOWED}` });
  // Headers.get joins repeated fields with ", ", so this also catches two If-Match headers.
  if (h.includes(',')) return bad('is a list; one version is allowed');
  if (h === '*') return bad('is "*", which is not supported: name the version you are replacing');
  if (/^w\//i.test(h))
    return bad(
      'is a weak entity tag, which cannot be used with If-Match (it uses strong comparison, RFC 9110 section 13.1.1)',
    );
  const digits = h.length >= 2 && h.startsWith('"') && h.endsWith('"') ? h.slice(1, -1) : h;
  if (!VERSION.test(digits)) return bad('is not a version number');
  const v = Number(digits);
  if (!Number.isSafeInteger(v)) return bad(`exceeds the largest version (${Number.MAX_SAFE_INTEGER})`);
  return { version: v };
}

/** The If-Match header as a schema: validated (400 BAD_IF_MATCH) and parsed to the version it names, null when absent. */
const ifMatchSchema = z
  .string()
  .optional()
  .transform((h, ctx) => {
    const r = parseIfMatch(h);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r.version;
  })
  .openapi({
    type: 'string',
    pattern: '^(?:0|[1-9][0-9]*|"(?:0|[1-9][0-9]*)")$',
    description:
      'The version being replaced, from the ETag: 3 or "3". 412 VERSION_CONFLICT if it is not the current one.',
    example: '"3"',
  });

const keyParams = z.object({ key: regionKeySchema });
const ifMatchHeaders = (description: string) => z.object({ 'if-match': ifMatchSchema.openapi({ description }) });
const etag = z.object({ etag: z.string().openapi({ description: 'the entry\'s version, quoted ("3")' }) });
const published = z.object({
  etag: etag.shape.etag,
  'x-kv-publish': z.enum(['done', 'pending']).openapi({
    description:
      "whether KV (the edge's read path) has the change yet; pending: durable, KV retried from the object's alarm",
  }),
});
// .meta, not .openapi, on core/'s plain zod schemas (see settingsBody below).
const resolved = resolvedSchema.meta({
  id: 'Resolved',
  description: 'what the settings resolve to against the served bundle',
});
const keyedEntry = regionEntrySchema.extend({ key: regionKeySchema, resolved }).openapi('KeyedRegionEntry');
/** An entry as the admin API answers it: keyed, with what it resolves to against the served bundle. */
const keyed = (key: string, e: RegionEntry) => ({
  key,
  ...e,
  resolved: resolvedSettings(e.settings, edgeModel().manifest),
});
const json = <S extends z.ZodType>(schema: S) => ({ 'application/json': { schema } });
const settingsBody = {
  required: true,
  description: `RegionSettings, at most ${MAX_ADMIN_BODY_BYTES} bytes`,
  content: json(
    // .meta (which zod-to-openapi reads, `id` naming the component), not .openapi: core/ builds its schemas
    // with plain zod, maybe before @hono/zod-openapi adds .openapi to ZodType (import order decides), and
    // zod copies ZodType's methods onto each schema class when that class's first schema is made.
    regionSettingsSchema.meta({
      id: 'RegionSettings',
      description:
        "Give exactly one of thresholds (one per exit; above 1 turns that exit off) or budget (mean cost per request as a fraction of the backbone). split: segments run at the edge (1 … the bundle's segments). Checked against the bundle too (400 SETTINGS_DO_NOT_FIT_BUNDLE).",
    }),
  ),
};
const rollbackBody = {
  required: true,
  description: 'the version whose settings to write again',
  content: json(z.object({ version: z.number().int().positive() }).openapi('Rollback')),
};
/** Every admin route can answer these (the bearer check, the admin API switched off). */
export const auth = { ...problems({ 401: ['UNAUTHORIZED'], 503: ['ADMIN_DISABLED'] }) };
export const security = [{ bearer: [] }];
const tags = ['admin'];

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VersionConflict) {
      const detail = e.current
        ? `${e.message}; re-read the entry and retry with If-Match: ${e.current}`
        : 'the region has no entry, so If-Match cannot match; create it without If-Match';
      throw new ProblemError(412, 'VERSION_CONFLICT', detail, { headers: e.current ? { etag: `"${e.current}"` } : {} });
    }
    if (e instanceof AlreadyExists)
      throw new ProblemError(428, 'IF_MATCH_REQUIRED', e.message, { headers: { etag: `"${e.current}"` } });
    if (e instanceof NotFound) throw new ProblemError(404, 'REGION_NOT_FOUND', e.message);
    throw e;
  }
}

/** Realm named in every 401's WWW-Authenticate (RFC 6750). */
const CHALLENGE = 'Bearer realm="edge-cascade-admin"';
/** RFC 6750 b64token: what a bearer credential may contain. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The bearer credential of an Authorization header, parsed canonically: exactly
 * `<scheme> <token>`, scheme compared case-insensitively (RFC 9110 section 11.1), one space.
 */
export function bearerCredential(h: string | null | undefined): { token: string } | { error: 'missing' | 'malformed' } {
  if (h === null || h === undefined || h === '') return { error: 'missing' };
  const sp = h.indexOf(' ');
  if (sp < 0) return { error: 'malformed' };
  const scheme = h.slice(0, sp),
    token = h.slice(sp + 1);
  if (scheme.toLowerCase() !== 'bearer' || !B64TOKEN.test(token)) return { error: 'malformed' };
  return { token };
}

const sha256Hex = async (s: string) =>
  hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s))));

/**
 * Constant-time token check. Both sides are hashed first so the comparison is always over 64
 * equal-length characters: timingSafeEqualStr returns early on a length mismatch, which would
 * otherwise leak the token's length.
 */
async function tokenMatches(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256Hex(given), sha256Hex(expected)]);
  return timingSafeEqualStr(a, b);
}

/** Tells the caller whether KV (the edge's read path) has the change yet. */
const publishHeader = (published: boolean) => ({ 'x-kv-publish': published ? 'done' : 'pending' });

// The defaultHook renders a failed key (path) or If-Match (header) as the project's problem+json.
export const admin = new OpenAPIHono<EdgeEnv>({
  defaultHook: problemHook({ param: 'BAD_REGION', header: 'BAD_IF_MATCH', query: 'BAD_QUERY' }),
});
admin.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: 'the ADMIN_TOKEN secret',
});

/** The admin bearer check (503 ADMIN_DISABLED without the secret, 401 UNAUTHORIZED), for /admin/* and GET /v1/metrics. */
export const requireAdmin: MiddlewareHandler<EdgeEnv> = async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) throw new ProblemError(503, 'ADMIN_DISABLED', 'the admin API is disabled: set the ADMIN_TOKEN secret');
  const cred = bearerCredential(c.req.header('authorization'));
  if ('error' in cred) {
    const detail =
      cred.error === 'missing'
        ? 'send Authorization: Bearer <admin token>'
        : 'the Authorization header is not "Bearer <token>" (one space, RFC 6750 token characters)';
    throw new ProblemError(401, 'UNAUTHORIZED', detail, {
      headers: { 'www-authenticate': cred.error === 'missing' ? CHALLENGE : `${CHALLENGE}, error="invalid_request"` },
    });
  }
  if (!(await tokenMatches(cred.token, token)))
    throw new ProblemError(401, 'UNAUTHORIZED', 'the bearer token is not valid', {
      headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` },
    });
  await next();
};
admin.use('*', requireAdmin);

export const listRoute = createRoute({
  method: 'get',
  path: '/regions',
  tags,
  security,
  summary: 'List region entries (keys and versions)',
  description: 'As published to KV: eventually consistent (GET /admin/regions/{key} is the strongly consistent read).',
  responses: {
    200: {
      description: 'keys and versions',
      content: json(
        z.object({
          regions: z.array(
            z.object({
              key: regionKeySchema,
              version: z.number().int().positive(),
              updatedAt: z.string(),
              resolved,
            }),
          ),
        }),
      ),
    },
    ...auth,
  },
});
serve(admin, listRoute, async (c) => {
  const m = edgeModel().manifest;
  const regions = await listRegions(c.env.THRESHOLDS);
  return c.json({
    regions: regions.map(({ settings, ...r }) => ({ ...r, resolved: resolvedSettings(settings, m) })),
  });
});

export const readRoute = createRoute({
  method: 'get',
  path: '/regions/{key}',
  tags,
  security,
  summary: 'Read an entry (ETag = version)',
  description: "From the key's Durable Object: strongly consistent.",
  request: { params: keyParams },
  responses: {
    200: { description: 'the current entry', headers: etag, content: json(keyedEntry) },
    ...problems({ 400: ['BAD_REGION'], 404: ['REGION_NOT_FOUND'] }),
    ...auth,
  },
});
serve(admin, readRoute, async (c) => {
  const { key } = c.req.valid('param');
  const e = await readEntry(c.env.REGIONS, key);
  if (!e) throw new ProblemError(404, 'REGION_NOT_FOUND', `no entry for region ${key}`);
  return c.json(keyed(key, e), 200, { etag: `"${e.version}"` });
});

export const writeRoute = createRoute({
  method: 'put',
  path: '/regions/{key}',
  tags,
  security,
  summary: 'Write an entry',
  description:
    'Settings are validated against the schema and the bundle. Without If-Match: create (428 if the key has an entry); with If-Match: replace exactly that version (412 otherwise). Of racing writers with the same version, exactly one wins.',
  request: {
    params: keyParams,
    headers: ifMatchHeaders('Required to replace an existing entry: its current version, 3 or "3".'),
    body: settingsBody,
  },
  responses: {
    200: { description: 'replaced', headers: published, content: json(keyedEntry) },
    201: { description: 'created', headers: published, content: json(keyedEntry) },
    ...problems({
      400: ['BAD_REGION', 'BAD_IF_MATCH', 'BAD_JSON', 'BAD_SETTINGS', 'SETTINGS_DO_NOT_FIT_BUNDLE', 'BODY_ABORTED'],
      412: ['VERSION_CONFLICT'],
      413: ['PAYLOAD_TOO_LARGE'],
      415: ['UNSUPPORTED_MEDIA_TYPE'],
      428: ['IF_MATCH_REQUIRED'],
    }),
    ...auth,
  },
});
serve(admin, writeRoute, async (c) => {
  const { key } = c.req.valid('param');
  const expected = c.req.valid('header')['if-match'];
  const settings = await readJsonBody(c, writeRoute.request.body, {
    maxBytes: MAX_ADMIN_BODY_BYTES,
    code: 'BAD_SETTINGS',
  });
  const problemsFound = checkSettings(settings, edgeModel().manifest);
  if (problemsFound.length) throw new ProblemError(400, 'SETTINGS_DO_NOT_FIT_BUNDLE', problemsFound.join('; '));
  // One call: the object decides create-vs-replace and checks the version atomically.
  const w = await guarded(() => writeEntry(c.env.REGIONS, key, settings, expected));
  return c.json(keyed(key, w.entry), w.created ? 201 : 200, {
    etag: `"${w.entry.version}"`,
    ...publishHeader(w.published),
  });
});

export const deleteRoute = createRoute({
  method: 'delete',
  path: '/regions/{key}',
  tags,
  security,
  summary: 'Delete an entry (If-Match required; the history is kept)',
  request: { params: keyParams, headers: ifMatchHeaders('Required: the current version, 3 or "3".') },
  responses: {
    204: { description: 'deleted', headers: published.pick({ 'x-kv-publish': true }) },
    ...problems({
      400: ['BAD_REGION', 'BAD_IF_MATCH'],
      404: ['REGION_NOT_FOUND'],
      412: ['VERSION_CONFLICT'],
      428: ['IF_MATCH_REQUIRED'],
    }),
    ...auth,
  },
});
serve(admin, deleteRoute, async (c) => {
  const { key } = c.req.valid('param');
  const expected = c.req.valid('header')['if-match'];
  if (expected === null)
    throw new ProblemError(428, 'IF_MATCH_REQUIRED', 'send If-Match with the current version to delete');
  const d = await guarded(() => deleteEntry(c.env.REGIONS, key, expected));
  return c.body(null, 204, publishHeader(d.published));
});

export const historyRoute = createRoute({
  method: 'get',
  path: '/regions/{key}/history',
  tags,
  security,
  summary: 'Every version of an entry, oldest first (rollbacks included)',
  request: { params: keyParams },
  responses: {
    200: {
      description: 'the versions (empty for a key never written)',
      content: json(
        z.object({ key: regionKeySchema, versions: z.array(regionEntrySchema.meta({ id: 'RegionEntry' })) }),
      ),
    },
    ...problems({ 400: ['BAD_REGION'] }),
    ...auth,
  },
});
serve(admin, historyRoute, async (c) => {
  const { key } = c.req.valid('param');
  return c.json({ key, versions: await history(c.env.REGIONS, key) });
});

export const rollbackRoute = createRoute({
  method: 'post',
  path: '/regions/{key}/rollback',
  tags,
  security,
  summary: "Roll back: write a new version with an old version's settings",
  description:
    'Without If-Match, rolls back whatever is current (a write racing in between still gets 412); with it, only if that version is current.',
  request: {
    params: keyParams,
    headers: ifMatchHeaders('Optional: roll back only if this version is current.'),
    body: rollbackBody,
  },
  responses: {
    200: {
      description: 'the new version (rolledBackTo names the old one)',
      headers: published,
      content: json(keyedEntry),
    },
    ...problems({
      400: ['BAD_REGION', 'BAD_IF_MATCH', 'BAD_JSON', 'BAD_ROLLBACK', 'SETTINGS_DO_NOT_FIT_BUNDLE', 'BODY_ABORTED'],
      404: ['VERSION_NOT_FOUND'],
      412: ['VERSION_CONFLICT'],
      413: ['PAYLOAD_TOO_LARGE'],
      415: ['UNSUPPORTED_MEDIA_TYPE'],
    }),
    ...auth,
  },
});
serve(admin, rollbackRoute, async (c) => {
  const { key } = c.req.valid('param');
  const expected = c.req.valid('header')['if-match'];
  const { version } = await readJsonBody(c, rollbackRoute.request.body, {
    maxBytes: MAX_ADMIN_BODY_BYTES,
    code: 'BAD_ROLLBACK',
  });
  const target = (await history(c.env.REGIONS, key)).find((e) => e.version === version);
  if (!target) throw new ProblemError(404, 'VERSION_NOT_FOUND', `region ${key} has no version ${version}`);
  const problemsFound = checkSettings(target.settings, edgeModel().manifest);
  if (problemsFound.length)
    throw new ProblemError(
      400,
      'SETTINGS_DO_NOT_FIT_BUNDLE',
      `version ${version} no longer fits the bundle: ${problemsFound.join('; ')}`,
    );
  // Without If-Match, roll back whatever is current now; a write racing in between still gets a
  // 412 rather than being silently replaced (the object checks the version read here).
  const base = expected ?? (await readEntry(c.env.REGIONS, key))?.version ?? null;
  const w = await guarded(() =>
    writeEntry(c.env.REGIONS, key, target.settings, base, { rolledBackTo: target.version }),
  );
  return c.json(keyed(key, w.entry), 200, { etag: `"${w.entry.version}"`, ...publishHeader(w.published) });
});

/** The controller's window query parameter: 1 minute to a day (the Durable Object keeps 24 h of samples). */
const windowMinutes = (description: string) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .optional()
    .openapi({ description });

export const resolveRoute = createRoute({
  method: 'post',
  path: '/regions/{key}/resolve',
  tags,
  security,
  summary: "Re-solve a forward-rate budget on the region's own traffic",
  description:
    "For an entry with maxForwardRate: the thresholds along the policy's calibrated frontier whose forward rate on the region's explored inputs of the last windowMinutes (default 60) is at most the budget, the most accurate such, never below the accuracy guard (floor on the frontier path; default the cheapest point certified on validation). Written as a new version with settings.solved (forward rate, Wilson 95 % interval, whether the budget was met, expected accuracy and cost). The cron trigger does the same for every such entry.",
  request: {
    params: keyParams,
    query: z.object({
      windowMinutes: windowMinutes('minutes of explored traffic to solve on (default 60)'),
      floor: z.coerce.number().min(0).optional().openapi({
        description: 'lowest position on the frontier path (point i at i); default the cheapest certified',
      }),
    }),
  },
  responses: {
    200: {
      description: 'the new version; settings.solved says what was solved',
      headers: published,
      content: json(keyedEntry),
    },
    ...problems({
      400: ['BAD_REGION', 'BAD_QUERY'],
      404: ['REGION_NOT_FOUND'],
      409: ['NO_FORWARD_RATE_BUDGET', 'NOT_ENOUGH_SAMPLES'],
    }),
    ...auth,
  },
});
serve(admin, resolveRoute, async (c) => {
  const { key } = c.req.valid('param');
  const q = c.req.valid('query');
  const r = await resolveEntry(c.env.REGIONS, key, q);
  if (!r.ok) {
    if (r.reason === 'not-found') throw new ProblemError(404, 'REGION_NOT_FOUND', `region ${key} has no entry`);
    if (r.reason === 'no-forward-rate-budget')
      throw new ProblemError(
        409,
        'NO_FORWARD_RATE_BUDGET',
        `region ${key} has no maxForwardRate: only a forward-rate budget is re-solved on live traffic`,
      );
    throw new ProblemError(
      409,
      'NOT_ENOUGH_SAMPLES',
      `${r.detail} (region ${key}, last ${q.windowMinutes ?? 60} min; raise the entry's explore share or wait for traffic)`,
    );
  }
  if (!r.write.ok) throw new ProblemError(412, 'VERSION_CONFLICT', `region ${key} changed during the re-solve; retry`);
  return c.json(keyed(key, r.write.entry), 200, {
    etag: `"${r.write.entry.version}"`,
    ...publishHeader(r.write.published),
  });
});

const interval = z.object({ p: z.number().nullable(), lo: z.number(), hi: z.number() });
const guardStatus = z.enum(['ok', 'broken', 'unproven']);
const armView = z.object({
  requests: z.number().int().describe("the arm's decisions counted in the window"),
  edge: z.number().int(),
  forwarded: z.number().int(),
  forwardRate: z.number().nullable(),
  shadowed: z.number().int().describe('shadowed answers (all exits)'),
  disagree: z.number().int().describe('of which the full model answered otherwise'),
  interval: interval.describe("Wilson interval of the disagreement at the guard's confidence"),
  status: guardStatus,
});
export const verificationSchema = z
  .object({
    version: z.number().int().describe('the version verified (the current one)'),
    guard: z.object({ maxDisagreement: z.number(), confidence: z.number() }),
    windowMinutes: z.number().int(),
    shadowShare: z.number().describe("the region's shadow share of confident edge answers"),
    exits: z
      .array(
        z.object({
          exit: z.number().int(),
          threshold: z.number(),
          n: z.number().int().describe('shadowed answers scoring at or above the current threshold'),
          disagree: z.number().int(),
          interval,
          status: guardStatus.describe(
            'broken: interval above the guard; ok: interval within it; unproven: neither yet',
          ),
          samplesNeeded: z
            .number()
            .int()
            .nullable()
            .describe('shadowed answers that would demonstrate the guard at the observed rate (null: it cannot)'),
        }),
      )
      .describe('per edge exit that is on'),
    neededShadowShare: z
      .number()
      .nullable()
      .describe('shadow share that would settle the unproven exits within the window'),
    shadowUsdPerMillion: z
      .number()
      .nullable()
      .describe('what shadowing at shadowShare costs, USD per million requests'),
    costAssumptions: z.array(z.string()),
    stable: armView,
    canary: armView
      .extend({
        share: z.number(),
        startedAt: z.string(),
        decision: z.enum(['promote', 'rollback', 'wait']),
        reason: z.string(),
      })
      .optional(),
    action: z
      .object({ kind: z.string(), reason: z.string(), version: z.number().int().nullable() })
      .nullable()
      .describe('what this call changed (POST verify only): the new version and why, or null'),
  })
  .openapi('Verification');

const verifyQuery = z.object({ windowMinutes: windowMinutes('minutes of shadowed answers to judge (default 1440)') });

async function verification(
  c: { env: { REGIONS: Parameters<typeof verifyEntry>[0] } },
  key: string,
  apply: boolean,
  windowMinutes?: number,
): Promise<Verification> {
  const r = await verifyEntry(c.env.REGIONS, key, { apply, windowMinutes });
  if (!r.ok) throw new ProblemError(404, 'REGION_NOT_FOUND', `region ${key} has no entry`);
  const { action, ok: _ok, ...rest } = r;
  return {
    ...rest,
    action: action
      ? { kind: action.kind, reason: action.reason, version: action.write.ok ? action.write.entry.version : null }
      : null,
  };
}

/** What GET …/guard and POST …/verify share: the request, the answers, the handler (`apply`: act). */
const verificationRequest = { params: keyParams, query: verifyQuery };
const verificationResponses = (description: string) => ({
  200: { description, content: json(verificationSchema) },
  ...problems({ 400: ['BAD_REGION', 'BAD_QUERY'], 404: ['REGION_NOT_FOUND'] }),
  ...auth,
});

export const guardRoute = createRoute({
  method: 'get',
  path: '/regions/{key}/guard',
  tags,
  security,
  summary: "The region's shadow verification: disagreement per exit, the guard, its cost, the canary",
  description:
    "From the shadowed answers the region's Durable Object holds (a share `shadow` of confident edge answers re-answered by the full model after the response): per edge exit, the disagreement with the backbone at or above its current threshold with a Wilson interval, and the guard's verdict; the shadow share the guard needs and what shadowing costs per million requests; the canary arm against the stable one. Changes nothing.",
  request: verificationRequest,
  responses: verificationResponses('the verification'),
});

export const verifyRoute = createRoute({
  method: 'post',
  path: '/regions/{key}/verify',
  tags,
  security,
  summary: 'Verify now and act: judge the canary (promote / roll back), raise thresholds where the guard broke',
  description:
    "What GET …/guard reports, then: a canary whose disagreement breaks the guard, is clearly worse than the stable version's, or forwards clearly more than a forward-rate budget allows is rolled back; one that demonstrates the guard on its minimum samples is promoted (its thresholds become the entry's). Otherwise, exits whose guard is broken get threshold floors (settings.guarded) or are switched off. Each action is a new version with `event` saying why; the cron trigger does the same every 5 minutes.",
  request: verificationRequest,
  responses: verificationResponses('the verification and what it changed'),
});

for (const [route, apply] of [
  [guardRoute, false],
  [verifyRoute, true],
] as const)
  serve(admin, route, async (c) => {
    const { key } = c.req.valid('param');
    return c.json(await verification(c, key, apply, c.req.valid('query').windowMinutes), 200);
  });

export const frontierRoute = createRoute({
  method: 'get',
  path: '/frontier',
  tags,
  security,
  summary: "The bundle's calibrated operating points, per policy",
  description:
    "From the served bundle's manifest: each policy's frontier (cheapest first) with its thresholds, expected accuracy and cost (validation), exit rates, the share answered at the edge at the default split, and which point is the default. A region's budget resolves to one of these points.",
  responses: {
    200: {
      description: 'the operating points',
      content: json(frontierViewSchema.meta({ id: 'Frontier' })),
    },
    ...auth,
  },
});
serve(admin, frontierRoute, async (c) => c.json(frontierView(edgeModel().manifest)));
