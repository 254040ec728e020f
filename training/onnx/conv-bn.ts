/**
 * Emits a tfjs conv (+ BatchNorm) as one ONNX Conv: BN folded into weight and bias, the filter
 * moved from tfjs's [kh, kw, cin, cout] to ONNX's [cout, cin, kh, kw], and TF-style 'same' padding
 * made explicit (TF pads the extra row/column at the bottom/right).
 *
 * @example
 * const { nodes, initializers, outH, outW } = convBnToOnnx({ ... });
 */

import { type BatchNormState, BN_EPSILON } from '../backbone/batch-norm.js';
import type { tf as TF } from '../tf.js';
import { floatTensor, type Node, node, type TensorProto } from './proto.js';

/** [top, left, bottom, right] padding of TF's 'same' for one conv, and the output size. */
export function samePads(
  inH: number,
  inW: number,
  k: number,
  s: number,
): { pads: number[]; outH: number; outW: number } {
  const outH = Math.ceil(inH / s),
    outW = Math.ceil(inW / s);
  const ph = Math.max((outH - 1) * s + k - inH, 0),
    pw = Math.max((outW - 1) * s + k - inW, 0);
  return {
    pads: [Math.floor(ph / 2), Math.floor(pw / 2), ph - Math.floor(ph / 2), pw - Math.floor(pw / 2)],
    outH,
    outW,
  };
}

export interface ConvBnSpec {
  name: string;
  input: string;
  output: string;
  /** tfjs layout [kh, kw, cin, cout] */
  weight: TF.Tensor;
  bias?: TF.Tensor;
  bn?: BatchNormState;
  stride: number;
  inH: number;
  inW: number;
}

export function convBnToOnnx(s: ConvBnSpec): {
  nodes: Node[];
  initializers: TensorProto[];
  outH: number;
  outW: number;
} {
  const [kh, kw, cin, cout] = s.weight.shape as [number, number, number, number];
  const w = s.weight.dataSync();
  let scale = new Float32Array(cout).fill(1);
  let shift = s.bias ? Float32Array.from(s.bias.dataSync()) : new Float32Array(cout);
  if (s.bn) {
    const g = s.bn.gamma.dataSync(),
      b = s.bn.beta.dataSync(),
      m = s.bn.runningMean.dataSync(),
      v = s.bn.runningVar.dataSync();
    scale = Float32Array.from(g, (gi, c) => gi / Math.sqrt(v[c]! + BN_EPSILON));
    shift = Float32Array.from(b, (bi, c) => bi + (shift[c]! - m[c]!) * scale[c]!);
  }
  const W = new Float32Array(cout * cin * kh * kw);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) {
          W[((o * cin + i) * kh + y) * kw + x] = w[((y * kw + x) * cin + i) * cout + o]! * scale[o]!;
        }
  const { pads, outH, outW } = samePads(s.inH, s.inW, kh, s.stride);
  return {
    nodes: [
      node(
        'Conv',
        [s.input, `${s.name}.W`, `${s.name}.B`],
        [s.output],
        { kernel_shape: [kh, kw], strides: [s.stride, s.stride], pads, dilations: [1, 1], group: 1 },
        s.name,
      ),
    ],
    initializers: [floatTensor(`${s.name}.W`, [cout, cin, kh, kw], W), floatTensor(`${s.name}.B`, [cout], shift)],
    outH,
    outW,
  };
}
