/**
 * The operators' view in the admin API: GET /admin/frontier (the bundle's operating points) and the
 * `resolved` object on every entry answered (what a budget or thresholds apply, and which frontier
 * point that is), checked against the served manifest.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { FrontierView, Resolved } from '../../core/operating-points.js';
import { defaultSplit, resolveThresholds } from '../../core/regions.js';
import { every, m, SPLIT } from './bundle.js';

const TOKEN = 'test-admin-token';
const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set('authorization', `Bearer ${init.token ?? TOKEN}`);
  if (init.body) headers.set('content-type', 'application/json');
  return SELF.fetch(`https://edge.test/admin${path}`, { ...init, headers });
};
const put = (key: string, settings: unknown, ifMatch?: string) =>
  call(`/regions/${key}`, {
    method: 'PUT',
    body: JSON.stringify(settings),
    headers: ifMatch ? { 'if-match': ifMatch } : {},
  });
type Entry = { key: string; version: number; resolved: Resolved };
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('GET /admin/frontier', () => {
  it('needs the admin token', async () => {
    expect((await call('/frontier', { token: null })).status).toBe(401);
    expect((await call('/frontier', { token: 'wrong-token-of-some-length' })).status).toBe(401);
  });

  it("lists every policy's calibrated points with edge shares at the default split, and marks the default", async () => {
    const res = await call('/frontier');
    expect(res.status).toBe(200);
    const f = await res.json<FrontierView>();
    expect(f).toMatchObject({
      bundle: m.name,
      defaultPolicy: m.policies.default,
      defaultSplit: defaultSplit(m),
      segments: m.segments.length,
      exits: m.exits.length,
    });
    expect(Object.keys(f.policies).sort()).toEqual(Object.keys(m.policies.frontier).sort());
    for (const [policy, points] of Object.entries(m.policies.frontier)) {
      const got = f.policies[policy]!;
      expect(got.length).toBe(points.length);
      got.forEach((p, i) => {
        expect(p).toMatchObject({ index: i, thresholds: points[i]!.thresholds, cost: points[i]!.cost });
        expect(p.accuracy).toBe(points[i]!.accuracy);
        expect(p.edgeShare).toBeCloseTo(Math.min(1, sum(points[i]!.exitRates.slice(0, f.defaultSplit))), 12);
      });
    }
    const defaults = Object.entries(f.policies).flatMap(([policy, ps]) =>
      ps.filter((p) => p.default).map((p) => ({ policy, p })),
    );
    expect(defaults.length).toBe(1);
    expect(defaults[0]!.policy).toBe(m.policies.default);
    expect(defaults[0]!.p.thresholds).toEqual(m.exits.map((e) => e.defaultThreshold));
  });
});

describe('resolved, on region entries', () => {
  it('a budget: the frontier point it chose (the best accuracy within it), edge share at the entry split', async () => {
    const policy = m.policies.default;
    const points = m.policies.frontier[policy]!;
    const budget = (points[0]!.cost + points.at(-1)!.cost) / 2;
    const settings = { policy, budget, split: SPLIT, encoding: 'f16' } as const;
    const created = await put('continent:AS', settings);
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    expect((await created.json<Entry>()).resolved.point).not.toBeNull();

    const res = await call('/regions/continent:AS');
    expect(res.headers.get('etag')).toBe('"1"');
    const e = await res.json<Entry & { settings: unknown }>();
    expect(e.settings).toEqual(settings);
    const r = e.resolved;
    expect(r.from).toBe('budget');
    expect(r.problems).toEqual([]);
    expect(r.thresholds).toEqual(resolveThresholds(settings, m));
    const p = r.point!;
    expect(p.policy).toBe(policy);
    expect(p.thresholds).toEqual(r.thresholds);
    expect(p.cost).toBeLessThanOrEqual(budget);
    const best = Math.max(...points.filter((q) => q.cost <= budget).map((q) => q.accuracy));
    expect(p.accuracy).toBe(best);
    expect(p.edgeShare).toBeCloseTo(Math.min(1, sum(points[p.index]!.exitRates.slice(0, SPLIT))), 12);

    const list = await (await call('/regions')).json<{ regions: Entry[] }>();
    expect(list.regions.find((x) => x.key === 'continent:AS')?.resolved).toEqual(r);
  });

  it('explicit thresholds: the frontier point they are, or none', async () => {
    const policy = 'max-softmax';
    const at = Math.min(3, m.policies.frontier[policy]!.length - 1);
    const onFrontier = m.policies.frontier[policy]![at]!;
    await put('colo:NRT', { policy, thresholds: onFrontier.thresholds, split: SPLIT, encoding: 'f32' });
    const on = (await (await call('/regions/colo:NRT')).json<Entry>()).resolved;
    expect(on).toMatchObject({ from: 'thresholds', thresholds: onFrontier.thresholds, problems: [] });
    expect(on.point).toMatchObject({ policy, index: at, cost: onFrontier.cost, accuracy: onFrontier.accuracy });

    const replaced = await put('colo:NRT', { policy, thresholds: every(0.8), split: SPLIT, encoding: 'f32' }, '"1"');
    expect(replaced.status).toBe(200);
    expect(replaced.headers.get('etag')).toBe('"2"');
    const off = (await replaced.json<Entry>()).resolved;
    expect(off).toEqual({ from: 'thresholds', thresholds: every(0.8), point: null, problems: [] });

    // Rollback answers with the entry it wrote, resolved again.
    const rb = await call('/regions/colo:NRT/rollback', { method: 'POST', body: JSON.stringify({ version: 1 }) });
    expect(rb.status).toBe(200);
    expect((await rb.json<Entry>()).resolved.point?.index).toBe(at);
  });

  it('the default thresholds resolve to the default point', async () => {
    const thresholds = m.exits.map((e) => e.defaultThreshold);
    await put('country:JP', { policy: m.policies.default, thresholds, split: SPLIT, encoding: 'f16' });
    const r = (await (await call('/regions/country:JP')).json<Entry>()).resolved;
    expect(r.point).toMatchObject({ policy: m.policies.default, default: true });
  });
});
