/**
 * Region entries: written through a Durable Object per key (RegionObject: atomic version check,
 * full history), published to Workers KV `region:<key>` for the edge, and read from KV through a
 * short in-memory cache so a hot isolate does not hit KV on every request.
 *
 * Why two stores: KV is fast to read everywhere but has no compare-and-swap and is eventually
 * consistent (racing writers could all pass a KV-side version check); the Durable Object is
 * strongly consistent but one location. Admin reads and writes go to the object; the edge's
 * hot path (resolveRegion) reads KV, so it sees a change within CACHE_TTL_MS plus KV propagation
 * (and at once in the isolate that made it, via invalidate()).
 *
 * @example
 * const r = await resolveRegion(env.THRESHOLDS, ['colo:LHR', 'default'], manifest, check);
 * const w = await writeEntry(env.REGIONS, 'colo:LHR', settings, 3); // throws VersionConflict on a stale 3
 */

import type { ScoreReport } from '../../../../core/live-solve.js';
import { log } from '../../../../core/log.js';
import type { Manifest } from '../../../../core/manifest.js';
import {
  type Capped,
  manifestDefaults,
  type RegionEntry,
  type RegionEvent,
  type RegionSettings,
  regionEntrySchema,
  type Solved,
} from '../../../../core/regions.js';
import type { ExitGuard, Guard, ShadowReport } from '../../../../core/shadow.js';

/** The slice of Workers KV the store uses; structural, so Node tests can hand in a failing stand-in. */
export interface KvLike {
  get(key: string, type: 'json'): Promise<unknown>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  list(opts: {
    prefix: string;
    cursor?: string;
  }): Promise<{ keys: { name: string }[]; list_complete: boolean; cursor?: string }>;
}

/** Cache lifetime: operators see their change at the edge within this long (plus KV propagation). */
export const CACHE_TTL_MS = 15_000;

interface Cached {
  at: number;
  entry: RegionEntry | null;
  problem?: string;
}
const cache = new Map<string, Cached>();

/** The KV key the edge reads a region's published entry from. */
export const currentKey = (key: string) => `region:${key}`;

/** Outcome of a conditional write; RPC carries plain values, so conflicts are results, not custom errors. */
export type WriteResult =
  | { ok: true; entry: RegionEntry; created: boolean; published: boolean }
  /** `expected` did not match; `current` is the stored version, 0 when there is no entry. */
  | { ok: false; reason: 'conflict'; current: number }
  /** An unconditional write (no If-Match) found an existing entry. */
  | { ok: false; reason: 'exists'; current: number };

/** Outcome of a re-solve (RegionObject.resolve): the new version, or why there is none. */
export type ResolveResult =
  | { ok: true; solved: Solved; write: WriteResult }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'no-forward-rate-budget' }
  | { ok: false; reason: 'not-enough-samples'; samples: number; detail: string };

/** One arm's shadow figures over a verification's window. */
export interface ArmView {
  requests: number;
  edge: number;
  forwarded: number;
  forwardRate: number | null;
  shadowed: number;
  disagree: number;
  interval: { p: number | null; lo: number; hi: number };
  status: ExitGuard['status'];
}

/** What a verification found (RegionObject.verify), and what it did. */
export type VerifyResult =
  | {
      ok: true;
      version: number;
      guard: Guard;
      windowMinutes: number;
      /** Share of confident edge answers shadowed (the region's `shadow`). */
      shadowShare: number;
      /** Per edge exit that is on: its shadowed answers at or above its current threshold, and the guard's verdict. */
      exits: (ExitGuard & { threshold: number })[];
      /** Shadow share that would settle the unproven exits within the window (null: some cannot be, at their observed rate). */
      neededShadowShare: number | null;
      /** What shadowing at shadowShare costs, USD per million requests of this region (GPU + feature bytes). */
      shadowUsdPerMillion: number | null;
      costAssumptions: string[];
      stable: ArmView;
      canary?: ArmView & {
        share: number;
        startedAt: string;
        decision: 'promote' | 'rollback' | 'wait';
        reason: string;
      };
      /** What this verification changed: a new version, or nothing. */
      action: { kind: RegionEvent['kind']; reason: string; write: WriteResult } | null;
    }
  | { ok: false; reason: 'not-found' };

