/**
 * Admin API for region entries (bearer token, compared in constant time):
 *   GET    /admin/regions                       list keys and versions
 *   GET    /admin/regions/:key                  current entry (ETag = version)
 *   PUT    /admin/regions/:key                  write settings (validated against the bundle);
 *                                               If-Match: <version> required to replace (412 on conflict)
 *   DELETE /admin/regions/:key                  If-Match required
 *   GET    /admin/regions/:key/history          every version
 *   POST   /admin/regions/:key/rollback         {"version": n}: a new version with version n's settings
 */
import { Hono, type Context } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { z } from 'zod';
import { checkSettings, REGION_KEY, regionSettingsSchema } from '../../../../core/regions.js';
import { timingSafeEqualStr } from '../../../../core/signature.js';
import type { Env } from '../env.js';
import { ProblemError } from '../errors.js';
import { edgeModel } from '../model/edge-model.js';
import { deleteEntry, history, listRegions, NotFound, readEntry, VersionConflict, writeEntry } from '../thresholds/store.js';

type C = Context<{ Bindings: Env }>;

function regionKey(c: C): string {
  const key = c.req.param('key')!;
  if (!REGION_KEY.test(key)) throw new ProblemError(400, 'BAD_REGION', `"${key}" is not a region key; expected colo:XXX (IATA), country:XX (ISO 3166), continent:XX (AF, AN, AS, EU, NA, OC, SA) or default`);
  return key;
}

function ifMatch(c: C): number | null {
  const h = c.req.header('if-match');
  if (h === undefined) return null;
  const v = Number(h.replaceAll('"', '').replace(/^W\//, ''));
  if (!Number.isInteger(v) || v < 0) throw new ProblemError(400, 'BAD_IF_MATCH', `If-Match "${h}" is not a version number`);
  return v;
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VersionConflict) throw new ProblemError(412, 'VERSION_CONFLICT', `${e.message}; re-read the entry and retry with If-Match: ${e.current}`, { headers: { etag: `"${e.current}"` } });
    if (e instanceof NotFound) throw new ProblemError(404, 'REGION_NOT_FOUND', e.message);
    throw e;
  }
}

async function parseSettings(c: C) {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    throw new ProblemError(400, 'BAD_JSON', 'the body is not valid JSON');
  }
  const p = regionSettingsSchema.safeParse(json);
  if (!p.success) throw new ProblemError(400, 'BAD_SETTINGS', p.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  const problems = checkSettings(p.data, edgeModel().manifest);
  if (problems.length) throw new ProblemError(400, 'SETTINGS_DO_NOT_FIT_BUNDLE', problems.join('; '));
  return p.data;
}

export const admin = new Hono<{ Bindings: Env }>();

admin.use('*', async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) throw new ProblemError(503, 'ADMIN_DISABLED', 'the admin API is disabled: set the ADMIN_TOKEN secret');
  return bearerAuth({ verifyToken: (t) => timingSafeEqualStr(t, token) })(c as never, next);
});

admin.get('/regions', async (c) => c.json({ regions: await listRegions(c.env.THRESHOLDS) }));

admin.get('/regions/:key', async (c) => {
  const key = regionKey(c);
  const e = await readEntry(c.env.THRESHOLDS, key);
  if (!e) throw new ProblemError(404, 'REGION_NOT_FOUND', `no entry for region ${key}`);
  return c.json({ key, ...e }, 200, { etag: `"${e.version}"` });
});

admin.put('/regions/:key', async (c) => {
  const key = regionKey(c);
  const settings = await parseSettings(c);
  const expected = ifMatch(c);
  const exists = (await readEntry(c.env.THRESHOLDS, key).catch(() => null)) !== null;
  if (exists && expected === null) throw new ProblemError(428, 'IF_MATCH_REQUIRED', `region ${key} exists: send If-Match with its current version to replace it`);
  const e = await guarded(() => writeEntry(c.env.THRESHOLDS, key, settings, expected ?? 0));
  return c.json({ key, ...e }, exists ? 200 : 201, { etag: `"${e.version}"` });
});

admin.delete('/regions/:key', async (c) => {
  const key = regionKey(c);
  const expected = ifMatch(c);
  if (expected === null) throw new ProblemError(428, 'IF_MATCH_REQUIRED', 'send If-Match with the current version to delete');
  await guarded(() => deleteEntry(c.env.THRESHOLDS, key, expected));
  return c.body(null, 204);
});

admin.get('/regions/:key/history', async (c) => {
  const key = regionKey(c);
  return c.json({ key, versions: await history(c.env.THRESHOLDS, key) });
});

admin.post('/regions/:key/rollback', async (c) => {
  const key = regionKey(c);
  const body = z.object({ version: z.number().int().positive() }).safeParse(await c.req.json().catch(() => null));
  if (!body.success) throw new ProblemError(400, 'BAD_ROLLBACK', 'expected {"version": <positive integer>}');
  const target = (await history(c.env.THRESHOLDS, key)).find((e) => e.version === body.data.version);
  if (!target) throw new ProblemError(404, 'VERSION_NOT_FOUND', `region ${key} has no version ${body.data.version}`);
  const problems = checkSettings(target.settings, edgeModel().manifest);
  if (problems.length) throw new ProblemError(400, 'SETTINGS_DO_NOT_FIT_BUNDLE', `version ${body.data.version} no longer fits the bundle: ${problems.join('; ')}`);
  const cur = await readEntry(c.env.THRESHOLDS, key).catch(() => null);
  const e = await guarded(() => writeEntry(c.env.THRESHOLDS, key, target.settings, ifMatch(c) ?? cur?.version ?? 0, { rolledBackTo: target.version }));
  return c.json({ key, ...e }, 200, { etag: `"${e.version}"` });
});
