import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEEPEST_FORWARDING_SPLIT, every, SPLIT } from './bundle.js';

const N = 784;
const post = (body: BodyInit, type: string, headers: Record<string, string> = {}, cf?: Record<string, string>) =>
  SELF.fetch('https://edge.test/v1/classify', {
    method: 'POST',
    body,
    headers: { 'content-type': type, ...headers },
    ...(cf ? { cf } : {}),
  } as RequestInit);

const pixels = (v = 0) => JSON.stringify({ pixels: new Array(N).fill(v) });

describe('POST /v1/classify', () => {
  it('answers a JSON image with the documented fields', async () => {
    const res = await post(pixels(), 'application/json');
    expect(res.status).toBe(200);
    const j = await res.json<Record<string, unknown>>();
    expect(Object.keys(j)).toEqual(
      expect.arrayContaining([
        'label',
        'classIndex',
        'confidence',
        'exit',
        'where',
        'degraded',
        'region',
        'thresholdVersion',
        'requestId',
        'timings',
      ]),
    );
    // Local workerd timers are wall-clock with 1 ms steps: one inference may read 0 ms (it did in CI),
    // but ten take time in sum, and inference is always part of the edge time.
    const timings = [j.timings as { edgeMs: number; computeMs: number; totalMs: number }];
    for (let i = 0; i < 9; i++)
      timings.push((await (await post(pixels(), 'application/json')).json<{ timings: (typeof timings)[0] }>()).timings);
    for (const t of timings) {
      expect(t.computeMs).toBeGreaterThanOrEqual(0);
      expect(t.computeMs).toBeLessThanOrEqual(t.edgeMs);
      expect(t.edgeMs).toBeLessThanOrEqual(t.totalMs);
    }
    expect(timings.reduce((a, t) => a + t.computeMs, 0)).toBeGreaterThan(0);
  });

  it('rejects bad input with problem+json naming the bad value', async () => {
    const cases: [BodyInit, string, number, RegExp][] = [
      ['x', 'text/plain', 415, /content-type "text\/plain" is not accepted/],
      [new Uint8Array(10), 'application/octet-stream', 400, /10 bytes; expected exactly 784/],
      ['{"pixels": [1,2', 'application/json', 400, /not valid JSON/],
      [JSON.stringify({ pixels: [300] }), 'application/json', 400, /pixels/],
      [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'image/png', 400, /PNG signature/],
      ['', 'application/json', 400, /empty/],
    ];
    for (const [body, type, status, detail] of cases) {
      const res = await post(body, type);
      expect(res.status, `${type}`).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const p = await res.json<{ code: string; detail: string }>();
      expect(p.detail).toMatch(detail);
      expect(p.code).toMatch(/^[A-Z_]+$/);
    }
  });

  it('refuses bodies over the limit with 413, declared or streamed, and the isolate keeps serving', async () => {
    const res = await post(new Uint8Array(9 * 1024 * 1024), 'image/png');
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    // No content-length (a chunked upload): cut off once it passes the cap, while the client still sends.
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 1 << 20;
        c.enqueue(new Uint8Array(1 << 20));
      },
    });
    const chunked = await post(endless, 'image/png');
    expect(chunked.status).toBe(413);
    expect((await chunked.json<{ code: string }>()).code).toBe('PAYLOAD_TOO_LARGE');
    expect(sent).toBeLessThan(64 << 20);
    // The isolate keeps serving. (Clients that disconnect mid-body: tests/e2e/e2e-cascade.test.ts, on a real socket.)
    expect((await post(pixels(), 'application/json')).status).toBe(200);
  });

  it('handles two concurrent requests on one isolate', async () => {
    const [a, b] = await Promise.all([
      post(pixels(0), 'application/json'),
      post(new Uint8Array(N).fill(200), 'application/octet-stream'),
    ]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
  });

  it('forwards to the backend when no edge exit is confident (thresholds above any score)', async () => {
    await env.THRESHOLDS.put(
      'region:colo:ZZZ',
      JSON.stringify({
        version: 1,
        updatedAt: 'now',
        settings: { policy: 'max-softmax', thresholds: every(1), split: SPLIT, encoding: 'f16' },
      }),
    );
    const res = await post(pixels(), 'application/json', { 'x-cascade-region': 'colo:ZZZ' });
    const j = await res.json<Record<string, unknown> & { timings: Record<string, number> }>();
    expect(j.where).toBe('backend');
    expect(j.degraded).toBe(false);
    expect(j.region).toBe('colo:ZZZ');
    expect(j.thresholdVersion).toBe('colo:ZZZ@v1');
    expect(j.label).toBe('Coat');
    expect(typeof j.timings.backendMs).toBe('number');
  });

  it('answers at the edge when an exit is confident (threshold 0)', async () => {
    await env.THRESHOLDS.put(
      'region:colo:YYY',
      JSON.stringify({
        version: 3,
        updatedAt: 'now',
        settings: { policy: 'max-softmax', thresholds: every(0), split: SPLIT, encoding: 'f32' },
      }),
    );
    const j = await (await post(pixels(), 'application/json', { 'x-cascade-region': 'colo:YYY' })).json<
      Record<string, unknown>
    >();
    expect(j.where).toBe('edge');
    expect(j.exit).toBe(0);
    expect(j.degraded).toBe(false);
    expect(j.thresholdVersion).toBe('colo:YYY@v3');
  });

  it.each([
    ['down-', 'backend_unreachable'],
    ['slow-', 'backend_timeout'],
    ['garbage-', 'backend_invalid_response'],
    ['error-', 'backend_error'],
  ])('degrades visibly when the backend is %s', async (prefix, reason) => {
    // Every exit at the edge and none confident: the request must be forwarded (a split past the exits would let the final head answer at the edge).
    await env.THRESHOLDS.put(
      'region:colo:XXX',
      JSON.stringify({
        version: 1,
        updatedAt: 'now',
        settings: { policy: 'max-softmax', thresholds: every(1), split: DEEPEST_FORWARDING_SPLIT, encoding: 'i8' },
      }),
    );
    const res = await post(pixels(), 'application/json', {
      'x-cascade-region': 'colo:XXX',
      'x-request-id': `${prefix}1`,
    });
    expect(res.status).toBe(200);
    const j = await res.json<Record<string, unknown>>();
    expect(j.where).toBe('edge');
    expect(j.degraded).toBe(true);
    expect(j.reason).toBe(reason);
    expect(j.requestId).toBe(`${prefix}1`);
  });
});

