import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

const TOKEN = 'test-admin-token';
const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set('authorization', `Bearer ${init.token ?? TOKEN}`);
  if (init.body) headers.set('content-type', 'application/json');
  return SELF.fetch(`https://edge.test/admin${path}`, { ...init, headers });
};
const settings = (t = 0.8) => JSON.stringify({ policy: 'confidence', thresholds: [t, t, t], split: 2, encoding: 'f16' });

describe('admin API', () => {
  it('requires the bearer token', async () => {
    expect((await call('/regions', { token: null })).status).toBe(401);
    expect((await call('/regions', { token: 'wrong-token-of-some-length' })).status).toBe(401);
    expect((await call('/regions')).status).toBe(200);
  });

  it('creates, reads, replaces with If-Match, and rejects stale versions with 412', async () => {
    const created = await call('/regions/colo:LHR', { method: 'PUT', body: settings(0.8) });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    const noMatch = await call('/regions/colo:LHR', { method: 'PUT', body: settings(0.7) });
    expect(noMatch.status).toBe(428);
    const ok = await call('/regions/colo:LHR', { method: 'PUT', body: settings(0.7), headers: { 'if-match': '"1"' } });
    expect(ok.status).toBe(200);
    expect((await ok.json<{ version: number }>()).version).toBe(2);
    const stale = await call('/regions/colo:LHR', { method: 'PUT', body: settings(0.6), headers: { 'if-match': '"1"' } });
    expect(stale.status).toBe(412);
    expect((await stale.json<{ code: string }>()).code).toBe('VERSION_CONFLICT');
    const got = await (await call('/regions/colo:LHR')).json<{ version: number; settings: { thresholds: number[] } }>();
    expect(got.version).toBe(2);
    expect(got.settings.thresholds).toEqual([0.7, 0.7, 0.7]);
    const list = await (await call('/regions')).json<{ regions: { key: string; version: number }[] }>();
    expect(list.regions).toContainEqual(expect.objectContaining({ key: 'colo:LHR', version: 2 }));
  });

  it('keeps history and rolls back to an old version as a new version', async () => {
    await call('/regions/country:GB', { method: 'PUT', body: settings(0.9) });
    await call('/regions/country:GB', { method: 'PUT', body: settings(0.5), headers: { 'if-match': '1' } });
    const h = await (await call('/regions/country:GB/history')).json<{ versions: { version: number }[] }>();
    expect(h.versions.map((v) => v.version)).toEqual([1, 2]);
    const rb = await call('/regions/country:GB/rollback', { method: 'POST', body: JSON.stringify({ version: 1 }) });
    expect(rb.status).toBe(200);
    const e = await rb.json<{ version: number; rolledBackTo: number; settings: { thresholds: number[] } }>();
    expect(e).toMatchObject({ version: 3, rolledBackTo: 1 });
    expect(e.settings.thresholds).toEqual([0.9, 0.9, 0.9]);
    expect((await call('/regions/country:GB/rollback', { method: 'POST', body: JSON.stringify({ version: 42 }) })).status).toBe(404);
  });

  it('validates settings against the bundle and the schema', async () => {
    const bad = async (body: unknown, re: RegExp) => {
      const res = await call('/regions/default', { method: 'PUT', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect((await res.json<{ detail: string }>()).detail).toMatch(re);
    };
    await bad({ policy: 'confidence', thresholds: [0.5], split: 2, encoding: 'f16' }, /thresholds has 1 entries, the bundle has 3 exits/);
    await bad({ policy: 'confidence', thresholds: [0.5, 0.5, 0.5], split: 9, encoding: 'f16' }, /split 9 exceeds the bundle's 4 segments/);
    await bad({ policy: 'confidence', split: 2, encoding: 'f16' }, /exactly one of "thresholds"/);
    await bad({ policy: 'confidence', budget: 0.5, thresholds: [1, 1, 1], split: 2, encoding: 'f16' }, /exactly one of/);
    await bad({ policy: 'magic', thresholds: [1, 1, 1], split: 2, encoding: 'f16' }, /policy/);
    await bad({ policy: 'confidence', thresholds: [1, 1, 1], split: 2, encoding: 'f16', extra: 1 }, /extra/);
    const res = await call('/regions/planet:MARS', { method: 'PUT', body: settings() });
    expect(res.status).toBe(400);
  });

  it('accepts a budget and resolves it to frontier thresholds at request time', async () => {
    const res = await call('/regions/continent:OC', { method: 'PUT', body: JSON.stringify({ policy: 'confidence', budget: 10, split: 2, encoding: 'f16' }) });
    expect(res.status).toBe(201);
    const c = await SELF.fetch('https://edge.test/v1/classify', { method: 'POST', body: JSON.stringify({ pixels: new Array(784).fill(0) }), headers: { 'content-type': 'application/json', 'x-cascade-region': 'continent:OC' } });
    expect((await c.json<{ thresholdVersion: string }>()).thresholdVersion).toBe('continent:OC@v1');
  });

  it('deletes with If-Match only', async () => {
    await call('/regions/colo:AMS', { method: 'PUT', body: settings() });
    expect((await call('/regions/colo:AMS', { method: 'DELETE' })).status).toBe(428);
    expect((await call('/regions/colo:AMS', { method: 'DELETE', headers: { 'if-match': '5' } })).status).toBe(412);
    expect((await call('/regions/colo:AMS', { method: 'DELETE', headers: { 'if-match': '1' } })).status).toBe(204);
    expect((await call('/regions/colo:AMS')).status).toBe(404);
  });
});
