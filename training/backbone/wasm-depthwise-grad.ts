/**
 * Depthwise convolution gradient kernels for tfjs-backend-wasm, which ships the forward
 * `DepthwiseConv2dNative` but neither `DepthwiseConv2dNativeBackpropInput` nor `…BackpropFilter`
 * (so `tf.grad` through a depthwise conv throws there, and MobileNet-shaped nets cannot train).
 *
 * Plain loops over the heap's typed arrays, NHWC with any channel multiplier, stride, dilation and
 * padding that `backend_util.computeConv2DInfo` describes. A depthwise conv is cheap (k² MACs per
 * output element), so these cost little next to the pointwise convs XNNPACK runs; unlike the dense
 * conv gradients (wasm-grad-kernels.ts), there is no forward-conv formulation to borrow, because the
 * wasm backend's depthwise forward has no per-channel batch axis to put the gradient's sum on.
 *
 * @example
 * registerWasmDepthwiseGradKernels(); // after tf.setBackend('wasm')
 * tf.grad((w) => tf.depthwiseConv2d(x, w, 1, 1).sum())(w);
 */
import * as tf from '@tensorflow/tfjs';
import { backend_util, type TensorInfo } from '@tensorflow/tfjs';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

interface ConvAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * For every (output position, filter tap) pair whose input position lies inside the image, calls
 * `row(xRow, fRow, dyRow)` with the offsets of the pixel's channel vector in x, the tap's
 * [channels × multiplier] filter row and the output pixel's channel vector in dy. The per-channel
 * loop stays in the caller, as one tight typed-array loop.
 */
function forEachTap(info: backend_util.Conv2DInfo, row: (xRow: number, fRow: number, dyRow: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top,
    left = info.padInfo.left;
  for (let b = 0; b < batchSize; b++)
    for (let oh = 0; oh < outHeight; oh++)
      for (let kh = 0; kh < filterHeight; kh++) {
        const ih = oh * strideHeight - top + kh * dilationHeight;
        if (ih < 0 || ih >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const dyRow = ((b * outHeight + oh) * outWidth + ow) * outChannels;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth - left + kw * dilationWidth;
            if (iw < 0 || iw >= inWidth) continue;
            row(((b * inHeight + ih) * inWidth + iw) * inChannels, (kh * filterWidth + kw) * outChannels, dyRow);
          }
        }
      }
}

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs): backend_util.Conv2DInfo {
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
  if (info.dataFormat !== 'channelsLast') throw new Error('depthwise gradients: only NHWC is supported');
  return info;
}

type KernelArgs = { inputs: Record<string, TensorInfo>; backend: WasmBackendLike; attrs: Record<string, unknown> };

function backpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
  const info = convInfo(a.inputShape, filter.shape, a);
  const out = backend.makeOutput(a.inputShape, 'float32');
  const dx = backend.typedArrayFromHeap(out);
  dx.fill(0);
  const g = backend.typedArrayFromHeap(dy),
    f = backend.typedArrayFromHeap(filter);
  const C = info.inChannels,
    M = info.outChannels / C;
  forEachTap(info, (xRow, fRow, dyRow) => {
    if (M === 1) for (let c = 0; c < C; c++) dx[xRow + c]! += g[dyRow + c]! * f[fRow + c]!;
    else
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let m = 0; m < M; m++) s += g[dyRow + c * M + m]! * f[fRow + c * M + m]!;
        dx[xRow + c]! += s;
      }
  });
  return out;
}

function backpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
  const info = convInfo(x.shape, a.filterShape, a);
  const out = backend.makeOutput(a.filterShape, 'float32');
  const df = backend.typedArrayFromHeap(out);
  df.fill(0);
  const g = backend.typedArrayFromHeap(dy),
    xs = backend.typedArrayFromHeap(x);
  const C = info.inChannels,
    M = info.outChannels / C;
  forEachTap(info, (xRow, fRow, dyRow) => {
    if (M === 1) for (let c = 0; c < C; c++) df[fRow + c]! += g[dyRow + c]! * xs[xRow + c]!;
    else
      for (let c = 0; c < C; c++) {
        const v = xs[xRow + c]!;
        for (let m = 0; m < M; m++) df[fRow + c * M + m]! += g[dyRow + c * M + m]! * v;
      }
  });
  return out;
}

/** Registers both depthwise gradient kernels on the wasm backend (replacing any registered before). */
export function registerWasmDepthwiseGradKernels(): void {
  for (const [kernelName, kernelFunc] of [
    ['DepthwiseConv2dNativeBackpropInput', backpropInput],
    ['DepthwiseConv2dNativeBackpropFilter', backpropFilter],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never });
  }
}
