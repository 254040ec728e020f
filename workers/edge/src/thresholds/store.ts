/**
 * Region entries in Workers KV, versioned, with history and rollback; read through a short
 * in-memory cache so a hot isolate does not hit KV on every request.
 *
 * KV layout: `region:<key>` → current RegionEntry; `history:<key>:<version, 8 digits>` → every
 * version ever written (rollback writes a new version with an old version's settings).
 * Concurrency: writes compare the caller's `If-Match` version with the stored one (412 on
 * mismatch). KV has no compare-and-swap, so two writers racing within KV's propagation delay can
 * both pass the check; the history keeps both versions. Strict serialisation would need a Durable Object.
 *
 * @example
 * const r = await resolveRegion(env.THRESHOLDS, ['colo:LHR', 'default'], manifest);
 */
import type { Manifest } from '../../../../core/manifest.js';
import { manifestDefaults, regionEntrySchema, type RegionEntry, type RegionSettings } from '../../../../core/regions.js';

/** The slice of Workers KV the store uses; structural, so Node tests can hand in a failing stand-in. */
export interface KvLike {
  get(key: string, type: 'json'): Promise<unknown>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  list(opts: { prefix: string; cursor?: string }): Promise<{ keys: { name: string }[]; list_complete: boolean; cursor?: string }>;
}

/** Cache lifetime: operators see their change at the edge within this long (plus KV propagation). */
export const CACHE_TTL_MS = 15_000;

interface Cached { at: number; entry: RegionEntry | null; problem?: string }
const cache = new Map<string, Cached>();

export const currentKey = (key: string) => `region:${key}`;
const historyKey = (key: string, version: number) => `history:${key}:${String(version).padStart(8, '0')}`;

export interface Resolved {
  key: string;
  settings: RegionSettings;
  /** `<key>@v<version>`, or `manifest` for the bundle's defaults. */
  thresholdVersion: string;
  source: 'kv' | 'kv-stale' | 'manifest-default';
  problems: string[];
}

/** Problems seen while resolving (invalid entries, KV errors), for /readyz. Latest per key. */
export const recentProblems = new Map<string, { at: string; problem: string }>();

const lastLogged = new Map<string, number>();

/** Records a problem for /readyz and logs it, at most once per cache period per key and message. */
function note(key: string, problem: string, now = Date.now()): string {
  recentProblems.set(key, { at: new Date(now).toISOString(), problem });
  const id = `${key}\n${problem}`;
  if (now - (lastLogged.get(id) ?? -Infinity) > CACHE_TTL_MS) {
    lastLogged.set(id, now);
    console.warn(JSON.stringify({ level: 'warn', region: key, problem }));
  }
  return `${key}: ${problem}`;
}

export async function readEntry(kv: KvLike, key: string): Promise<RegionEntry | null> {
  const raw = await kv.get(currentKey(key), 'json');
  if (raw === null) return null;
  const p = regionEntrySchema.safeParse(raw);
  if (!p.success) throw new Error(`stored entry is invalid: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return p.data;
}

/** First valid entry along `keys` (most specific first); manifest defaults, loudly, if none. */
export async function resolveRegion(kv: KvLike, keys: string[], m: Manifest, check: (s: RegionSettings) => string[], now = Date.now()): Promise<Resolved> {
  const problems: string[] = [];
  let stale: { key: string; entry: RegionEntry } | undefined;
  for (const key of keys) {
    let c = cache.get(key);
    if (!c || now - c.at > CACHE_TTL_MS) {
      try {
        c = { at: now, entry: await readEntry(kv, key) };
      } catch (e) {
        const msg = (e as Error).message;
        if (c?.entry && !msg.startsWith('stored entry')) {
          // KV unreachable: keep serving the last good value, marked stale.
          problems.push(note(key, `KV read failed (${msg}); serving the cached version`));
          stale ??= { key, entry: c.entry };
          continue;
        }
        c = { at: now, entry: null, problem: msg };
      }
      cache.set(key, c);
    }
    if (c.problem) { problems.push(note(key, c.problem)); continue; }
    if (!c.entry) continue;
    const bad = check(c.entry.settings);
    if (bad.length) { problems.push(note(key, `entry v${c.entry.version} does not fit the bundle: ${bad.join('; ')}`)); continue; }
    return { key, settings: c.entry.settings, thresholdVersion: `${key}@v${c.entry.version}`, source: 'kv', problems };
  }
  if (stale) return { key: stale.key, settings: stale.entry.settings, thresholdVersion: `${stale.key}@v${stale.entry.version}`, source: 'kv-stale', problems };
  if (!problems.length) problems.push(note('default', 'no region entry in KV (not even "default"); using the manifest defaults'));
  return { key: 'default', settings: manifestDefaults(m), thresholdVersion: 'manifest', source: 'manifest-default', problems };
}

export function invalidate(key: string): void {
  cache.delete(key);
}

export async function writeEntry(kv: KvLike, key: string, settings: RegionSettings, expectedVersion: number | null, extra: Partial<RegionEntry> = {}): Promise<RegionEntry> {
  const cur = await readEntry(kv, key).catch(() => null);
  const curVersion = cur?.version ?? 0;
  if (expectedVersion !== null && expectedVersion !== curVersion) throw new VersionConflict(curVersion);
  const last = await latestHistoryVersion(kv, key);
  const entry: RegionEntry = { settings, version: Math.max(curVersion, last) + 1, updatedAt: new Date().toISOString(), ...extra };
  await kv.put(historyKey(key, entry.version), JSON.stringify(entry));
  await kv.put(currentKey(key), JSON.stringify(entry));
  invalidate(key);
  return entry;
}

export async function deleteEntry(kv: KvLike, key: string, expectedVersion: number | null): Promise<void> {
  const cur = await readEntry(kv, key).catch(() => null);
  if (!cur) throw new NotFound(key);
  if (expectedVersion !== null && expectedVersion !== cur.version) throw new VersionConflict(cur.version);
  await kv.delete(currentKey(key));
  invalidate(key);
}

export async function history(kv: KvLike, key: string): Promise<RegionEntry[]> {
  const out: RegionEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: `history:${key}:`, cursor });
    for (const k of page.keys) {
      const v = regionEntrySchema.safeParse(await kv.get(k.name, 'json'));
      if (v.success) out.push(v.data);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out.sort((a, b) => a.version - b.version);
}

async function latestHistoryVersion(kv: KvLike, key: string): Promise<number> {
  const h = await history(kv, key);
  return h.length ? h[h.length - 1]!.version : 0;
}

export async function listRegions(kv: KvLike): Promise<{ key: string; version: number; updatedAt: string }[]> {
  const out: { key: string; version: number; updatedAt: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: 'region:', cursor });
    for (const k of page.keys) {
      const key = k.name.slice('region:'.length);
      const e = await readEntry(kv, key).catch(() => null);
      if (e) out.push({ key, version: e.version, updatedAt: e.updatedAt });
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out;
}

export class VersionConflict extends Error {
  constructor(readonly current: number) {
    super(`version conflict: the stored version is ${current}`);
  }
}
export class NotFound extends Error {
  constructor(readonly key: string) {
    super(`no entry for region ${key}`);
  }
}