/**
 * GET /admin/regions/{key}/guard's and POST …/verify's answer (routes/admin.ts `verificationSchema`):
 * a verification, with the action as the new version's number. The one type the CLI, the demo and
 * the dashboard read it with.
 */
export type Verification = Omit<Extract<VerifyResult, { ok: true }>, 'ok' | 'action'> & {
  action: { kind: RegionEvent['kind']; reason: string; version: number | null } | null;
};

/** Outcome of a conditional delete. */
export type DeleteResult =
  | { ok: true; published: boolean }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'conflict'; current: number };

/**
 * The RPC surface of a key's RegionObject, stated structurally: this module is also compiled and
 * run under Node (tests/unit), which has neither `cloudflare:workers` nor the Workers types.
 */
export interface RegionStub {
  get(key: string): Promise<RegionEntry | null>;
  history(key: string): Promise<RegionEntry[]>;
  write(
    key: string,
    settings: RegionSettings,
    expected: number | null,
    extra?: { rolledBackTo?: number; event?: RegionEvent },
  ): Promise<WriteResult>;
  delete(key: string, expected: number): Promise<DeleteResult>;
  reportScores(key: string, report: ScoreReport): Promise<void>;
  resolve(key: string, o?: { windowMinutes?: number; floor?: number }): Promise<ResolveResult>;
  reportShadow(key: string, report: ShadowReport): Promise<void>;
  verify(key: string, o?: { apply?: boolean; windowMinutes?: number; now?: number }): Promise<VerifyResult>;
  setCapped(key: string, capped: Capped | null, reason: string): Promise<WriteResult | null>;
}

/** The REGIONS Durable Object namespace, as the store uses it (one object per region key). */
export interface Regions {
  getByName(name: string): RegionStub;
}

/** The settings a request runs with, and where they came from. */
export interface Resolved {
  key: string;
  settings: RegionSettings;
  /** `<key>@v<version>`, or `manifest` for the bundle's defaults. */
  thresholdVersion: string;
  /** The entry's version (0 for the bundle's defaults). */
  version: number;
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
    log.warn('region entry problem', { region: key, problem });
  }
  return `${key}: ${problem}`;
}

