import { describe, expect, it } from 'vitest';
import { decodeFeatures, encodeFeatures, fromHalf, toHalf, toHalfArray } from '../../core/feature-codec.js';
import { convertChannels, resize } from '../../core/image.js';
import { checkSettings, regionKeys, resolveThresholds } from '../../core/regions.js';
import { signBody, timingSafeEqualStr, verifyBody } from '../../core/signature.js';
import { f16TestValues } from '../helpers/f16-cases.js';
import { fixedInput } from '../helpers/runtimes.js';

describe('feature encodings', () => {
  const x = fixedInput(16 * 28 * 28).map((v) => Math.max(0, v * 3));
  const maxErr = (a: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - x[i]!)), 0);

  it('f32 is exact, f16 within half-precision rounding, i8 within half a quantisation step', () => {
    const meta = { segment: '2' };
    const f32 = decodeFeatures(encodeFeatures(x, [1, 16, 28, 28], 'f32', meta));
    expect(maxErr(f32.data)).toBe(0);
    expect(f32.metadata).toMatchObject({ segment: '2', encoding: 'f32' });
    const max = x.reduce((m, v) => Math.max(m, v), 0);
    expect(maxErr(decodeFeatures(encodeFeatures(x, [1, 16, 28, 28], 'f16', meta)).data)).toBeLessThan(max * 2 ** -11);
    expect(maxErr(decodeFeatures(encodeFeatures(x, [1, 16, 28, 28], 'i8', meta)).data)).toBeLessThanOrEqual(
      max / 127 / 2 + 1e-6,
    );
  });

  it('f16 conversion handles rounding, subnormals, overflow and specials', () => {
    for (const v of [0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 1 / 3]) expect(fromHalf(toHalf(v))).toBeCloseTo(v, 3);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // ties to even
  });

  it('toHalfArray is bit-identical to toHalf, every f32 exponent and the edge cases included', () => {
    // Halfway and carry cases, the largest half, just past it, zeros, infinities, NaN, subnormals; random bits.
    const x = f16TestValues();
    const fast = toHalfArray(x.subarray(3)),
      slow = Uint16Array.from(x.subarray(3), (v) => toHalf(v));
    expect(Buffer.from(fast.buffer).equals(Buffer.from(slow.buffer))).toBe(true);
    expect(Array.from(toHalfArray(x.subarray(0, 15)))).toEqual(Array.from(x.subarray(0, 15), (v) => toHalf(v)));
  });

  it('sizes: f16 halves and i8 quarters the f32 body', () => {
    const n = (e: 'f32' | 'f16' | 'i8') => encodeFeatures(x, [1, 16, 28, 28], e, {}).length;
    expect(n('f16') / n('f32')).toBeCloseTo(0.5, 1);
    expect(n('i8') / n('f32')).toBeCloseTo(0.25, 1);
  });
});

describe('HMAC signatures', () => {
  const body = new TextEncoder().encode('features…');
  it('verifies, and rejects tampering, a wrong secret, expiry and malformed headers', async () => {
    const now = 1_700_000_000_000;
    const h = await signBody('s3cret', body, now);
    expect(await verifyBody('s3cret', body, h, { windowMs: 30_000, now: now + 1000 })).toEqual({
      ok: true,
      replayKey: h.slice(h.indexOf('v1=') + 3),
    });
    const tampered = body.slice();
    tampered[0] ^= 1;
    expect(await verifyBody('s3cret', tampered, h, { windowMs: 30_000, now })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(await verifyBody('other', body, h, { windowMs: 30_000, now })).toEqual({ ok: false, reason: 'mismatch' });
    expect(await verifyBody('s3cret', body, h, { windowMs: 30_000, now: now + 31_000 })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await verifyBody('s3cret', body, 'v1=abc', { windowMs: 30_000, now })).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(await verifyBody('s3cret', body, null, { windowMs: 30_000, now })).toEqual({ ok: false, reason: 'missing' });
    expect(timingSafeEqualStr('abc', 'abd')).toBe(false);
  });
});

describe('image conversion', () => {
  it('RGB → grey uses BT.601 luma; alpha composites on black', () => {
    const rgba = { width: 1, height: 1, channels: 4, data: Uint8Array.of(255, 0, 0, 128) };
    expect(convertChannels(rgba, 1).data[0]).toBe(Math.round(0.299 * 255 * (128 / 255)));
  });
  it('area-averages when shrinking and interpolates when enlarging', () => {
    const img = { width: 4, height: 1, channels: 1, data: Uint8Array.of(0, 100, 200, 100) };
    expect(Array.from(resize(img, 2, 1).data)).toEqual([50, 150]);
    expect(Array.from(resize({ width: 2, height: 1, channels: 1, data: Uint8Array.of(0, 200) }, 4, 1).data)).toEqual([
      0, 50, 150, 200,
    ]);
  });
});

describe('region keys', () => {
  it('orders colo → country → continent → default and drops malformed parts', () => {
    expect(regionKeys({ colo: 'lhr', country: 'GB', continent: 'EU' })).toEqual([
      'colo:LHR',
      'country:GB',
      'continent:EU',
      'default',
    ]);
    expect(regionKeys({ colo: 'TOOLONG', country: 'G' })).toEqual(['default']);
    expect(regionKeys(undefined)).toEqual(['default']);
  });

  it('resolves a budget to the most accurate frontier point that fits', () => {
    const m = {
      segments: [{}, {}, {}],
      exits: [{}, {}],
      policies: {
        frontier: {
          confidence: [
            { thresholds: [0.1, 0.1], accuracy: 0.8, cost: 0.2 },
            { thresholds: [0.5, 0.5], accuracy: 0.9, cost: 0.5 },
            { thresholds: [0.9, 0.9], accuracy: 0.93, cost: 0.9 },
          ],
        },
      },
    } as never;
    expect(resolveThresholds({ policy: 'confidence', budget: 0.6, split: 1, encoding: 'f16' }, m)).toEqual([0.5, 0.5]);
    expect(checkSettings({ policy: 'confidence', budget: 0.1, split: 1, encoding: 'f16' }, m)).toEqual([
      expect.stringMatching(/below the cheapest calibrated point/),
    ]);
  });
});
