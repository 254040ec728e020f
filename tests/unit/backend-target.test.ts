/**
 * How the edge reaches the backend (workers/edge/src/cascade/forward.ts backendTarget): the Cloudflare
 * Access service token rides on every forward when both halves are set, and on none otherwise.
 */
import { describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER } from '../../core/wire.js';
import { backendHeaders, backendTarget, forward } from '../../workers/edge/src/cascade/forward.js';

const base = { BACKEND_URL: 'https://gpu.example.com', CASCADE_SECRET: 's'.repeat(32) };

describe('backendTarget', () => {
  it('is undefined without a URL or a secret', () => {
    expect(backendTarget({ CASCADE_SECRET: 'x' }, 100)).toBeUndefined();
    expect(backendTarget({ BACKEND_URL: 'https://gpu.example.com' }, 100)).toBeUndefined();
  });
  it('sends the Access service token with the signed body when both halves are set', async () => {
    const env = { ...base, BACKEND_ACCESS_CLIENT_ID: 'id.access', BACKEND_ACCESS_CLIENT_SECRET: 'sekrit' };
    const t = backendTarget(env, 1000)!;
    let seen: Request | undefined;
    t.fetcher = async (req) => {
      seen = req;
      return new Response('{}', { status: 500 });
    };
    await forward(t, new Uint8Array(8), 'r-1');
    expect(seen!.url).toBe('https://gpu.example.com/v1/resume');
    expect(seen!.headers.get('cf-access-client-id')).toBe('id.access');
    expect(seen!.headers.get('cf-access-client-secret')).toBe('sekrit');
    expect(seen!.headers.get(SIGNATURE_HEADER)).toMatch(/\S/);
  });
  it('sends neither header when only one half is set', () => {
    expect(backendHeaders({ ...base, BACKEND_ACCESS_CLIENT_ID: 'id.access' })).toEqual({});
    expect(backendHeaders({ ...base, BACKEND_ACCESS_CLIENT_SECRET: 'x' })).toEqual({});
  });
});
