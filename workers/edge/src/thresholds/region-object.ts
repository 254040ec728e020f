/**
 * One Durable Object per region key: the source of truth for that key's entry and its history.
 *
 * Why: Workers KV has no compare-and-swap and is eventually consistent, so version checks done
 * against KV let racing writers all "win" with the same version. A Durable Object handles one
 * event at a time and its SQLite storage is strongly consistent, so the If-Match check and the
 * write happen in one synchronous transaction (no `await` between them: an await on external I/O
 * would open the input gate and let another request interleave).
 *
 * KV `region:<key>` stays the edge's fast read path (resolveRegion, 15 s cache). Each change is
 * published there after it is durable here; a failed publish (KV allows one write per second per
 * key and can answer 429) is retried from an alarm with backoff until KV holds the latest state.
 * Publishes are serialised and coalesced (each sends the newest state), so KV never moves
 * backwards and a burst of writes costs few KV writes.
 *
 * SQLite layout: `versions(version, entry)` every version ever written (rollbacks included, never
 * rewritten); `head` one row: the key, the current version (0 = none/deleted), a change counter
 * `gen` and `published_gen` (the change KV last acknowledged), consecutive publish failures.
 *
 * @example
 * const r = await env.REGIONS.getByName('colo:LHR').write('colo:LHR', settings, 3);
 * if (!r.ok) console.log(r.reason, r.current);
 */
import { DurableObject } from 'cloudflare:workers';
import { costReport, modelFacts } from '../../../../core/cost-model.js';
import {
  certifiedFloor,
  emptyHistogram,
  mergeHistogram,
  NotEnoughSamples,
  type ScoreReport,
  solveForwardRate,
} from '../../../../core/live-solve.js';
import { log } from '../../../../core/log.js';
import {
  CANARY_MIN_SAMPLES,
  type Capped,
  type RegionEntry,
  type RegionEvent,
  type RegionSettings,
  regionEntrySchema,
  resolveThresholds,
  type Solved,
} from '../../../../core/regions.js';
import {
  type Arm,
  type ArmReport,
  canaryVerdict,
  DEFAULT_GUARD,
  emptyArm,
  exitGuard,
  guardFloor,
  neededShadowShare,
  pooledGuard,
  type ShadowReport,
} from '../../../../core/shadow.js';
import type { Env } from '../env.js';
import { edgeModel } from '../model/edge-model.js';
import {
  type ArmView,
  currentKey,
  type DeleteResult,
  type KvLike,
  type RegionStub,
  type ResolveResult,
  type VerifyResult,
  type WriteResult,
} from './region-entries.js';

/** Where the object stands with KV, for tests and operators. */
export interface PublishState {
  key: string;
  current: number;
  gen: number;
  publishedGen: number;
  failures: number;
}

/**
 * Backstop alarm set with every change before publishing: if the object is evicted or crashes
 * between the durable write and the KV put, the alarm still publishes.
 */
const GUARD_ALARM_MS = 10_000;
/** Retry delay after `failures` consecutive failed publishes: 1 s (KV's per-key write rate), doubling, capped. */
export const retryDelayMs = (failures: number) => Math.min(300_000, 1000 * 2 ** Math.max(0, failures - 1));

interface Head {
  key: string;
  current: number;
  gen: number;
  published_gen: number;
  failures: number;
  [k: string]: string | number;
}

/** Explored score rows older than this are deleted with each report. */
const SCORE_RETAIN_MINUTES = 24 * 60;
/** Default window a re-solve reads: the region's recent traffic. */
export const RESOLVE_WINDOW_MINUTES = 60;
/** Default window a verification reads: a day of shadowed answers (score bins pool across versions). */
export const VERIFY_WINDOW_MINUTES = 24 * 60;
/** Shadowed answers at or above a candidate floor before it may be trusted (core/shadow.ts guardFloor). */
const FLOOR_MIN_SAMPLES = 30;

