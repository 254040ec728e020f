import { describe, expect, it } from 'vitest';
import { registerWasmGradKernels } from '../../training/backbone/wasm-grad-kernels.js';
import { tf } from '../../training/tf.js';

type Case = {
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
};

const CASES: Case[] = [
  { x: [3, 28, 28, 2], w: [3, 3, 2, 4], stride: 1, pad: 'same' },
  { x: [3, 28, 28, 2], w: [3, 3, 2, 4], stride: 2, pad: 'same' },
  { x: [2, 14, 14, 4], w: [1, 1, 4, 6], stride: 2, pad: 'same' },
  { x: [2, 7, 7, 4], w: [3, 3, 4, 6], stride: 2, pad: 'same' },
  { x: [2, 9, 9, 3], w: [3, 3, 3, 5], stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 3], w: [3, 3, 3, 5], stride: 2, pad: 'valid' },
];

/** d/dx and d/dw of sum(conv(x, w)²) on one backend. */
async function grads(backend: string, c: Case): Promise<[Float32Array, Float32Array]> {
  await tf.setBackend(backend);
  if (backend === 'wasm') registerWasmGradKernels();
  const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(
    Float32Array.from({ length: n(c.x) }, (_, i) => Math.sin(i * 0.37)),
    c.x,
  );
  const w = tf.tensor4d(
    Float32Array.from({ length: n(c.w) }, (_, i) => Math.cos(i * 0.11)),
    c.w,
  );
  const [gx, gw] = tf.grads((a, b) =>
    tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad))),
  )([x, w]);
  return [gx!.dataSync() as Float32Array, gw!.dataSync() as Float32Array];
}

function relErr(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}

describe('wasm conv gradient kernels (forward-conv formulation) match tfjs cpu', () => {
  it.each(CASES)('x $x, w $w, stride $stride, $pad', async (c) => {
    const [cx, cw] = await grads('cpu', c);
    const [wx, ww] = await grads('wasm', c);
    expect(relErr(wx, cx)).toBeLessThan(1e-4);
    expect(relErr(ww, cw)).toBeLessThan(1e-4);
  });
});

type DepthwiseCase = {
  x: [number, number, number, number];
  /** [k, k, channels, multiplier] */
  w: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid' | number;
};

const DEPTHWISE: DepthwiseCase[] = [
  { x: [3, 14, 14, 4], w: [3, 3, 4, 1], stride: 1, pad: 1 },
  { x: [3, 14, 14, 4], w: [3, 3, 4, 1], stride: 2, pad: 1 },
  { x: [2, 7, 7, 3], w: [3, 3, 3, 2], stride: 2, pad: 'same' },
  { x: [2, 9, 9, 3], w: [5, 5, 3, 1], stride: 1, pad: 'valid' },
];

async function depthwiseGrads(backend: string, c: DepthwiseCase): Promise<[Float32Array, Float32Array]> {
  await tf.setBackend(backend);
  if (backend === 'wasm') registerWasmGradKernels();
  const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(
    Float32Array.from({ length: n(c.x) }, (_, i) => Math.sin(i * 0.29)),
    c.x,
  );
  const w = tf.tensor4d(
    Float32Array.from({ length: n(c.w) }, (_, i) => Math.cos(i * 0.17)),
    c.w,
  );
  const [gx, gw] = tf.grads((a, b) =>
    tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad as 'same'))),
  )([x, w]);
  return [gx!.dataSync() as Float32Array, gw!.dataSync() as Float32Array];
}

describe('wasm depthwise conv gradient kernels (MobileNet-shaped training) match tfjs cpu', () => {
  it.each(DEPTHWISE)('x $x, w $w, stride $stride, pad $pad', async (c) => {
    const [cx, cw] = await depthwiseGrads('cpu', c);
    const [wx, ww] = await depthwiseGrads('wasm', c);
    expect(wx.length).toBe(cx.length);
    expect(relErr(wx, cx)).toBeLessThan(1e-4);
    expect(relErr(ww, cw)).toBeLessThan(1e-4);
  });
});
