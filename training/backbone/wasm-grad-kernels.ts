/**
 * Convolution gradient kernels for tfjs-backend-wasm, written as forward convolutions.
 *
 * The wasm backend has no `Conv2DBackpropFilter` kernel (so `tf.grad` through any conv throws) and
 * its `Conv2DBackpropInput` runs at ~1.8 GFLOP/s, while its forward conv (XNNPACK) runs at ~16.
 * Both gradients are convolutions in disguise (see docs/training-speed.md, measured: ~2x the
 * throughput of the stock input gradient), so we express them as the backend's own forward
 * `Conv2D` plus cheap layout kernels. We call the wasm kernel functions directly on `TensorInfo`s
 * instead of tf ops: kernels must not re-enter the engine (tape, scopes), and intermediates are
 * released with `backend.disposeData`.
 *
 * @example
 * await tf.setBackend('wasm');
 * registerWasmGradKernels();
 * tf.grad((w) => tf.conv2d(x, w, 1, 'same').sum())(w); // now works on wasm
 */
import * as tf from '@tensorflow/tfjs';
import { backend_util, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';
import { registerWasmDepthwiseGradKernels } from './wasm-depthwise-grad.js';

type Attrs = Record<string, unknown>;

/** Runs one registered wasm kernel on TensorInfos, recording the result for disposal. */
class KernelCalls {
  private readonly temps: TensorInfo[] = [];
  constructor(private readonly backend: KernelBackend) {}

  run(name: string, inputs: Record<string, TensorInfo>, attrs: Attrs): TensorInfo {
    const kernel = tf.getKernel(name, 'wasm');
    if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs } as never) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** Releases every intermediate except `keep` (the kernel's output). */
  release(keep: TensorInfo): void {
    for (const t of this.temps) if (t !== keep) this.backend.disposeData(t.dataId);
  }
}

function conv(k: KernelCalls, x: TensorInfo, filter: TensorInfo, dilation: number): TensorInfo {
  return k.run(
    'Conv2D',
    { x, filter },
    {
      strides: [1, 1],
      pad: 'valid',
      dataFormat: 'NHWC',
      dilations: [dilation, dilation],
      dimRoundingMode: undefined,
    },
  );
}

/** Pads (positive) or crops (negative) the H and W axes of an NHWC tensor. */
function padOrCrop(
  k: KernelCalls,
  x: TensorInfo,
  top: number,
  bottom: number,
  left: number,
  right: number,
): TensorInfo {
  let t = x;
  if (bottom < 0 || right < 0 || top < 0 || left < 0) {
    const [n, h, w, c] = t.shape;
    const bT = Math.max(0, -top),
      bL = Math.max(0, -left);
    t = k.run(
      'Slice',
      { x: t },
      {
        begin: [0, bT, bL, 0],
        size: [n, h - bT - Math.max(0, -bottom), w - bL - Math.max(0, -right), c],
      },
    );
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    t = k.run(
      'PadV2',
      { x: t },
      {
        paddings: [
          [0, 0],
          [Math.max(0, top), Math.max(0, bottom)],
          [Math.max(0, left), Math.max(0, right)],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  return t;
}

type KernelArgs = { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: Attrs };

/** The forward conv's geometry (NHWC, no dilation) that both gradients invert; equal strides only. */
function gradConvInfo(
  kernel: string,
  attrs: Attrs,
  xShape: number[],
  filterShape: number[],
): { info: backend_util.Conv2DInfo; s: number } {
  const { strides, pad, dimRoundingMode } = attrs as {
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  if (info.strideHeight !== info.strideWidth) throw new Error(`${kernel}: unequal strides are not supported`);
  return { info, s: info.strideHeight };
}

/**
 * dW[a,b,ci,co] = Σ_{n,i,j} xpad[n, i·s+a, j·s+b, ci] · dy[n,i,j,co]: a valid conv of xpad laid out
 * as [Cin, Hp, Wp, N] (batch = Cin, channels = N) with dy laid out as [OH, OW, N, Cout] as the
 * filter, dilated by the stride. Output [Cin, kh, kw, Cout], transposed back to [kh, kw, Cin, Cout].
 */
function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const { info, s } = gradConvInfo('Conv2DBackpropFilter', args.attrs, x.shape, args.attrs.filterShape as number[]);
  const k = new KernelCalls(args.backend);
  const { top, left } = info.padInfo;
  const bottom = (info.outHeight - 1) * s + info.filterHeight - top - info.inHeight;
  const right = (info.outWidth - 1) * s + info.filterWidth - left - info.inWidth;
  const xpad = padOrCrop(k, x, top, bottom, left, right);
  const xt = k.run('Transpose', { x: xpad }, { perm: [3, 1, 2, 0] });
  const dyt = k.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const dwt = conv(k, xt, dyt, s);
  const dw = k.run('Transpose', { x: dwt }, { perm: [1, 2, 0, 3] });
  k.release(dw);
  return dw;
}

/**
 * dx = valid conv of the zero-upsampled, padded dy with the kernel rotated 180° and its in/out
 * channels swapped.
 */
function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs;
  const { info, s } = gradConvInfo('Conv2DBackpropInput', args.attrs, args.attrs.inputShape as number[], filter.shape);
  const k = new KernelCalls(args.backend);
  const [n, oh, ow, co] = dy.shape;
  let up = dy;
  if (s > 1) {
    // Insert s-1 zeros after every row and column: [N,OH,1,OW,1,C] padded to [N,OH,s,OW,s,C].
    const r = k.run('Reshape', { x: dy }, { shape: [n, oh, 1, ow, 1, co] });
    const p = k.run(
      'PadV2',
      { x: r },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, s - 1],
          [0, 0],
          [0, s - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    up = k.run('Reshape', { x: p }, { shape: [n, oh * s, ow * s, co] });
  }
  const kh = info.filterHeight,
    kw = info.filterWidth;
  const top = kh - 1 - info.padInfo.top,
    left = kw - 1 - info.padInfo.left;
  const bottom = info.inHeight + kh - 1 - top - oh * s;
  const right = info.inWidth + kw - 1 - left - ow * s;
  const dyPad = padOrCrop(k, up, top, bottom, left, right);
  const rev = k.run('Reverse', { x: filter }, { dims: [0, 1] });
  const rot = k.run('Transpose', { x: rev }, { perm: [0, 1, 3, 2] });
  const dx = conv(k, dyPad, rot, 1);
  k.release(dx);
  return dx;
}

let stockInput: ReturnType<typeof tf.getKernel> | undefined;

function register(kernelName: string, kernelFunc: unknown): void {
  if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never });
}

/**
 * Registers the filter gradient (missing from the wasm backend) and, unless `input: 'stock'`, our
 * faster input gradient in place of the stock one; and the depthwise gradients (also missing,
 * wasm-depthwise-grad.ts). Safe to call again to switch (benchmarks).
 */
export function registerWasmGradKernels(opts: { input?: 'forward-conv' | 'stock' } = {}): void {
  stockInput ??= tf.getKernel('Conv2DBackpropInput', 'wasm');
  register('Conv2DBackpropFilter', conv2DBackpropFilter);
  registerWasmDepthwiseGradKernels();
  if (opts.input === 'stock') {
    if (stockInput) register('Conv2DBackpropInput', stockInput.kernelFunc);
  } else {
    register('Conv2DBackpropInput', conv2DBackpropInput);
  }
}

/** Removes our kernels and restores the stock input gradient: the wasm backend as shipped. */
export function restoreStockWasmKernels(): void {
  stockInput ??= tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  if (stockInput) register('Conv2DBackpropInput', stockInput.kernelFunc);
}