/** The Durable Object behind `env.REGIONS`: see the module comment. Methods are called over RPC. */
export class RegionObject extends DurableObject<Env> implements RegionStub {
  /**
   * The KV the object publishes to (and imports pre-Durable-Object data from). A field rather than
   * `env.THRESHOLDS` at each use so a test can make KV fail: Miniflare's KV cannot fail on demand.
   */
  kv: KvLike;
  /** Tail of the publish queue: one KV operation at a time, in order. Never rejects. */
  private chain: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.kv = env.THRESHOLDS;
    // Synchronous DDL in the constructor: it runs before any event is delivered.
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS versions (version INTEGER PRIMARY KEY, entry TEXT NOT NULL)`);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL,
      current INTEGER NOT NULL, gen INTEGER NOT NULL, published_gen INTEGER NOT NULL, failures INTEGER NOT NULL)`);
    // The controller's explored score vectors (controller/scores.ts reports), per minute and joint bin.
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS scores (minute INTEGER NOT NULL, bins TEXT NOT NULL,
      count INTEGER NOT NULL, PRIMARY KEY (minute, bins)) WITHOUT ROWID`);
    // Shadow verification (controller/shadow.ts reports): shadowed answers per minute, version, arm, exit
    // and score bin, with how many disagreed with the backbone; and each arm's decisions.
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS shadow (minute INTEGER NOT NULL, version INTEGER NOT NULL,
      arm TEXT NOT NULL, exit INTEGER NOT NULL, bin INTEGER NOT NULL, n INTEGER NOT NULL, d INTEGER NOT NULL,
      PRIMARY KEY (minute, version, arm, exit, bin)) WITHOUT ROWID`);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS arms (minute INTEGER NOT NULL, version INTEGER NOT NULL,
      arm TEXT NOT NULL, requests INTEGER NOT NULL, edge INTEGER NOT NULL, forwarded INTEGER NOT NULL,
      PRIMARY KEY (minute, version, arm)) WITHOUT ROWID`);
  }

  /** Adds an isolate's batch of shadow results and arm decisions (one transaction; old minutes deleted). */
  async reportShadow(key: string, r: ShadowReport): Promise<void> {
    await this.ready(key);
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const [arm, a] of Object.entries(r.arms) as [Arm, ArmReport][]) {
        for (const [k, [n, d]] of Object.entries(a.counts)) {
          const [exit, bin] = k.split(',').map(Number);
          sql.exec(
            'INSERT INTO shadow (minute, version, arm, exit, bin, n, d) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (minute, version, arm, exit, bin) DO UPDATE SET n = n + excluded.n, d = d + excluded.d',
            r.minute,
            r.version,
            arm,
            exit,
            bin,
            n,
            d,
          );
        }
        if (a.requests > 0)
          sql.exec(
            'INSERT INTO arms (minute, version, arm, requests, edge, forwarded) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (minute, version, arm) DO UPDATE SET requests = requests + excluded.requests, edge = edge + excluded.edge, forwarded = forwarded + excluded.forwarded',
            r.minute,
            r.version,
            arm,
            a.requests,
            a.edge,
            a.forwarded,
          );
      }
      sql.exec('DELETE FROM shadow WHERE minute < ?', r.minute - SCORE_RETAIN_MINUTES);
      sql.exec('DELETE FROM arms WHERE minute < ?', r.minute - SCORE_RETAIN_MINUTES);
    });
  }

  /** One arm's shadow counts and decisions since `sinceMinute` (of `version` only, when given). */
  private arm(arm: Arm, sinceMinute: number, version?: number): ArmReport {
    const v = version === undefined ? '' : ' AND version = ?';
    const args = version === undefined ? [sinceMinute, arm] : [sinceMinute, arm, version];
    const out = emptyArm();
    for (const row of this.ctx.storage.sql
      .exec<{ exit: number; bin: number; n: number; d: number }>(
        `SELECT exit, bin, SUM(n) AS n, SUM(d) AS d FROM shadow WHERE minute >= ? AND arm = ?${v} GROUP BY exit, bin`,
        ...args,
      )
      .toArray())
      out.counts[`${row.exit},${row.bin}`] = [row.n, row.d];
    const t = this.ctx.storage.sql
      .exec<{ r: number; e: number; f: number }>(
        `SELECT COALESCE(SUM(requests), 0) AS r, COALESCE(SUM(edge), 0) AS e, COALESCE(SUM(forwarded), 0) AS f FROM arms WHERE minute >= ? AND arm = ?${v}`,
        ...args,
      )
      .one();
    out.requests = t.r;
    out.edge = t.e;
    out.forwarded = t.f;
    return out;
  }

  /**
   * Verifies the region's shadowed answers against its guard over the last `windowMinutes`, judges
   * its canary, and with `apply` acts on both: a canary's verdict (promote / roll back) first, else
   * a broken guard raises the responsible exits' threshold floors (switching an exit off when no
   * threshold is shown to meet the guard). Each action is a new version whose `event` says why.
   */
  async verify(key: string, o: { apply?: boolean; windowMinutes?: number; now?: number } = {}): Promise<VerifyResult> {
    await this.ready(key);
    const h = this.head()!;
    if (!h.current) return { ok: false, reason: 'not-found' };
    const cur = this.entry(h.current);
    const s = cur.settings;
    const m = edgeModel().manifest;
    const g = s.guard ?? DEFAULT_GUARD;
    const now = o.now ?? Date.now();
    const windowMinutes = o.windowMinutes ?? VERIFY_WINDOW_MINUTES;
    const since = Math.floor(now / 60_000) - windowMinutes;
    const stable = this.arm('stable', since);
    const thresholds = resolveThresholds(s, m);
    const shadowShare = s.shadow ?? 0;
    const edgeExits = Math.min(s.split, m.exits.length);
    const exits = thresholds
      .slice(0, edgeExits)
      .map((t, i) => ({ ...exitGuard(stable.counts, i, g, t), threshold: t }))
      .filter((e) => e.threshold <= 1);
    // The shadowed answers are a random `shadowShare` of the confident ones: answers ≈ shadowed ÷ share.
    const answers: number[] = [];
    for (const e of exits) answers[e.exit] = shadowShare > 0 ? e.n / shadowShare : 0;
    const needed = shadowShare > 0 ? neededShadowShare(exits, answers) : null;
    const cost = this.shadowCost(s.split, shadowShare, stable);
    const view = (a: ArmReport): ArmView => {
      const p = pooledGuard(a.counts, g);
      return {
        requests: a.requests,
        edge: a.edge,
        forwarded: a.forwarded,
        forwardRate: a.requests ? a.forwarded / a.requests : null,
        shadowed: p.n,
        disagree: p.disagree,
        interval: p.interval,
        status: p.status,
      };
    };
    let canary: NonNullable<Extract<VerifyResult, { ok: true }>['canary']> | undefined;
    let action: Extract<VerifyResult, { ok: true }>['action'] = null;
    if (s.canary) {
      const startMinute = Math.floor(Date.parse(s.canary.startedAt ?? cur.updatedAt) / 60_000);
      const c = this.arm('canary', startMinute, h.current);
      const st = this.arm('stable', startMinute, h.current);
      const v = canaryVerdict(c, st, g, {
        minSamples: s.canary.minSamples ?? CANARY_MIN_SAMPLES,
        maxForwardRate: s.maxForwardRate,
      });
      canary = {
        ...view(c),
        share: s.canary.share,
        startedAt: s.canary.startedAt ?? cur.updatedAt,
        ...v,
      };
      if (o.apply && v.decision !== 'wait') {
        const { canary: candidate, ...rest } = s;
        const next: RegionSettings =
          v.decision === 'rollback'
            ? rest
            : (() => {
                const { budget: _b, maxForwardRate: _f, solved: _s, explore: _e, guarded: _g, ...base } = rest;
                return { ...base, thresholds: candidate!.thresholds };
              })();
        const kind = v.decision === 'rollback' ? 'canary-rollback' : 'canary-promote';
        const reason = `v${h.current}'s canary ${v.decision === 'rollback' ? 'rolled back' : 'promoted'}: ${v.reason}`;
        action = { kind, reason, write: await this.write(key, next, h.current, { event: { kind, reason } }) };
      }
    }
    if (o.apply && !action) {
      const broken = exits.filter((e) => e.status === 'broken');
      if (broken.length) {
        const floors = s.guarded?.floors ? [...s.guarded.floors] : new Array<number>(m.exits.length).fill(0);
        const said: string[] = [];
        for (const e of broken) {
          const f = guardFloor(stable.counts, e.exit, g, FLOOR_MIN_SAMPLES);
          // A floor must raise the threshold: none shown above it means the exit goes off.
          const floor = f > e.threshold && f <= 1 ? f : 2;
          floors[e.exit] = Math.max(floors[e.exit] ?? 0, floor);
          const p = (x: number) => `${(x * 100).toFixed(2)} %`;
          said.push(
            `exit ${e.exit}: ${e.disagree}/${e.n} shadowed answers disagreed with the backbone (${p(e.disagree / e.n)}, ${Math.round(g.confidence * 100)} % interval [${p(e.interval.lo)}, ${p(e.interval.hi)}]) against the guard's ${p(g.maxDisagreement)}; ${floor > 1 ? 'switched off (no threshold shown to meet the guard)' : `threshold raised ${e.threshold.toFixed(4)} → ${floor.toFixed(4)}`}`,
          );
        }
        const reason = `guard broken: ${said.join('; ')}`;
        const next: RegionSettings = { ...s, guarded: { at: new Date(now).toISOString(), floors, reason } };
        action = {
          kind: 'guard',
          reason,
          write: await this.write(key, next, h.current, { event: { kind: 'guard', reason } }),
        };
        log.warn('controller: guard broken; thresholds raised', { region: key, reason });
      }
    }
    return {
      ok: true,
      version: h.current,
      guard: g,
      windowMinutes,
      shadowShare,
      exits,
      neededShadowShare: needed,
      shadowUsdPerMillion: cost.value,
      costAssumptions: cost.assumptions,
      stable: view(stable),
      ...(canary ? { canary } : {}),
      action,
    };
  }

  /** USD per million requests of shadowing `share` of the confident edge answers (GPU from the split to the final head, f32 feature bytes). */
  private shadowCost(split: number, share: number, stable: ArmReport): { value: number | null; assumptions: string[] } {
    const m = edgeModel().manifest;
    if (split >= m.segments.length)
      return { value: 0, assumptions: ['the whole backbone runs at the edge: nothing to shadow'] };
    const bytes = m.segments[split - 1]!.outputShape.reduce((a, b) => a * b, 1) * 4 + 512;
    const facts = modelFacts(m, {
      split,
      exitRates: new Array<number>(m.exits.length + 1).fill(0),
      policy: 'max-softmax',
      thresholds: new Array<number>(m.exits.length).fill(2),
    });
    const r = costReport(
      {
        requests: 1,
        edge: 0,
        forwarded: 1,
        degraded: 0,
        errors: 0,
        edgeCpuMs: 0,
        backendMs: 0,
        bytesForwarded: bytes,
        kvReads: 0,
        d1RowsWritten: 0,
      },
      { model: facts },
    );
    const perShadow = (r.actual.items.gpu?.value ?? Number.NaN) + (r.actual.items.egress?.value ?? Number.NaN);
    const edgeShare = stable.requests > 0 ? stable.edge / stable.requests : null;
    if (!Number.isFinite(perShadow) || edgeShare === null)
      return {
        value: null,
        assumptions: ['no decisions counted yet for the edge share, or no GPU price for the work'],
      };
    return {
      // perShadow is per million shadow forwards (a mix of one forwarded request).
      value: share * edgeShare * perShadow,
      assumptions: [
        `${(share * 100).toFixed(1)} % of the ${(edgeShare * 100).toFixed(1)} % of requests answered at the edge are shadowed; each costs the backend's work from segment ${split} to the final head and ${bytes} f32 feature bytes: $${perShadow.toPrecision(3)} per million shadow forwards (core/cost-model.ts defaults).`,
        'Not priced: the edge recomputing the segments for each shadow (CPU-ms, about the same as the answer itself), the Workers subrequest (free).',
      ],
    };
  }

  /** Writes the controller's money-cap state (null: lift it) as a new version, unless it is unchanged. */
  async setCapped(key: string, capped: Capped | null, reason: string): Promise<WriteResult | null> {
    await this.ready(key);
    const h = this.head()!;
    if (!h.current) return null;
    const s = this.entry(h.current).settings;
    if (!capped && !s.capped) return null;
    const { capped: _old, ...rest } = s;
    const next: RegionSettings = capped ? { ...rest, capped } : rest;
    return this.write(key, next, h.current, { event: { kind: 'cap', reason } });
  }

  /** Adds an isolate's batch of explored score vectors (one transaction; old minutes deleted). */
  async reportScores(key: string, r: ScoreReport): Promise<void> {
    await this.ready(key);
    this.ctx.storage.transactionSync(() => {
      for (const [bins, n] of Object.entries(r.counts))
        this.ctx.storage.sql.exec(
          'INSERT INTO scores (minute, bins, count) VALUES (?, ?, ?) ON CONFLICT (minute, bins) DO UPDATE SET count = count + excluded.count',
          r.minute,
          bins,
          n,
        );
      this.ctx.storage.sql.exec('DELETE FROM scores WHERE minute < ?', r.minute - SCORE_RETAIN_MINUTES);
    });
  }

  /** Explored samples of the last `windowMinutes`, as one histogram over `exits` exits. */
  private window(exits: number, windowMinutes: number) {
    const since = Math.floor(Date.now() / 60_000) - windowMinutes;
    const h = emptyHistogram(exits);
    for (const row of this.ctx.storage.sql
      .exec<{ bins: string; n: number }>(
        'SELECT bins, SUM(count) AS n FROM scores WHERE minute >= ? GROUP BY bins',
        since,
      )
      .toArray()) {
      const parts = row.bins.split(',').length;
      mergeHistogram(h, { exits: parts, total: row.n, counts: { [row.bins]: row.n } });
    }
    return h;
  }

  /**
   * Re-solves a forward-rate budget on the region's explored traffic of the last `windowMinutes`
   * (core/live-solve.ts), never below the accuracy guard (`floor` on the frontier path; default the
   * cheapest certified point), and writes the result as a new version (history, KV publish).
   */
  async resolve(key: string, o: { windowMinutes?: number; floor?: number } = {}): Promise<ResolveResult> {
    await this.ready(key);
    const h = this.head()!;
    if (!h.current) return { ok: false, reason: 'not-found' };
    const cur = this.entry(h.current);
    const s = cur.settings;
    if (s.maxForwardRate === undefined) return { ok: false, reason: 'no-forward-rate-budget' };
    const m = edgeModel().manifest;
    const points = m.policies.frontier[s.policy] ?? [];
    const hist = this.window(Math.min(s.split, m.exits.length), o.windowMinutes ?? RESOLVE_WINDOW_MINUTES);
    let solution: ReturnType<typeof solveForwardRate>;
    try {
      solution = solveForwardRate(hist, points, {
        split: s.split,
        maxForwardRate: s.maxForwardRate,
        floor: o.floor ?? certifiedFloor(points),
        thresholdFloors: s.guarded?.floors,
      });
    } catch (e) {
      if (e instanceof NotEnoughSamples)
        return { ok: false, reason: 'not-enough-samples', samples: hist.total, detail: e.message };
      throw e;
    }
    const solved: Solved = {
      thresholds: solution.thresholds,
      at: new Date().toISOString(),
      samples: solution.samples,
      forwardRate: solution.forwardRate,
      interval: { lo: solution.interval.lo, hi: solution.interval.hi },
      met: solution.met,
      lambda: solution.lambda,
      expectedAccuracy: solution.expectedAccuracy,
      expectedCost: solution.expectedCost,
    };
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const reason = `re-solved on ${solution.samples} explored inputs of the last ${o.windowMinutes ?? RESOLVE_WINDOW_MINUTES} min: forward rate ${pct(solution.forwardRate)} [${pct(solution.interval.lo)}, ${pct(solution.interval.hi)}] against the budget ${pct(s.maxForwardRate)}${solution.met ? '' : ' (not met: the accuracy guard stopped the solve)'}`;
    const write = await this.write(key, { ...s, solved }, h.current, { event: { kind: 'resolve', reason } });
    log.info('controller: region re-solved', { region: key, maxForwardRate: s.maxForwardRate, ...solved });
    return { ok: true, solved, write };
  }

  /** The current entry, or null when the key has none (never written, or deleted). */
  async get(key: string): Promise<RegionEntry | null> {
    await this.ready(key);
    const h = this.head()!;
    return h.current ? this.entry(h.current) : null;
  }

  /** Every version ever written, oldest first. */
  async history(key: string): Promise<RegionEntry[]> {
    await this.ready(key);
    return this.ctx.storage.sql
      .exec<{ entry: string }>('SELECT entry FROM versions ORDER BY version')
      .toArray()
      .map((r) => JSON.parse(r.entry) as RegionEntry);
  }

  /**
   * Writes a new version if `expected` matches: null = create (the key must have no entry), a number
   * = replace that version. Acknowledged once durable here; `published` says whether KV has it yet.
   */
  async write(
    key: string,
    settings: RegionSettings,
    expected: number | null,
    extra: { rolledBackTo?: number; event?: RegionEvent } = {},
  ): Promise<WriteResult> {
    await this.ready(key);
    // A canary starts when it is written, unless the writer said when.
    if (settings.canary && !settings.canary.startedAt)
      settings = { ...settings, canary: { ...settings.canary, startedAt: new Date().toISOString() } };
    // Check and write in one synchronous transaction: nothing else can run in between.
    const r = this.ctx.storage.transactionSync((): WriteResult & { gen?: number } => {
      const h = this.head()!;
      if (expected === null && h.current !== 0) return { ok: false, reason: 'exists', current: h.current };
      if (expected !== null && expected !== h.current) return { ok: false, reason: 'conflict', current: h.current };
      // Versions never repeat, even after a delete: the next one follows the highest ever written.
      const last = this.ctx.storage.sql
        .exec<{ v: number }>('SELECT COALESCE(MAX(version), 0) AS v FROM versions')
        .one().v;
      const entry = regionEntrySchema.parse({
        settings,
        version: last + 1,
        updatedAt: new Date().toISOString(),
        ...(extra.rolledBackTo ? { rolledBackTo: extra.rolledBackTo } : {}),
        ...(extra.event ? { event: extra.event } : {}),
      });
      this.ctx.storage.sql.exec(
        'INSERT INTO versions (version, entry) VALUES (?, ?)',
        entry.version,
        JSON.stringify(entry),
      );
      this.ctx.storage.sql.exec('UPDATE head SET current = ?, gen = gen + 1', entry.version);
      return { ok: true, entry, created: h.current === 0, published: false, gen: h.gen + 1 };
    });
    if (!r.ok) return r;
    const { gen, ...res } = r;
    return { ...res, published: await this.afterChange(gen!) };
  }

  /** Deletes the current entry if `expected` matches its version; history is kept. */
  async delete(key: string, expected: number): Promise<DeleteResult> {
    await this.ready(key);
    const r = this.ctx.storage.transactionSync((): DeleteResult & { gen?: number } => {
      const h = this.head()!;
      if (h.current === 0) return { ok: false, reason: 'not-found' };
      if (expected !== h.current) return { ok: false, reason: 'conflict', current: h.current };
      this.ctx.storage.sql.exec('UPDATE head SET current = 0, gen = gen + 1');
      return { ok: true, published: false, gen: h.gen + 1 };
    });
    if (!r.ok) return r;
    return { ok: true, published: await this.afterChange(r.gen!) };
  }

  /** Where KV stands relative to this object (null before the object was first used). */
  async publishState(): Promise<PublishState | null> {
    const h = this.head();
    return h
      ? { key: h.key, current: h.current, gen: h.gen, publishedGen: h.published_gen, failures: h.failures }
      : null;
  }

  /** Retries the KV publish; a failure schedules the next alarm itself (so no throw: no runtime retry storm). */
  override async alarm(): Promise<void> {
    await this.publish();
  }

  /** Arms the backstop alarm, then publishes; true once KV holds change `gen` (or a later one). */
  private async afterChange(gen: number): Promise<boolean> {
    // Storage calls do not open the input gate, and the change is already committed anyway.
    await this.ctx.storage.setAlarm(Date.now() + GUARD_ALARM_MS);
    await this.publish();
    return this.head()!.published_gen >= gen;
  }

  /** Queues one publish attempt behind any in flight, so KV writes land in order. */
  private publish(): Promise<void> {
    this.chain = this.chain.then(() => this.publishOnce());
    return this.chain;
  }

  private async publishOnce(): Promise<void> {
    const h = this.head();
    if (!h || h.published_gen >= h.gen) return;
    // Publish the newest state, not the change that queued this attempt: intermediate versions
    // need not reach KV, and fewer writes matter under KV's one-write-per-second-per-key limit.
    const gen = h.gen;
    const value = h.current ? JSON.stringify(this.entry(h.current)) : null;
    try {
      if (value !== null) await this.kv.put(currentKey(h.key), value);
      else await this.kv.delete(currentKey(h.key));
    } catch (e) {
      this.ctx.storage.sql.exec('UPDATE head SET failures = failures + 1');
      const failures = this.head()!.failures;
      const delay = retryDelayMs(failures);
      log.warn('KV publish failed; retrying from an alarm', {
        region: h.key,
        error: String(e),
        failures,
        retryInMs: delay,
      });
      await this.ctx.storage.setAlarm(Date.now() + delay);
      return;
    }
    this.ctx.storage.sql.exec('UPDATE head SET published_gen = MAX(published_gen, ?), failures = 0', gen);
    const after = this.head()!;
    // Caught up: the backstop alarm has nothing left to do. Behind (a write landed during the
    // put): the next queued attempt, or the alarm, publishes it.
    if (after.published_gen >= after.gen) await this.ctx.storage.deleteAlarm();
  }

  private head(): Head | undefined {
    return this.ctx.storage.sql
      .exec<Head>('SELECT key, current, gen, published_gen, failures FROM head WHERE id = 1')
      .toArray()[0];
  }

  private entry(version: number): RegionEntry {
    return JSON.parse(
      this.ctx.storage.sql.exec<{ entry: string }>('SELECT entry FROM versions WHERE version = ?', version).one().entry,
    ) as RegionEntry;
  }

  /**
   * First use: binds the object to its key and imports what the KV-only store left (`region:<key>`
   * and `history:<key>:<version>`), so deploying the Durable Object does not restart versions at 1.
   * blockConcurrencyWhile: the import awaits KV, and no other event may see a half-imported object.
   */
  private async ready(key: string): Promise<void> {
    const h = this.head();
    if (h) {
      if (h.key !== key) throw new Error(`this object holds region ${h.key}, not ${key}`);
      return;
    }
    await this.ctx.blockConcurrencyWhile(async () => {
      if (this.head()) return;
      const found = new Map<number, RegionEntry>();
      const parse = (raw: unknown) => {
        const p = regionEntrySchema.safeParse(raw);
        if (p.success) found.set(p.data.version, p.data);
        return p.success ? p.data : null;
      };
      const cur = parse(await this.kv.get(currentKey(key), 'json'));
      let cursor: string | undefined;
      do {
        const page = await this.kv.list({ prefix: `history:${key}:`, cursor });
        for (const k of page.keys) parse(await this.kv.get(k.name, 'json'));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      this.ctx.storage.transactionSync(() => {
        for (const e of found.values())
          this.ctx.storage.sql.exec(
            'INSERT OR IGNORE INTO versions (version, entry) VALUES (?, ?)',
            e.version,
            JSON.stringify(e),
          );
        // KV already holds the imported current entry: nothing to publish (gen = published_gen).
        this.ctx.storage.sql.exec(
          'INSERT INTO head (id, key, current, gen, published_gen, failures) VALUES (1, ?, ?, 0, 0, 0)',
          key,
          cur?.version ?? 0,
        );
      });
    });
  }
}
