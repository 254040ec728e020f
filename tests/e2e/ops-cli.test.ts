/**
 * The operator CLI (`npm run ops`, scripts/ops.ts) as a process against a real `wrangler dev` worker
 * (workerd, local KV and Durable Objects, fresh state): regions set/get/history/rollback, a budget
 * shown with what it resolved to, a forward-rate budget (set, switched from a cost budget and back to
 * thresholds) and `regions resolve` answering its problems on a fresh worker (no explored traffic,
 * no forward-rate budget, no entry), the controller's settings (shadow share, guard, money cap, a
 * canary started and stopped) with `regions guard` / `regions verify` on a fresh worker (nothing
 * shadowed: the canary waits, nothing changes) and the history showing it, the frontier as a table
 * and as JSON, a 412 conflict (and --force), a refused token, and a usage error.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import type { FrontierView } from '../../core/operating-points.js';
import { budgetPoint, defaultSplit, forwardRatePoint, type RegionSettings } from '../../core/regions.js';
import { spawnWranglerDev, waitUntilUp } from '../../scripts/wrangler-dev.js';

const ADMIN = 'e2e-ops-admin-token';
// Free of the other e2e tests' and benches' ports (8793/8794, 8796, 8797, 8798/8799).
const PORT = 8795;
const EDGE = `http://127.0.0.1:${PORT}`;
const m = readManifest('models/fashion-resnet');
const state = mkdtempSync(join(tmpdir(), 'ops-cli-wrangler-'));

let worker: ChildProcess;

beforeAll(async () => {
  worker = spawnWranglerDev({ port: PORT, vars: { ADMIN_TOKEN: ADMIN }, persistTo: state });
  await waitUntilUp(`${EDGE}/healthz`, worker);
});

afterAll(() => {
  worker?.kill('SIGTERM');
  rmSync(state, { recursive: true, force: true });
});

/** Runs `npm run ops -- …` (tsx scripts/ops.ts) with EDGE_URL and ADMIN_TOKEN set. */
function ops(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/ops.ts', ...args],
      { env: { ...process.env, EDGE_URL: EDGE, ADMIN_TOKEN: ADMIN, ...env }, timeout: 30_000 },
      (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}
const json = <T>(r: { code: number; out: string; err: string }): T => {
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as T;
};
const every = (t: number) => m.exits.map(() => t).join(',');

describe('npm run ops against wrangler dev', () => {
  it('regions set / get / history / rollback, with If-Match handled by the CLI', async () => {
    const created = await ops(['regions', 'set', 'colo:OPS', `--thresholds=${every(0.8)}`, '--policy=confidence']);
    expect(created.code, created.err).toBe(0);
    expect(created.out).toMatch(/^created: version 1/m);
    // Settings not given are the bundle's defaults for a new entry, then kept from the current one.
    expect(created.out).toMatch(new RegExp(`^split +${defaultSplit(m)}$`, 'm'));
    const replaced = await ops(['regions', 'set', 'colo:OPS', `--thresholds=${every(0.6)}`, '--note=lower']);
    expect(replaced.out).toMatch(/^replaced: version 2/m);
    expect(replaced.out).toMatch(/^policy +confidence$/m);

    const got = await ops(['regions', 'get', 'colo:OPS']);
    expect(got.out).toMatch(/^version +2$/m);
    expect(got.out).toMatch(/^thresholds +0\.6000, /m);
    expect(got.out).toMatch(/^frontier point +none/m);
    const e = json<{ version: number; settings: { thresholds: number[]; note: string } }>(
      await ops(['regions', 'get', 'colo:OPS', '--json']),
    );
    expect(e).toMatchObject({ version: 2, settings: { note: 'lower' } });

    const rb = await ops(['regions', 'rollback', 'colo:OPS', '--version=1']);
    expect(rb.code, rb.err).toBe(0);
    expect(rb.out).toMatch(/rolled back to version 1: new version 3/);
    const h = await ops(['regions', 'history', 'colo:OPS']);
    const lines = h.out.trim().split('\n');
    expect(lines[0]).toMatch(/^VERSION +UPDATED +POLICY +THRESHOLDS \/ BUDGET/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(['1', '2', '3']);
    expect(lines[3]).toMatch(/0\.8000.* 1$/);
    const hj = json<{ versions: { version: number; rolledBackTo?: number }[] }>(
      await ops(['regions', 'history', 'colo:OPS', '--json']),
    );
    expect(hj.versions.at(-1)).toMatchObject({ version: 3, rolledBackTo: 1 });

    const list = await ops(['regions', 'list']);
    expect(list.out).toMatch(/^KEY +VERSION/);
    expect(list.out).toMatch(/^colo:OPS +3 /m);
  });

  it('budget set shows the frontier point the budget resolved to', async () => {
    const points = m.policies.frontier[m.policies.default]!;
    const budget = 0.2;
    const chosen = budgetPoint(m.policies.default, budget, m)!;
    const r = await ops(['budget', 'set', 'country:OP', String(budget)]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^budget +0\.2 /m);
    expect(r.out).toMatch(new RegExp(`^frontier point +${m.policies.default} #${chosen.index}`, 'm'));
    expect(r.out).toContain(`${(chosen.point.cost * 100).toFixed(2)} % of the backbone`);
    expect(r.out).toMatch(/^edge share +\d+\.\d % answered at the edge/m);
    const e = json<{ resolved: { from: string; thresholds: number[]; point: { cost: number; index: number } } }>(
      await ops(['regions', 'get', 'country:OP', '--json']),
    );
    expect(e.resolved).toMatchObject({ from: 'budget', thresholds: points[chosen.index]!.thresholds });
    expect(e.resolved.point.cost).toBeLessThanOrEqual(budget);
  });

  it('a forward-rate budget: set (switching from a cost budget), get, list, and back to thresholds', async () => {
    const policy = m.policies.default;
    const rate = 0.25;
    const chosen = forwardRatePoint(policy, rate, defaultSplit(m), m)!;
    expect((await ops(['regions', 'set', 'colo:FWD', '--budget=0.3', '--note=cost first'])).code).toBe(0);
    const set = await ops(['regions', 'set', 'colo:FWD', `--max-forward-rate=${rate}`]);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toMatch(/^replaced: version 2/m);

    const got = await ops(['regions', 'get', 'colo:FWD']);
    expect(got.code, got.err).toBe(0);
    expect(got.out).toMatch(/^max forward rate +0\.25 \(at most 25\.00 % of requests forwarded to the backend\)$/m);
    expect(got.out).toMatch(/^explore +5\.00 % of requests scored at every edge exit for the controller \(default\)$/m);
    expect(got.out).toMatch(/^re-solved +not yet /m);
    expect(got.out).not.toMatch(/^budget /m);
    expect(got.out).toMatch(
      new RegExp(
        `^frontier point +${policy} #${chosen.index}\\b.*validation point within the forward-rate budget`,
        'm',
      ),
    );
    const e = json<{
      version: number;
      settings: RegionSettings;
      resolved: { from: string; thresholds: number[]; point: { index: number } };
    }>(await ops(['regions', 'get', 'colo:FWD', '--json']));
    // The cost budget is dropped with the switch (exactly one kind), the note is not carried over.
    expect(e.settings).toEqual({ policy, maxForwardRate: rate, split: defaultSplit(m), encoding: 'f16' });
    expect(e.resolved).toMatchObject({
      from: 'forwardRate',
      thresholds: chosen.point.thresholds,
      point: { index: chosen.index },
    });

    const list = await ops(['regions', 'list']);
    expect(list.out).toMatch(new RegExp(`^colo:FWD +2 +\\S+ +forwardRate +${policy} #${chosen.index} `, 'm'));
    const h = await ops(['regions', 'history', 'colo:FWD']);
    expect(h.out).toMatch(/^ *2 .* max forward rate 0\.25 /m);

    // An explicit explore share is kept by a later write that does not give one; switching to
    // thresholds drops the forward-rate budget.
    expect((await ops(['regions', 'set', 'colo:FWD', `--max-forward-rate=0.3`, '--explore=0.1'])).code).toBe(0);
    const back = json<{ settings: RegionSettings; resolved: { from: string } }>(
      await ops(['regions', 'set', 'colo:FWD', `--thresholds=${every(0.7)}`, '--json']),
    );
    expect(back.settings).toEqual({
      policy,
      thresholds: m.exits.map(() => 0.7),
      explore: 0.1,
      split: defaultSplit(m),
      encoding: 'f16',
    });
    expect(back.resolved.from).toBe('thresholds');

    const both = await ops(['regions', 'set', 'colo:FWD', '--budget=0.3', '--max-forward-rate=0.2']);
    expect(both.code).toBe(2);
    expect(both.err.trim()).toBe(
      'error: regions set: give exactly one of --thresholds=a,b,…, --budget=x or --max-forward-rate=x (see --help)',
    );
    expect((await ops(['regions', 'set', 'colo:FWD', '--max-forward-rate=1.5'])).code).toBe(2);
    expect((await ops(['regions', 'set', 'colo:FWD', '--budget=0.3', '--explore=-1'])).code).toBe(2);
  });

  it('regions resolve: not enough explored samples, no forward-rate budget, no entry (exit 1, the detail on stderr)', async () => {
    expect((await ops(['regions', 'set', 'colo:RSV', '--max-forward-rate=0.2'])).code).toBe(0);
    // A fresh worker has explored nothing for this region: the controller refuses, nothing is written.
    const few = await ops(['regions', 'resolve', 'colo:RSV']);
    expect(few.code).toBe(1);
    expect(few.out).toBe('');
    expect(few.err.trim().split('\n')).toHaveLength(1);
    expect(few.err.trim()).toMatch(
      /^error: 0 explored samples, at least \d+ are needed to re-solve \(region colo:RSV, last 60 min; .*\) \(409 NOT_ENOUGH_SAMPLES\)$/,
    );
    const windowed = await ops(['regions', 'resolve', 'colo:RSV', '--window-minutes=5', '--floor=0']);
    expect(windowed.code).toBe(1);
    expect(windowed.err).toMatch(/\(region colo:RSV, last 5 min; /);
    expect(json<{ version: number }>(await ops(['regions', 'get', 'colo:RSV', '--json'])).version).toBe(1);

    expect((await ops(['regions', 'set', 'colo:THR', `--thresholds=${every(0.8)}`])).code).toBe(0);
    const thr = await ops(['regions', 'resolve', 'colo:THR']);
    expect(thr.code).toBe(1);
    expect(thr.err.trim()).toBe(
      'error: region colo:THR has no maxForwardRate: only a forward-rate budget is re-solved on live traffic (409 NO_FORWARD_RATE_BUDGET)',
    );
    const none = await ops(['regions', 'resolve', 'colo:NON']);
    expect(none.code).toBe(1);
    expect(none.err.trim()).toBe('error: region colo:NON has no entry (404 REGION_NOT_FOUND)');
    expect((await ops(['regions', 'resolve', 'colo:RSV', '--window-minutes=0'])).code).toBe(2);
    const help = await ops(['regions', 'resolve', '--help']);
    expect(help.out).toMatch(/--window-minutes=<n> .*\(default: 60\)/);
  });

  it('the controller: shadow + guard + money cap via regions set, a canary, regions guard / verify (nothing shadowed: wait, no change), canary --stop, the history', async () => {
    const key = 'colo:CAN';
    const t07 = m.exits.map(() => '0.7000').join(', ');
    // --max-disagreement alone: the confidence is DEFAULT_GUARD's.
    const set = await ops([
      'regions',
      'set',
      key,
      `--thresholds=${every(0.8)}`,
      '--shadow=0.2',
      '--max-disagreement=0.02',
    ]);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toMatch(/^created: version 1/m);
    expect(set.out).toMatch(/^shadow +20\.00 % of confident edge answers re-answered by the full model$/m);
    expect(set.out).toMatch(/^guard +disagreement with the backbone at most 2\.00 % at 95 % confidence$/m);
    // No exit policy given: the entry keeps its thresholds; --confidence alone keeps the stored maxDisagreement.
    const more = json<{ version: number; settings: RegionSettings }>(
      await ops(['regions', 'set', key, '--confidence=0.9', '--max-usd-per-million=0.5', '--json']),
    );
    expect(more.version).toBe(2);
    expect(more.settings).toMatchObject({
      thresholds: m.exits.map(() => 0.8),
      shadow: 0.2,
      guard: { maxDisagreement: 0.02, confidence: 0.9 },
      maxUsdPerMillion: 0.5,
    });

    const canary = await ops([
      'regions',
      'canary',
      key,
      `--thresholds=${every(0.7)}`,
      '--share=0.1',
      '--min-samples=50',
    ]);
    expect(canary.code, canary.err).toBe(0);
    expect(canary.out).toMatch(/^canary started: version 3/m);
    expect(canary.out).toMatch(
      new RegExp(
        `^canary +10\\.00 % of requests at ${t07}; 50\\.00 % of its confident answers shadowed \\(default\\); judged after 50 shadowed answers; started `,
        'm',
      ),
    );
    expect(canary.out).toMatch(/^money cap +\$0\.5000 per million requests$/m);
    const got = json<{ settings: RegionSettings }>(await ops(['regions', 'get', key, '--json']));
    expect(got.settings.canary).toMatchObject({ thresholds: m.exits.map(() => 0.7), share: 0.1, minSamples: 50 });
    expect(typeof got.settings.canary?.startedAt).toBe('string');

    const guard = await ops(['regions', 'guard', key]);
    expect(guard.code, guard.err).toBe(0);
    expect(guard.out.split('\n')[0]).toBe(`shadow verification of ${key}, version 3, last 1440 min`);
    expect(guard.out).toMatch(/^EXIT +THRESHOLD +N +DISAGREED +DISAGREEMENT \[90 % INTERVAL\] +STATUS +NEEDED$/m);
    expect(guard.out).toMatch(/^ +0 +0\.8000 +0 +0 +- \[0\.00 %, 100\.00 %\] +unproven +\d+$/m);
    expect(guard.out).toMatch(/^guard +disagreement with the backbone at most 2\.00 % at 90 % confidence$/m);
    expect(guard.out).toMatch(/^shadow share +20\.00 % of confident edge answers$/m);
    expect(guard.out).toMatch(/^needed share +/m);
    expect(guard.out).toMatch(/^shadow cost +/m);
    expect(guard.out).toMatch(/^stable +90\.00 % +0 +0 +0 +- +0 +0 +- \[0\.00 %, 100\.00 %\] +unproven$/m);
    expect(guard.out).toMatch(/^canary +10\.00 % +0 +0 +0 +- +0 +0 /m);
    expect(guard.out).toMatch(/^canary decision +wait: 0 shadowed canary answers \(50 needed\)/m);
    expect(guard.out).not.toMatch(/^action /m);
    const gj = json<{ version: number; shadowShare: number; canary: { decision: string }; action: null }>(
      await ops(['regions', 'guard', key, '--json', '--window-minutes=30']),
    );
    expect(gj).toMatchObject({
      version: 3,
      shadowShare: 0.2,
      windowMinutes: 30,
      canary: { decision: 'wait' },
      action: null,
    });

    const verify = await ops(['regions', 'verify', key]);
    expect(verify.code, verify.err).toBe(0);
    expect(verify.out).toMatch(/^canary decision +wait: /m);
    expect(verify.out).toMatch(/^action +no change$/m);
    const vj = json<{ version: number; action: unknown }>(await ops(['regions', 'verify', key, '--json']));
    expect(vj).toMatchObject({ version: 3, action: null });
    expect(json<{ version: number }>(await ops(['regions', 'get', key, '--json'])).version).toBe(3);

    const stop = await ops(['regions', 'canary', key, '--stop', '--note=canary stopped by hand']);
    expect(stop.code, stop.err).toBe(0);
    expect(stop.out).toMatch(/^canary stopped: version 4/m);
    expect(stop.out).not.toMatch(/^canary {2,}/m);
    const again = await ops(['regions', 'canary', key, '--stop']);
    expect(again.code).toBe(1);
    expect(again.err.trim()).toBe(`error: region ${key} has no canary (version 4); nothing was written`);
    const half = await ops(['regions', 'canary', key, `--thresholds=${every(0.7)}`]);
    expect(half.code).toBe(2);
    expect(half.err).toMatch(
      /^error: regions canary: give --thresholds=a,b,… and --share=x to start a canary, or --stop/,
    );
    const short = await ops(['regions', 'canary', key, '--thresholds=0.7', '--share=0.1']);
    expect(short.code).toBe(1);
    expect(short.err).toContain(`canary.thresholds has 1 entries, the bundle has ${m.exits.length} exits`);

    const h = await ops(['regions', 'history', key]);
    expect(h.code, h.err).toBe(0);
    const lines = h.out.trim().split('\n');
    expect(lines[0]).toMatch(
      /^VERSION +UPDATED +POLICY +THRESHOLDS \/ BUDGET +SPLIT +ENCODING +CANARY +ROLLED BACK TO +NOTE +EVENT$/,
    );
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(['1', '2', '3', '4']);
    expect(lines[3]).toMatch(new RegExp(` 10 % at ${t07}$`));
    expect(lines[4]).toMatch(/ canary stopped by hand$/);
    expect(lines[4]).not.toContain('10 % at');

    const none = await ops(['regions', 'guard', 'colo:NOC']);
    expect(none.code).toBe(1);
    expect(none.err.trim()).toBe('error: region colo:NOC has no entry (404 REGION_NOT_FOUND)');
    const noEntry = await ops(['regions', 'set', 'colo:NOC', '--shadow=0.1']);
    expect(noEntry.code).toBe(1);
    expect(noEntry.err).toMatch(/^error: region colo:NOC has no entry; give one of --thresholds/);
  }, 300_000);

  it('frontier: a table by default, JSON with --json, one policy with --policy', async () => {
    const t = await ops(['frontier']);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^POLICY +# +COST +ACCURACY +EDGE +CERTIFIED +DEFAULT +THRESHOLDS$/m);
    expect(t.out.match(/ (yes|no) +default +\S/g)?.length).toBe(1);
    const rows = t.out.split('\n').filter((l) => /^(confidence|max-softmax|entropy|eenet) /.test(l));
    expect(rows.length).toBe(Object.values(m.policies.frontier).reduce((a, p) => a + p.length, 0));
    const f = json<FrontierView>(await ops(['frontier', '--json', '--policy=eenet']));
    expect(Object.keys(f.policies)).toEqual(['eenet']);
    expect(f.policies.eenet!.length).toBe(m.policies.frontier.eenet!.length);
    expect(f.defaultSplit).toBe(defaultSplit(m));
  });

  it('a 412 is a conflict (exit 1) unless --force re-reads and retries once', async () => {
    await ops(['regions', 'set', 'continent:OC', `--thresholds=${every(0.9)}`]);
    await ops(['regions', 'set', 'continent:OC', `--thresholds=${every(0.7)}`]);
    // Pinned to version 1, which is no longer current: the worker answers 412.
    const stale = await ops(['regions', 'set', 'continent:OC', `--thresholds=${every(0.5)}`, '--if-match=1']);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(
      /^error: conflict: region continent:OC changed since it was read \(If-Match 1, it is now at version 2\); nothing was written/m,
    );
    expect(stale.err).toContain('--force');
    expect(json<{ version: number }>(await ops(['regions', 'get', 'continent:OC', '--json'])).version).toBe(2);
    const forced = await ops([
      'regions',
      'set',
      'continent:OC',
      `--thresholds=${every(0.5)}`,
      '--if-match=1',
      '--force',
    ]);
    expect(forced.code, forced.err).toBe(0);
    expect(forced.out).toMatch(/^replaced: version 3/m);
  });

  it('a refused token, a bad setting, an unreachable worker, an unknown option', async () => {
    const wrong = await ops(['regions', 'list', '--token=not-the-token']);
    expect(wrong.code).toBe(1);
    expect(wrong.err.trim()).toBe('error: the admin token was refused (ADMIN_TOKEN / --token)');
    const bad = await ops(['regions', 'set', 'colo:BAD', '--thresholds=0.5']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`thresholds has 1 entries, the bundle has ${m.exits.length} exits`);
    const down = await ops(['frontier', '--url=http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:9 /);
    const unknown = await ops(['regions', 'get', 'colo:OPS', '--colour=blue']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^error: unknown option\(s\) --colour; allowed: --url, --token, --json/);
    expect((await ops(['regions', 'fly'])).code).toBe(2);
  });
});
