/**
 * Forwarded features on the wire: one safetensors body holding `features` as F32, F16 or I8 (with a
 * per-tensor symmetric scale in `scale`, F32[1]), plus the request's metadata in `__metadata__`.
 * Shared by the edge (encode) and the backend (decode), through core/wire.ts, which owns the whole
 * contract (the metadata's schema and builder, the answer's schema). Hand-written, like
 * safetensors.ts: a small format, and the same code must run in workerd and Node.
 *
 * @example
 * const body = encodeFeatures(x, [1, 16, 28, 28], 'f16', { segment: '2', ... });
 * const { data, shape, metadata } = decodeFeatures(body); // data: Float32Array
 */

import type { FeatureEncoding } from './regions.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensor, SafetensorsError } from './safetensors.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even; overflow → ±Inf. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1),
      half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * The runtime's own f32 → f16 conversion, where it has `Float16Array` (workerd, browsers; Node 22
 * only behind a flag): IEEE round to nearest even like `toHalf`, native code instead of the loop
 * below (the whole forward body encodes in ~0.02 ms in workerd: bench:edge:cpu). Bit-identical to
 * `toHalf` except for NaN payloads: any NaN stays a NaN (tests/worker/feature-codec.test.ts).
 */
const NativeFloat16 = (globalThis as { Float16Array?: new (src: Float32Array) => ArrayBufferView }).Float16Array;

/**
 * `toHalf` over a whole array, fast: the runtime's Float16Array where it has one and no `out` is
 * given; otherwise normal values and zeros (most of any feature map) inline, the rest (subnormal
 * halves, overflow, Inf, NaN) through `toHalf`, bit-identical to it.
 */
export function toHalfArray(x: Float32Array, out?: Uint16Array): Uint16Array {
  if (NativeFloat16 && !out) {
    const h = new NativeFloat16(x);
    return new Uint16Array(h.buffer, h.byteOffset, x.length);
  }
  return toHalfArrayJs(x, out);
}

/** The portable loop behind `toHalfArray`, exported for the test that compares the two. */
export function toHalfArrayJs(x: Float32Array, out: Uint16Array = new Uint16Array(x.length)): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i]!;
    const sign = (b >>> 16) & 0x8000;
    const e = ((b >>> 23) & 0xff) - 112;
    if (e > 0 && e < 31) {
      let h = (e << 10) | ((b >>> 13) & 0x3ff);
      const rem = b & 0x1fff;
      // Round to nearest even; a carry out of the mantissa bumps the exponent (up to Inf), as it should.
      if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
      out[i] = sign | h;
    } else if ((b & 0x7fffffff) === 0) {
      out[i] = sign;
    } else {
      out[i] = toHalf(x[i]!);
    }
  }
  return out;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f,
    mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** All 65,536 halves as f32, built on first use (256 KB): decoding is then one lookup per value. */
let HALF_TABLE: Float32Array | undefined;
export function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = fromHalf(h);
  }
  return HALF_TABLE;
}

export function encodeFeatures(
  x: Float32Array,
  shape: number[],
  encoding: FeatureEncoding,
  metadata: Record<string, string>,
): Uint8Array {
  const tensors: Record<string, SafeTensor> = {};
  if (encoding === 'f32') {
    tensors.features = { dtype: 'F32', shape, data: x };
  } else if (encoding === 'f16') {
    tensors.features = { dtype: 'F16', shape, data: toHalfArray(x) };
  } else {
    let max = 0;
    for (const v of x) max = Math.max(max, Math.abs(v));
    // Symmetric per-tensor scale; 127 levels each side. All-zero features keep scale 1.
    const scale = max > 0 ? max / 127 : 1;
    const q = new Int8Array(x.length);
    for (let i = 0; i < x.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(x[i]! / scale)));
    tensors.features = { dtype: 'I8', shape, data: q };
    tensors.scale = { dtype: 'F32', shape: [1], data: Float32Array.of(scale) };
  }
  return encodeSafetensors(tensors, { ...metadata, encoding });
}

export function decodeFeatures(body: Uint8Array): {
  data: Float32Array;
  shape: number[];
  encoding: FeatureEncoding;
  metadata: Record<string, string>;
} {
  const { tensors, metadata } = decodeSafetensors(body);
  const t = tensors.features;
  if (!t) throw new SafetensorsError('body has no "features" tensor');
  const allowed = t.dtype === 'I8' ? ['features', 'scale'] : ['features'];
  const extra = Object.keys(tensors).filter((k) => !allowed.includes(k));
  if (extra.length)
    throw new SafetensorsError(
      `unexpected tensor(s) ${extra.map((k) => `"${k}"`).join(', ')}; a ${t.dtype} body holds only ${allowed.join(' and ')}`,
    );
  switch (t.dtype) {
    case 'F32':
      return { data: t.data as Float32Array, shape: t.shape, encoding: 'f32', metadata };
    case 'F16': {
      const h = t.data as Uint16Array,
        table = halfTable(),
        out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = table[h[i]!]!;
      return { data: out, shape: t.shape, encoding: 'f16', metadata };
    }
    case 'I8': {
      const s = tensors.scale;
      if (s?.dtype !== 'F32' || s.data.length !== 1)
        throw new SafetensorsError('I8 features need a "scale" F32[1] tensor');
      const scale = (s.data as Float32Array)[0]!;
      // The edge writes max|x| / 127: finite and positive (1 for all-zero features).
      if (!(Number.isFinite(scale) && scale > 0))
        throw new SafetensorsError(`I8 scale ${scale} is not a finite positive number`);
      const q = t.data as Int8Array,
        out = new Float32Array(q.length);
      for (let i = 0; i < q.length; i++) out[i] = q[i]! * scale;
      return { data: out, shape: t.shape, encoding: 'i8', metadata };
    }
    default:
      throw new SafetensorsError(`features dtype ${t.dtype} is not one of F32, F16, I8`);
  }
}
