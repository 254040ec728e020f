import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { EXITS, every, SEGMENTS, SPLIT } from './bundle.js';

const TOKEN = 'test-admin-token';
const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set('authorization', `Bearer ${init.token ?? TOKEN}`);
  if (init.body) headers.set('content-type', 'application/json');
  return SELF.fetch(`https://edge.test/admin${path}`, { ...init, headers });
};
const settings = (t = 0.8) =>
  JSON.stringify({ policy: 'confidence', thresholds: every(t), split: SPLIT, encoding: 'f16' });

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
    const stale = await call('/regions/colo:LHR', {
      method: 'PUT',
      body: settings(0.6),
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(412);
    expect((await stale.json<{ code: string }>()).code).toBe('VERSION_CONFLICT');
    const got = await (await call('/regions/colo:LHR')).json<{ version: number; settings: { thresholds: number[] } }>();
    expect(got.version).toBe(2);
    expect(got.settings.thresholds).toEqual(every(0.7));
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
    expect(e.settings.thresholds).toEqual(every(0.9));
    expect(
      (await call('/regions/country:GB/rollback', { method: 'POST', body: JSON.stringify({ version: 42 }) })).status,
    ).toBe(404);
  });

  it('validates settings against the bundle and the schema', async () => {
    const bad = async (body: unknown, re: RegExp) => {
      const res = await call('/regions/default', { method: 'PUT', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect((await res.json<{ detail: string }>()).detail).toMatch(re);
    };
    // One threshold is never one per exit (every bundle has at least 2 exits); the message names the bundle's count.
    await bad(
      { policy: 'confidence', thresholds: [0.5], split: SPLIT, encoding: 'f16' },
      new RegExp(`thresholds has 1 entries, the bundle has ${EXITS} exits`),
    );
    // One past the last segment, and far past it: refused, naming the bundle's segment count.
    await bad(
      { policy: 'confidence', thresholds: every(0.5), split: SEGMENTS + 1, encoding: 'f16' },
      new RegExp(`split ${SEGMENTS + 1} exceeds the bundle's ${SEGMENTS} segments \\(allowed 1-${SEGMENTS}\\)`),
    );
    await bad(
      { policy: 'confidence', thresholds: every(0.5), split: SEGMENTS + 5, encoding: 'f16' },
      new RegExp(`split ${SEGMENTS + 5} exceeds the bundle's ${SEGMENTS} segments`),
    );
    await bad({ policy: 'confidence', split: SPLIT, encoding: 'f16' }, /exactly one of "thresholds"/);
    await bad(
      { policy: 'confidence', budget: 0.5, thresholds: every(1), split: SPLIT, encoding: 'f16' },
      /exactly one of/,
    );
    await bad({ policy: 'magic', thresholds: every(1), split: SPLIT, encoding: 'f16' }, /policy/);
    await bad({ policy: 'confidence', thresholds: every(1), split: SPLIT, encoding: 'f16', extra: 1 }, /extra/);
    const res = await call('/regions/planet:MARS', { method: 'PUT', body: settings() });
    expect(res.status).toBe(400);
  });

  it('accepts a budget and resolves it to frontier thresholds at request time', async () => {
    const res = await call('/regions/continent:OC', {
      method: 'PUT',
      body: JSON.stringify({ policy: 'confidence', budget: 10, split: SPLIT, encoding: 'f16' }),
    });
    expect(res.status).toBe(201);
    const c = await SELF.fetch('https://edge.test/v1/classify', {
      method: 'POST',
      body: JSON.stringify({ pixels: new Array(784).fill(0) }),
      headers: { 'content-type': 'application/json', 'x-cascade-region': 'continent:OC' },
    });
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

describe('admin API: authentication, bodies and If-Match', () => {
  const problemOf = async (res: Response) => {
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    return res.json<{ code: string; detail: string; status: number }>();
  };

  it('answers 401 as problem+json with a Bearer challenge, and parses Authorization canonically', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token-of-some-length',
      'Basic dGVzdA==',
      `Bearer  ${TOKEN}`,
      `Bearer${TOKEN}`,
      `Bearer ${TOKEN} x`,
      `Bearer "${TOKEN}"`,
    ]) {
      const res = await SELF.fetch('https://edge.test/admin/regions', {
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate'), authorization).toMatch(/^Bearer realm="edge-cascade-admin"/);
      expect(await problemOf(res)).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    }
    const wrong = await SELF.fetch('https://edge.test/admin/regions', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      expect(
        (await SELF.fetch('https://edge.test/admin/regions', { headers: { authorization: `${scheme} ${TOKEN}` } }))
          .status,
        scheme,
      ).toBe(200);
    }
  });

  it('rejects bad JSON (400), other content types (415) and oversized bodies (413), all as problem+json', async () => {
    const badJson = await SELF.fetch('https://edge.test/admin/regions/colo:CDG', {
      method: 'PUT',
      body: '{"policy":',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    expect(badJson.status).toBe(400);
    expect((await problemOf(badJson)).code).toBe('BAD_JSON');
    const text = await SELF.fetch('https://edge.test/admin/regions/colo:CDG', {
      method: 'PUT',
      body: settings(),
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect((await problemOf(text)).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const none = await SELF.fetch('https://edge.test/admin/regions/colo:CDG/rollback', {
      method: 'POST',
      body: new TextEncoder().encode('{"version":1}'),
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(none.status).toBe(415);
    const big = await call('/regions/colo:CDG', {
      method: 'PUT',
      body: JSON.stringify({
        policy: 'confidence',
        thresholds: every(0.5),
        split: SPLIT,
        encoding: 'f16',
        note: 'x'.repeat(17 * 1024),
      }),
    });
    expect(big.status).toBe(413);
    expect((await problemOf(big)).code).toBe('PAYLOAD_TOO_LARGE');
    // Streamed (no content-length): still 413, not a JSON error.
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(8 * 1024).fill(32));
        c.close();
      },
    });
    const streamed = await SELF.fetch('https://edge.test/admin/regions/colo:CDG', {
      method: 'PUT',
      body: chunks,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    expect(streamed.status).toBe(413);
    expect((await problemOf(streamed)).code).toBe('PAYLOAD_TOO_LARGE');
    const charset = await SELF.fetch('https://edge.test/admin/regions/colo:CDG', {
      method: 'PUT',
      body: settings(),
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'Application/JSON; charset=utf-8' },
    });
    expect(charset.status).toBe(201);
    expect((await call('/regions/colo:CDG/history')).status).toBe(200);
    expect((await (await call('/regions/colo:CDG/history')).json<{ versions: unknown[] }>()).versions).toHaveLength(1);
  });

  it('accepts If-Match only as a plain version number, 3 or "3"', async () => {
    expect((await call('/regions/colo:FRA', { method: 'PUT', body: settings() })).status).toBe(201);
    for (const value of [
      '0x1',
      '1e3',
      '01',
      '" 1 "',
      '"1',
      '1.0',
      '+1',
      '-1',
      '*',
      'W/"1"',
      'w/"1"',
      '"1", "2"',
      '1, 1',
      '9007199254740992',
      '99999999999999999999',
    ]) {
      const res = await call('/regions/colo:FRA', {
        method: 'PUT',
        body: settings(0.5),
        headers: { 'if-match': value },
      });
      expect(res.status, value).toBe(400);
      const p = await problemOf(res);
      expect(p.code, value).toBe('BAD_IF_MATCH');
      expect(p.detail, value).toContain(`If-Match ${JSON.stringify(value)}`);
      expect(p.detail, value).toContain('as 3 or "3"');
    }
    const weak = await problemOf(
      await call('/regions/colo:FRA', { method: 'DELETE', headers: { 'if-match': 'W/"1"' } }),
    );
    expect(weak.detail).toMatch(/weak entity tag, which cannot be used with If-Match/);
    // The largest safe integer parses (and simply does not match).
    expect(
      (
        await call('/regions/colo:FRA', {
          method: 'PUT',
          body: settings(0.5),
          headers: { 'if-match': String(Number.MAX_SAFE_INTEGER) },
        })
      ).status,
    ).toBe(412);
    const bare = await call('/regions/colo:FRA', { method: 'PUT', body: settings(0.5), headers: { 'if-match': '1' } });
    expect(bare.status).toBe(200);
    const quoted = await call('/regions/colo:FRA', {
      method: 'PUT',
      body: settings(0.4),
      headers: { 'if-match': '"2"' },
    });
    expect(quoted.status).toBe(200);
    expect(quoted.headers.get('etag')).toBe('"3"');
    // If-Match on a key with no entry cannot match.
    const missing = await call('/regions/colo:FCO', { method: 'PUT', body: settings(), headers: { 'if-match': '1' } });
    expect(missing.status).toBe(412);
    expect((await problemOf(missing)).code).toBe('VERSION_CONFLICT');
  });
});

describe('admin API: the Durable Object and KV', () => {
  it('publishes each write to KV region:<key> before answering, and deletes it on DELETE', async () => {
    const res = await call('/regions/colo:MUC', { method: 'PUT', body: settings(0.6) });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-kv-publish')).toBe('done');
    expect(await env.THRESHOLDS.get('region:colo:MUC', 'json')).toMatchObject({
      version: 1,
      settings: { thresholds: every(0.6) },
    });
    const del = await call('/regions/colo:MUC', { method: 'DELETE', headers: { 'if-match': '1' } });
    expect(del.status).toBe(204);
    expect(await env.THRESHOLDS.get('region:colo:MUC')).toBeNull();
    // Versions continue after a delete, so an old ETag can never match a new entry.
    const again = await call('/regions/colo:MUC', { method: 'PUT', body: settings(0.7) });
    expect(again.status).toBe(201);
    expect(again.headers.get('etag')).toBe('"2"');
    const h = await (await call('/regions/colo:MUC/history')).json<{ versions: { version: number }[] }>();
    expect(h.versions.map((v) => v.version)).toEqual([1, 2]);
  });

  it('imports an entry and history written to KV before the Durable Object existed', async () => {
    const legacy = (v: number, t: number) =>
      JSON.stringify({
        version: v,
        updatedAt: '2025-01-01T00:00:00.000Z',
        settings: { policy: 'confidence', thresholds: every(t), split: SPLIT, encoding: 'f16' },
      });
    await env.THRESHOLDS.put('region:colo:NRT', legacy(5, 0.5));
    await env.THRESHOLDS.put('history:colo:NRT:00000004', legacy(4, 0.4));
    await env.THRESHOLDS.put('history:colo:NRT:00000005', legacy(5, 0.5));
    const got = await call('/regions/colo:NRT');
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe('"5"');
    expect((await call('/regions/colo:NRT', { method: 'PUT', body: settings(0.6) })).status).toBe(428);
    const put = await call('/regions/colo:NRT', { method: 'PUT', body: settings(0.6), headers: { 'if-match': '5' } });
    expect(put.status).toBe(200);
    expect((await put.json<{ version: number }>()).version).toBe(6);
    const h = await (await call('/regions/colo:NRT/history')).json<{ versions: { version: number }[] }>();
    expect(h.versions.map((v) => v.version)).toEqual([4, 5, 6]);
    expect(await env.THRESHOLDS.get('region:colo:NRT', 'json')).toMatchObject({ version: 6 });
  });
});
