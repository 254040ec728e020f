import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../../core/safetensors.js';

describe('safetensors codec', () => {
  const tensors = {
    a: { dtype: 'F32' as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) },
    b: { dtype: 'I8' as const, shape: [3], data: Int8Array.from([-128, 0, 127]) },
    c: { dtype: 'F16' as const, shape: [1], data: Uint16Array.from([0x3c00]) },
  };

  it('round-trips tensors and metadata, with the data 8-byte aligned', () => {
    const bytes = encodeSafetensors(tensors, { model: 'm', segment: '1' });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const { tensors: t, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ model: 'm', segment: '1' });
    expect(Array.from(t.a!.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(t.a!.shape).toEqual([2, 3]);
    expect(Array.from(t.b!.data)).toEqual([-128, 0, 127]);
    expect(Array.from(t.c!.data)).toEqual([0x3c00]);
  });

  it('decodes from a Node Buffer slice (offset into a shared pool)', () => {
    const bytes = encodeSafetensors(tensors);
    const pooled = Buffer.concat([Buffer.from([9, 9, 9]), Buffer.from(bytes)]).subarray(3);
    expect(Array.from(decodeSafetensors(pooled).tensors.a!.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
  });

  it('rejects truncated, oversized and malformed bodies with a reason', () => {
    const bytes = encodeSafetensors(tensors);
    expect(() => decodeSafetensors(bytes.subarray(0, 5))).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 2))).toThrow(/truncated/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 10n ** 12n, true);
    expect(() => decodeSafetensors(huge)).toThrow(/exceeds the body/);
    const bad = encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    const text = new TextDecoder().decode(bad).replace('"F32"', '"F99"');
    expect(() => decodeSafetensors(new TextEncoder().encode(text))).toThrow(/dtype F99 is not one of/);
  });

  it('rejects tensors that overlap, leave gaps or leave trailing bytes, and metadata that is not strings', () => {
    /** A body from a hand-written header over `data` bytes. */
    const body = (header: unknown, data: number) => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + h.length + data);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      return out;
    };
    const t = (a: number, b: number) => ({ dtype: 'F32', shape: [(b - a) / 4], data_offsets: [a, b] });
    expect(() => decodeSafetensors(body({ a: t(0, 8), b: t(4, 12) }, 12))).toThrow(/must not overlap/);
    expect(() => decodeSafetensors(body({ a: t(0, 8), b: t(0, 8) }, 8))).toThrow(/must not overlap/);
    expect(() => decodeSafetensors(body({ a: t(0, 4), b: t(8, 12) }, 12))).toThrow(/gaps/);
    expect(() => decodeSafetensors(body({ a: t(4, 8) }, 8))).toThrow(/expected 0/);
    expect(() => decodeSafetensors(body({ a: t(0, 4) }, 8))).toThrow(/trailing bytes/);
    expect(() => decodeSafetensors(body({ a: { dtype: 'F32', shape: [-1], data_offsets: [4, 0] } }, 4))).toThrow(
      /non-negative/,
    );
    expect(() => decodeSafetensors(body({ __metadata__: { n: 1 }, a: t(0, 4) }, 4))).toThrow(/object of strings/);
    expect(() => decodeSafetensors(body({ __metadata__: ['x'], a: t(0, 4) }, 4))).toThrow(/object of strings/);
    expect(decodeSafetensors(body({ b: t(4, 8), a: t(0, 4) }, 8)).tensors.b!.shape).toEqual([1]);
  });

  it('refuses to encode a shape that does not match the data', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /holds 4 values but data has 3/,
    );
  });
});
