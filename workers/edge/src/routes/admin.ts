/**
 * Admin API for region entries (bearer token, compared in constant time):
 *   GET    /admin/regions                       list keys and versions (as published to KV: eventually consistent)
 *   GET    /admin/regions/:key                  current entry (ETag = version), from the key's Durable Object
 *   PUT    /admin/regions/:key                  write settings (validated against the bundle);
 *                                               If-Match: <version> required to replace (412 on conflict)
 *   DELETE /admin/regions/:key                  If-Match required
 *   GET    /admin/regions/:key/history          every version
 *   POST   /admin/regions/:key/rollback         {"version": n}: a new version with version n's settings
 *
 * Writes go through one Durable Object per key (thresholds/region-object.ts), which checks If-Match
 * and writes atomically, then publishes to KV for the edge. `x-kv-publish: pending` on a write's
 * answer: durable, but KV has not taken it yet (the object retries from an alarm).
 * Every 4xx is problem+json, 401 included (with `WWW-Authenticate: Bearer`).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { checkSettings, REGION_KEY, regionSettingsSchema } from '../../../../core/regions.js';
import { mediaType } from '../../../../core/media-type.js';
import { hex, timingSafeEqualStr } from '../../../../core/signature.js';
import type { Env } from '../env.js';
import { ProblemError } from '../errors.js';
import { edgeModel } from '../model/edge-model.js';
import { readBody } from './body.js';
import { AlreadyExists, deleteEntry, history, listRegions, NotFound, readEntry, VersionConflict, writeEntry } from '../thresholds/store.js';

type C = Context<{ Bindings: Env }>;

/** Largest admin body: region settings are a few hundred bytes; anything near this is a mistake. */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;

function regionKey(c: C): string {
  const key = c.req.param('key')!;
  if (!REGION_KEY.test(key)) throw new ProblemError(400, 'BAD_REGION', `"${key}" is not a region key; expected colo:XXX (IATA), country:XX (ISO 3166), continent:XX (AF, AN, AS, EU, NA, OC, SA) or default`);
  return key;
}

/** A version as we emit it in ETags: decimal, no sign, no leading zeros, no exponent or hex. */
const VERSION = /^(?:0|[1-9][0-9]*)$/;
const IF_MATCH_ALLOWED = 'send the version from the ETag, as 3 or "3" (one decimal integer: no sign, leading zeros, spaces, weak prefix or list)';

/**
 * Parses If-Match once into a canonical version number (null when absent). Only what we emit is
 * accepted, so `01`, `0x1` or `1e3` cannot alias a version through loose number parsing.
 */
export function parseIfMatch(h: string | null | undefined): number | null {
  if (h === null || h === undefined) return null;
  const bad = (why: string) => new ProblemError(400, 'BAD_IF_MATCH', `If-Match ${JSON.stringify(h)} ${why}; ${IF_MATCH_ALLOWED}`);
  // Headers.get joins repeated fields with ", ", so this also catches two If-Match headers.
  if (h.includes(',')) throw bad('is a list; one version is allowed');
  if (h === '*') throw bad('is "*", which is not supported: name the version you are replacing');
  if (/^w\//i.test(h)) throw bad('is a weak entity tag, which cannot be used with If-Match (it uses strong comparison, RFC 9110 section 13.1.1)');
  const digits = h.length >= 2 && h.startsWith('"') && h.endsWith('"') ? h.slice(1, -1) : h;
  if (!VERSION.test(digits)) throw bad('is not a version number');
  const v = Number(digits);
  if (!Number.isSafeInteger(v)) throw bad(`exceeds the largest version (${Number.MAX_SAFE_INTEGER})`);
  return v;
}

const ifMatch = (c: C) => parseIfMatch(c.req.raw.headers.get('if-match'));

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VersionConflict) {
      const detail = e.current ? `${e.message}; re-read the entry and retry with If-Match: ${e.current}` : 'the region has no entry, so If-Match cannot match; create it without If-Match';
      throw new ProblemError(412, 'VERSION_CONFLICT', detail, { headers: e.current ? { etag: `"${e.current}"` } : {} });
    }
    if (e instanceof AlreadyExists) throw new ProblemError(428, 'IF_MATCH_REQUIRED', e.message, { headers: { etag: `"${e.current}"` } });
    if (e instanceof NotFound) throw new ProblemError(404, 'REGION_NOT_FOUND', e.message);
    throw e;
  }
}