describe('regions', () => {
  it('resolves colo → country → continent → default from request.cf', async () => {
    await env.THRESHOLDS.put(
      'region:country:DE',
      JSON.stringify({
        version: 7,
        updatedAt: 'now',
        settings: { policy: 'confidence', thresholds: every(0.5), split: 1, encoding: 'f16' },
      }),
    );
    await env.THRESHOLDS.put(
      'region:continent:EU',
      JSON.stringify({
        version: 2,
        updatedAt: 'now',
        settings: { policy: 'confidence', thresholds: every(0.5), split: 1, encoding: 'f16' },
      }),
    );
    const ask = async (cf: Record<string, string>) =>
      await (await post(pixels(), 'application/json', {}, cf)).json<{ region: string; thresholdVersion: string }>();
    expect((await ask({ colo: 'FRA', country: 'DE', continent: 'EU' })).thresholdVersion).toBe('country:DE@v7');
    expect((await ask({ colo: 'CDG', country: 'FR', continent: 'EU' })).thresholdVersion).toBe('continent:EU@v2');
    const none = await ask({ colo: 'NRT', country: 'JP', continent: 'AS' });
    expect(none.thresholdVersion).toBe('manifest');
  });

  it('skips an invalid entry, falls back, and reports it in /readyz', async () => {
    await env.THRESHOLDS.put('region:colo:BAD', JSON.stringify({ version: 1, settings: { policy: 'nope' } }));
    const j = await (await post(pixels(), 'application/json', { 'x-cascade-region': 'colo:BAD' })).json<{
      thresholdVersion: string;
    }>();
    expect(j.thresholdVersion).toBe('manifest');
    const r = await (await SELF.fetch('https://edge.test/readyz')).json<{
      checks: { thresholdProblems: Record<string, { problem: string }> };
    }>();
    expect(r.checks.thresholdProblems['colo:BAD']!.problem).toMatch(/stored entry is invalid/);
  });

  it('rejects a malformed region header', async () => {
    const res = await post(pixels(), 'application/json', { 'x-cascade-region': 'mars' });
    expect(res.status).toBe(400);
  });
});

describe('health and docs', () => {
  it('/healthz, /readyz and /openapi.json', async () => {
    expect((await SELF.fetch('https://edge.test/healthz')).status).toBe(200);
    const r = await SELF.fetch('https://edge.test/readyz');
    const j = await r.json<{ ready: boolean; checks: Record<string, { ok: boolean }> }>();
    expect(j.ready).toBe(true);
    expect(j.checks.model!.ok).toBe(true);
    expect(j.checks.backend!.ok).toBe(true);
    const o = await (await SELF.fetch('https://edge.test/openapi.json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(o.paths)).toContain('/v1/classify');
    expect((await SELF.fetch('https://edge.test/nope')).status).toBe(404);
  });
});
