/**
 * Racing admin writes through the real Durable Object and KV (workerd via the vitest plugin):
 * the version check is atomic, no acknowledged write is lost, and KV converges to the object's
 * latest version, through the alarm when a KV publish fails.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { KvLike } from '../../workers/edge/src/thresholds/region-entries.js';
import type { RegionObject } from '../../workers/edge/src/thresholds/region-object.js';
import { every, SPLIT } from './bundle.js';

const TOKEN = 'test-admin-token';
const call = (path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${TOKEN}`);
  if (init.body) headers.set('content-type', 'application/json');
  return SELF.fetch(`https://edge.test/admin${path}`, { ...init, headers });
};
const settings = (note: string, t = 0.8) =>
  JSON.stringify({ policy: 'confidence', thresholds: every(t), split: SPLIT, encoding: 'f16', note });
interface Entry {
  version: number;
  settings: { note?: string; thresholds: number[] };
}
const versions = async (key: string) =>
  (await (await call(`/regions/${key}/history`)).json<{ versions: Entry[] }>()).versions;
const kvEntry = (key: string) => env.THRESHOLDS.get<Entry>(`region:${key}`, 'json');
const N = 20;

describe('racing admin writes', () => {
  // Twice: on an object in use, and on one whose first requests queue behind its one-time import
  // of pre-Durable-Object KV data, so all N reach the version check back to back.
  for (const [key, setup] of [
    [
      'colo:LHR',
      async () => expect((await call('/regions/colo:LHR', { method: 'PUT', body: settings('base') })).status).toBe(201),
    ],
    [
      'colo:SYD',
      () =>
        env.THRESHOLDS.put(
          'region:colo:SYD',
          JSON.stringify({ version: 1, updatedAt: '2025-01-01T00:00:00.000Z', settings: JSON.parse(settings('base')) }),
        ),
    ],
  ] as const) {
    it(`lets exactly one of N concurrent PUTs with the same If-Match win; the rest get 412 (${key})`, async () => {
      await setup();
      const res = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          call(`/regions/${key}`, { method: 'PUT', body: settings(`racer-${i}`), headers: { 'if-match': '"1"' } }),
        ),
      );
      const statuses = res.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 412)).toHaveLength(N - 1);
      for (const r of res.filter((r) => r.status === 412)) {
        expect(r.headers.get('content-type')).toBe('application/problem+json');
        expect((await r.json<{ code: string }>()).code).toBe('VERSION_CONFLICT');
        expect(r.headers.get('etag')).toBe('"2"');
      }
      const winner = await res.find((r) => r.status === 200)!.json<Entry>();
      expect(winner.version).toBe(2);
      const h = await versions(key);
      expect(h.map((e) => e.version)).toEqual([1, 2]);
      expect(h[1]!.settings.note).toBe(winner.settings.note);
      expect(await kvEntry(key)).toMatchObject({ version: 2, settings: { note: winner.settings.note } });
    });
  }

  it('lets exactly one of N concurrent creates of a new key win; the rest get 428', async () => {
    const res = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        call('/regions/country:FR', { method: 'PUT', body: settings(`creator-${i}`) }),
      ),
    );
    const statuses = res.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 428 || s === 412)).toHaveLength(N - 1);
    for (const r of res.filter((r) => r.status !== 201))
      expect((await r.json<{ code: string }>()).code).toBe('IF_MATCH_REQUIRED');
    const h = await versions('country:FR');
    expect(h.map((e) => e.version)).toEqual([1]);
    expect((await kvEntry('country:FR'))?.version).toBe(1);
  });

  it('loses no write when many writers retry on 412 until theirs lands', async () => {
    const key = 'continent:EU',
      writers = 10,
      each = 2;
    expect((await call(`/regions/${key}`, { method: 'PUT', body: settings('base') })).status).toBe(201);
    const acknowledged: string[] = [];
    /** [the version a write replaced (its If-Match), the version it became]: no lost update means always +1. */
    const steps: [number, number][] = [];
    const writer = async (w: number) => {
      for (let j = 0; j < each; j++) {
        const note = `writer-${w}-write-${j}`;
        for (let attempt = 0; ; attempt++) {
          expect(attempt).toBeLessThan(200);
          const cur = await call(`/regions/${key}`);
          const base = cur.headers.get('etag')!;
          const res = await call(`/regions/${key}`, {
            method: 'PUT',
            body: settings(note),
            headers: { 'if-match': base },
          });
          if (res.status === 200) {
            acknowledged.push(note);
            steps.push([Number(JSON.parse(base)), (await res.json<Entry>()).version]);
            break;
          }
          expect(res.status).toBe(412);
        }
      }
    };
    await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
    const h = await versions(key);
    expect(acknowledged).toHaveLength(writers * each);
    expect(h.map((e) => e.version)).toEqual(Array.from({ length: 1 + writers * each }, (_, i) => i + 1));
    const notes = h.slice(1).map((e) => e.settings.note!);
    expect([...notes].sort()).toEqual([...acknowledged].sort());
    expect(new Set(notes).size).toBe(notes.length);
    for (const [base, version] of steps) expect(version).toBe(base + 1);
    const latest = await (await call(`/regions/${key}`)).json<Entry>();
    expect(latest.version).toBe(1 + writers * each);
    expect(await kvEntry(key)).toEqual(JSON.parse(JSON.stringify(h[h.length - 1])));
  });
});