/** The entry KV holds for `key` (what the edge serves); throws when the stored value is invalid. */
export async function readPublished(kv: KvLike, key: string): Promise<RegionEntry | null> {
  const raw = await kv.get(currentKey(key), 'json');
  if (raw === null) return null;
  const p = regionEntrySchema.safeParse(raw);
  if (!p.success)
    throw new Error(
      `stored entry is invalid: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return p.data;
}

/** First valid entry along `keys` (most specific first); manifest defaults, loudly, if none. */
export async function resolveRegion(
  kv: KvLike,
  keys: string[],
  m: Manifest,
  check: (s: RegionSettings) => string[],
  now = Date.now(),
): Promise<Resolved> {
  const problems: string[] = [];
  let stale: { key: string; entry: RegionEntry } | undefined;
  for (const key of keys) {
    let c = cache.get(key);
    if (!c || now - c.at > CACHE_TTL_MS) {
      try {
        c = { at: now, entry: await readPublished(kv, key) };
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
    if (c.problem) {
      problems.push(note(key, c.problem));
      continue;
    }
    if (!c.entry) continue;
    const bad = check(c.entry.settings);
    if (bad.length) {
      problems.push(note(key, `entry v${c.entry.version} does not fit the bundle: ${bad.join('; ')}`));
      continue;
    }
    return {
      key,
      settings: c.entry.settings,
      thresholdVersion: `${key}@v${c.entry.version}`,
      version: c.entry.version,
      source: 'kv',
      problems,
    };
  }
  if (stale)
    return {
      key: stale.key,
      settings: stale.entry.settings,
      thresholdVersion: `${stale.key}@v${stale.entry.version}`,
      version: stale.entry.version,
      source: 'kv-stale',
      problems,
    };
  if (!problems.length)
    problems.push(note('default', 'no region entry in KV (not even "default"); using the manifest defaults'));
  return {
    key: 'default',
    settings: manifestDefaults(m),
    thresholdVersion: 'manifest',
    version: 0,
    source: 'manifest-default',
    problems,
  };
}

/** Drops `key` from this isolate's cache, so the isolate that made a change serves it at once. */
export function invalidate(key: string): void {
  cache.delete(key);
}

/** The current entry as the Durable Object holds it (strongly consistent; for the admin API). */
export async function readEntry(regions: Regions, key: string): Promise<RegionEntry | null> {
  return regions.getByName(key).get(key);
}

/** A written entry, whether it created the key, and whether KV had it when the write returned. */
export interface Written {
  entry: RegionEntry;
  created: boolean;
  published: boolean;
}

/**
 * Writes a new version through the key's Durable Object. `expectedVersion` null = create (throws
 * AlreadyExists if the key has an entry); a number = replace exactly that version (throws
 * VersionConflict otherwise). Not-yet-published writes reach KV from the object's alarm.
 */
export async function writeEntry(
  regions: Regions,
  key: string,
  settings: RegionSettings,
  expectedVersion: number | null,
  extra: { rolledBackTo?: number } = {},
): Promise<Written> {
  const r = await regions.getByName(key).write(key, settings, expectedVersion, extra);
  invalidate(key);
  if (r.ok) return { entry: r.entry, created: r.created, published: r.published };
  if (r.reason === 'exists') throw new AlreadyExists(key, r.current);
  throw new VersionConflict(r.current);
}

/**
 * Asks the key's object to re-solve its forward-rate budget on its explored traffic (a new version
 * when it can; thresholds/region-object.ts `resolve`), and drops this isolate's cached entry.
 */
export async function resolveEntry(
  regions: Regions,
  key: string,
  o: { windowMinutes?: number; floor?: number } = {},
): Promise<ResolveResult> {
  const r = await regions.getByName(key).resolve(key, o);
  invalidate(key);
  return r;
}

/** Asks the key's object to verify its shadowed answers (and judge its canary); `apply` lets it act. */
export async function verifyEntry(
  regions: Regions,
  key: string,
  o: { apply?: boolean; windowMinutes?: number; now?: number } = {},
): Promise<VerifyResult> {
  const r = await regions.getByName(key).verify(key, o);
  if (r.ok && r.action) invalidate(key);
  return r;
}

/** Deletes the current entry (history is kept) if `expectedVersion` matches; returns whether KV has the delete yet. */
export async function deleteEntry(
  regions: Regions,
  key: string,
  expectedVersion: number,
): Promise<{ published: boolean }> {
  const r = await regions.getByName(key).delete(key, expectedVersion);
  invalidate(key);
  if (r.ok) return { published: r.published };
  if (r.reason === 'not-found') throw new NotFound(key);
  throw new VersionConflict(r.current);
}

/** Every version ever written for `key` (rollbacks included), oldest first. */
export async function history(regions: Regions, key: string): Promise<RegionEntry[]> {
  return regions.getByName(key).history(key);
}

/**
 * Keys and versions as published to KV. Eventually consistent (a KV list, which lags writes by up to
 * KV's propagation delay, and an entry whose publish is being retried shows its previous version);
 * GET /admin/regions/:key is the strongly consistent read.
 */
export async function listRegions(
  kv: KvLike,
): Promise<{ key: string; version: number; updatedAt: string; settings: RegionSettings }[]> {
  const out: { key: string; version: number; updatedAt: string; settings: RegionSettings }[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: 'region:', cursor });
    for (const k of page.keys) {
      const key = k.name.slice('region:'.length);
      const e = await readPublished(kv, key).catch(() => null);
      if (e) out.push({ key, version: e.version, updatedAt: e.updatedAt, settings: e.settings });
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out;
}

/** The stored version is not the one the caller expected (`current` 0: there is no entry). */
export class VersionConflict extends Error {
  constructor(readonly current: number) {
    super(`version conflict: the stored version is ${current}`);
  }
}
/** The key has no entry. */
export class NotFound extends Error {
  constructor(readonly key: string) {
    super(`no entry for region ${key}`);
  }
}
/** A create (no If-Match) found an entry: the caller must name the version it replaces. */
export class AlreadyExists extends Error {
  constructor(
    readonly key: string,
    readonly current: number,
  ) {
    super(`region ${key} exists (version ${current}): send If-Match with its current version to replace it`);
  }
}