/** The JSON body of a PUT/POST: application/json only (415), valid JSON (400 BAD_JSON). */
async function jsonBody(c: C): Promise<unknown> {
  const type = c.req.header('content-type');
  if (mediaType(type) !== 'application/json') {
    throw new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', `content-type ${type === undefined ? '(none)' : JSON.stringify(type)} is not accepted; send application/json`);
  }
  // The worker's one capped body reader (413 over the cap, declared or streamed; 400 if it breaks off).
  const bytes = await readBody(c.req.raw, MAX_ADMIN_BODY_BYTES);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new ProblemError(400, 'BAD_JSON', 'the body is not valid JSON (UTF-8)');
  }
}

async function parseSettings(c: C) {
  const p = regionSettingsSchema.safeParse(await jsonBody(c));
  if (!p.success) throw new ProblemError(400, 'BAD_SETTINGS', p.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  const problems = checkSettings(p.data, edgeModel().manifest);
  if (problems.length) throw new ProblemError(400, 'SETTINGS_DO_NOT_FIT_BUNDLE', problems.join('; '));
  return p.data;
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
  const scheme = h.slice(0, sp), token = h.slice(sp + 1);
  if (scheme.toLowerCase() !== 'bearer' || !B64TOKEN.test(token)) return { error: 'malformed' };
  return { token };
}

const sha256Hex = async (s: string) => hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s))));

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

export const admin = new Hono<{ Bindings: Env }>();

admin.use('*', async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) throw new ProblemError(503, 'ADMIN_DISABLED', 'the admin API is disabled: set the ADMIN_TOKEN secret');
  const cred = bearerCredential(c.req.header('authorization'));
  if ('error' in cred) {
    const detail = cred.error === 'missing' ? 'send Authorization: Bearer <admin token>' : 'the Authorization header is not "Bearer <token>" (one space, RFC 6750 token characters)';
    throw new ProblemError(401, 'UNAUTHORIZED', detail, { headers: { 'www-authenticate': cred.error === 'missing' ? CHALLENGE : `${CHALLENGE}, error="invalid_request"` } });
  }
  if (!(await tokenMatches(cred.token, token))) throw new ProblemError(401, 'UNAUTHORIZED', 'the bearer token is not valid', { headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` } });
  await next();
});

admin.get('/regions', async (c) => c.json({ regions: await listRegions(c.env.THRESHOLDS) }));

admin.get('/regions/:key', async (c) => {
  const key = regionKey(c);
  const e = await readEntry(c.env.REGIONS, key);
  if (!e) throw new ProblemError(404, 'REGION_NOT_FOUND', `no entry for region ${key}`);
  return c.json({ key, ...e }, 200, { etag: `"${e.version}"` });
});

admin.put('/regions/:key', async (c) => {
  const key = regionKey(c);
  const expected = ifMatch(c);
  const settings = await parseSettings(c);
  // One call: the object decides create-vs-replace and checks the version atomically.
  const w = await guarded(() => writeEntry(c.env.REGIONS, key, settings, expected));
  return c.json({ key, ...w.entry }, w.created ? 201 : 200, { etag: `"${w.entry.version}"`, ...publishHeader(w.published) });
});

admin.delete('/regions/:key', async (c) => {
  const key = regionKey(c);
  const expected = ifMatch(c);
  if (expected === null) throw new ProblemError(428, 'IF_MATCH_REQUIRED', 'send If-Match with the current version to delete');
  const d = await guarded(() => deleteEntry(c.env.REGIONS, key, expected));
  return c.body(null, 204, publishHeader(d.published));
});

admin.get('/regions/:key/history', async (c) => {
  const key = regionKey(c);
  return c.json({ key, versions: await history(c.env.REGIONS, key) });
});

admin.post('/regions/:key/rollback', async (c) => {
  const key = regionKey(c);
  const expected = ifMatch(c);
  const body = z.object({ version: z.number().int().positive() }).safeParse(await jsonBody(c));
  if (!body.success) throw new ProblemError(400, 'BAD_ROLLBACK', 'expected {"version": <positive integer>}');
  const target = (await history(c.env.REGIONS, key)).find((e) => e.version === body.data.version);
  if (!target) throw new ProblemError(404, 'VERSION_NOT_FOUND', `region ${key} has no version ${body.data.version}`);
  const problems = checkSettings(target.settings, edgeModel().manifest);
  if (problems.length) throw new ProblemError(400, 'SETTINGS_DO_NOT_FIT_BUNDLE', `version ${body.data.version} no longer fits the bundle: ${problems.join('; ')}`);
  // Without If-Match, roll back whatever is current now; a write racing in between still gets a
  // 412 rather than being silently replaced (the object checks the version read here).
  const base = expected ?? (await readEntry(c.env.REGIONS, key))?.version ?? null;
  const w = await guarded(() => writeEntry(c.env.REGIONS, key, target.settings, base, { rolledBackTo: target.version }));
  return c.json({ key, ...w.entry }, 200, { etag: `"${w.entry.version}"`, ...publishHeader(w.published) });
});
