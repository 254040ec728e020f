// The forward body's f16 conversion as workerd runs it: its native Float16Array path (core/feature-codec.ts)
// against the portable loop the Node tests check bit by bit against toHalf.
import { describe, expect, it } from 'vitest';
import { decodeFeatures, encodeFeatures, toHalf, toHalfArray, toHalfArrayJs } from '../../core/feature-codec.js';
import { F16_EDGE_CASES, f16TestValues } from '../helpers/f16-cases.js';

describe('f16 features in workerd', () => {
  it('has Float16Array, so toHalfArray takes the native path', () => {
    expect(typeof (globalThis as { Float16Array?: unknown }).Float16Array).toBe('function');
  });

  it('native conversion is bit-identical to toHalf for every non-NaN value, and NaN stays NaN', () => {
    const x = f16TestValues();
    const native = toHalfArray(x),
      js = toHalfArrayJs(x);
    let nans = 0;
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i]!)) {
        nans++;
        expect(native[i]! & 0x7c00).toBe(0x7c00);
        expect(native[i]! & 0x3ff).not.toBe(0);
        continue;
      }
      if (native[i] !== js[i])
        expect.fail(`value ${x[i]}: native 0x${native[i]!.toString(16)}, toHalf 0x${js[i]!.toString(16)}`);
    }
    expect(nans).toBeGreaterThan(0);
    expect(Array.from(toHalfArray(x.subarray(0, F16_EDGE_CASES.length)))).toEqual(F16_EDGE_CASES.map((v) => toHalf(v)));
  });

  it('a body encoded in workerd decodes to the same values', () => {
    const x = new Float32Array(16 * 28 * 28).map((_, k) => Math.sin(k) * 3);
    const { data } = decodeFeatures(encodeFeatures(x, [1, 16, 28, 28], 'f16', {}));
    for (let i = 0; i < x.length; i++)
      expect(Math.abs(data[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11 + 1e-7);
  });
});