describe('KV publish failures', () => {
  /** Real KV that can be made to fail, as in production when KV answers 429 (one write per second per key). */
  const flaky = (kv: KvLike) => {
    const f = {
      down: true,
      calls: 0,
      get: kv.get.bind(kv),
      list: kv.list.bind(kv),
      put: async (k: string, v: string) => {
        f.calls++;
        if (f.down) throw new Error('KV PUT failed: 429 Too Many Requests');
        await kv.put(k, v);
      },
      delete: async (k: string) => {
        f.calls++;
        if (f.down) throw new Error('KV DELETE failed: 429 Too Many Requests');
        await kv.delete(k);
      },
    };
    return f;
  };

  it('acknowledges a durable write while KV fails, and converges KV from the alarm', async () => {
    const key = 'colo:KIX';
    const stub = env.REGIONS.getByName(key);
    expect((await call(`/regions/${key}`, { method: 'PUT', body: settings('first', 0.5) })).status).toBe(201);
    expect((await kvEntry(key))?.version).toBe(1);
    const kv = flaky(env.THRESHOLDS);
    await runInDurableObject(stub, (obj: RegionObject) => {
      obj.kv = kv;
    });

    const put = await call(`/regions/${key}`, {
      method: 'PUT',
      body: settings('second', 0.6),
      headers: { 'if-match': '1' },
    });
    expect(put.status).toBe(200);
    expect(put.headers.get('x-kv-publish')).toBe('pending');
    expect(kv.calls).toBe(1);
    // The object has it (strongly consistent admin read); KV, the edge's path, does not yet.
    expect((await call(`/regions/${key}`)).headers.get('etag')).toBe('"2"');
    expect((await kvEntry(key))?.version).toBe(1);
    const state = () =>
      runInDurableObject(stub, async (obj: RegionObject, s) => ({
        alarm: await s.storage.getAlarm(),
        ...(await obj.publishState())!,
      }));
    expect(await state()).toMatchObject({ current: 2, failures: 1, alarm: expect.any(Number) });

    // Still failing: the alarm runs, fails, and schedules itself again.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(kv.calls).toBe(2);
    expect((await kvEntry(key))?.version).toBe(1);
    expect(await state()).toMatchObject({ failures: 2, alarm: expect.any(Number) });

    // Another write while KV is down: also durable, also pending.
    const third = await call(`/regions/${key}`, {
      method: 'PUT',
      body: settings('third', 0.7),
      headers: { 'if-match': '2' },
    });
    expect(third.status).toBe(200);
    expect(third.headers.get('x-kv-publish')).toBe('pending');

    kv.down = false;
    await runDurableObjectAlarm(stub);
    // KV converges to the latest version (the intermediate one need not be published), and the
    // alarm is gone: nothing is left to publish.
    expect(await kvEntry(key)).toMatchObject({ version: 3, settings: { note: 'third' } });
    const after = await state();
    expect(after).toMatchObject({ failures: 0, alarm: null });
    expect(after.publishedGen).toBe(after.gen);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    expect((await versions(key)).map((e) => e.settings.note)).toEqual(['first', 'second', 'third']);

    // A delete while KV is down reaches KV from the alarm too.
    kv.down = true;
    const del = await call(`/regions/${key}`, { method: 'DELETE', headers: { 'if-match': '3' } });
    expect(del.status).toBe(204);
    expect(del.headers.get('x-kv-publish')).toBe('pending');
    expect((await kvEntry(key))?.version).toBe(3);
    kv.down = false;
    await runDurableObjectAlarm(stub);
    expect(await kvEntry(key)).toBeNull();
    await runInDurableObject(stub, (obj: RegionObject) => {
      obj.kv = env.THRESHOLDS;
    });
  });
});
