/**
 * The region-entry read path's fallbacks (thresholds/region-entries.ts) with a KV whose reads can be made to fail (Miniflare's KV in the
 * workers project cannot fail on demand): stale-but-known values keep serving, visibly.
 */
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../core/manifest.js';
import { DEFAULT_EDGE_SHARE, defaultSplit, manifestDefaults } from '../../core/regions.js';
import { CACHE_TTL_MS, resolveRegion } from '../../workers/edge/src/thresholds/region-entries.js';

const manifest = {
  exits: [{ defaultThreshold: 0.9 }, { defaultThreshold: 0.8 }],
  segments: [{}, {}, {}],
  policies: { default: 'confidence', frontier: {} },
} as unknown as Manifest;
const entry = (v: number) =>
  JSON.stringify({
    version: v,
    updatedAt: 'now',
    settings: { policy: 'confidence', thresholds: [0.5, 0.5], split: 1, encoding: 'f16' },
  });

function flakyKv(data: Record<string, string>) {
  const kv = {
    down: false,
    get: async (k: string) => {
      if (kv.down) throw new Error('KV unavailable');
      return data[k] ? JSON.parse(data[k]!) : null;
    },
  };
  return kv;
}
const ok = () => [];

describe('threshold store fallbacks', () => {
  it('serves the cached version, marked stale, when KV fails after the cache expires', async () => {
    const kv = flakyKv({ 'region:colo:SIN': entry(4) });
    const t = 1_000_000;
    const first = await resolveRegion(kv as never, ['colo:SIN', 'default'], manifest, ok, t);
    expect(first).toMatchObject({ source: 'kv', thresholdVersion: 'colo:SIN@v4' });
    kv.down = true;
    const cached = await resolveRegion(kv as never, ['colo:SIN', 'default'], manifest, ok, t + 1000);
    expect(cached.source).toBe('kv');
    const stale = await resolveRegion(kv as never, ['colo:SIN', 'default'], manifest, ok, t + CACHE_TTL_MS + 1);
    expect(stale).toMatchObject({ source: 'kv-stale', thresholdVersion: 'colo:SIN@v4' });
    expect(stale.problems.join()).toMatch(/KV read failed \(KV unavailable\); serving the cached version/);
  });

  it('falls back to the manifest defaults, loudly, when KV has nothing usable', async () => {
    const kv = flakyKv({ 'region:colo:GRU': '{"version": "x"}' });
    const r = await resolveRegion(kv as never, ['colo:GRU', 'default'], manifest, ok, 5_000_000);
    expect(r).toMatchObject({ source: 'manifest-default', thresholdVersion: 'manifest' });
    expect(r.settings.thresholds).toEqual([0.9, 0.8]);
    expect(r.problems.join()).toMatch(/colo:GRU: stored entry is invalid/);
  });

  it('skips an entry that no longer fits the bundle', async () => {
    const kv = flakyKv({ 'region:colo:MAD': entry(2), 'region:default': entry(9) });
    const r = await resolveRegion(
      kv as never,
      ['colo:MAD', 'default'],
      manifest,
      (s) => (s.split === 1 ? ['split too small'] : []),
      9_000_000,
    );
    expect(r.source).toBe('manifest-default');
    expect(r.problems).toHaveLength(2);
  });
});

describe('default split', () => {
  it('is the fewest segments whose exits answer DEFAULT_EDGE_SHARE of validation inputs at the default point', () => {
    const m = (rates: number[]) =>
      ({
        exits: [{ defaultThreshold: 0.9 }, { defaultThreshold: 0.8 }, { defaultThreshold: 0.7 }],
        segments: [{}, {}, {}, {}],
        policies: {
          default: 'eenet',
          frontier: {
            eenet: [
              { thresholds: [0.5, 0.5, 0.5], exitRates: [1, 0, 0, 0] },
              { thresholds: [0.9, 0.8, 0.7], exitRates: rates },
            ],
          },
        },
      }) as unknown as Manifest;
    expect(defaultSplit(m([0.86, 0.1, 0.02, 0.02]))).toBe(1);
    expect(defaultSplit(m([0.6, 0.26, 0.1, 0.04]))).toBe(2);
    expect(defaultSplit(m([0.5, 0.2, 0.1, 0.2]))).toBe(3); // never reached: every exit at the edge
    expect(manifestDefaults(m([0.6, 0.3, 0.05, 0.05])).split).toBe(2);
    // No frontier point at the default thresholds: every exit at the edge.
    expect(
      defaultSplit({
        ...m([1, 0, 0, 0]),
        exits: [{ defaultThreshold: 0.1 }, { defaultThreshold: 0.1 }, { defaultThreshold: 0.1 }],
      } as unknown as Manifest),
    ).toBe(3);
    expect(DEFAULT_EDGE_SHARE).toBe(0.85);
  });
});
