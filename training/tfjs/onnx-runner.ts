/**
 * A small ONNX interpreter on tfjs for the op set surgery supports (training/onnx/graph.ts
 * SUPPORTED_OPS). It is the third, independent implementation in the golden-output checks (tfjs vs
 * onnxruntime-node vs onnxruntime-web): it never shares kernels with onnxruntime. NCHW at the graph
 * boundary; convs and pools transpose to tfjs's NHWC internally.
 *
 * @example
 * const out = runOnnxTfjs(tf, model, { input: tf.tensor4d(x, [1, 1, 28, 28]) });
 */

import { GraphIndex } from '../onnx/graph.js';
import {
  attr,
  attrFloat,
  attrInt,
  attrInts,
  dimsOf,
  initializerValues,
  type Model,
  type Node,
  num,
  OnnxError,
} from '../onnx/proto.js';
import type { tf as TF } from '../tf.js';

type Tf = typeof TF;
type T = TF.Tensor;

const toNhwc = (tf: Tf, x: T) => tf.transpose(x, [0, 2, 3, 1]) as TF.Tensor4D;
const toNchw = (tf: Tf, x: T) => tf.transpose(x, [0, 3, 1, 2]) as TF.Tensor4D;

function padNhwc(tf: Tf, x: TF.Tensor4D, pads: number[], value = 0): TF.Tensor4D {
  const [t, l, b, r] = pads as [number, number, number, number];
  if (!t && !l && !b && !r) return x;
  return tf.pad(
    x,
    [
      [0, 0],
      [t, b],
      [l, r],
      [0, 0],
    ],
    value,
  );
}

function pads2d(n: Node): number[] {
  const autoPad = attr(n, 'auto_pad');
  if (autoPad?.s && new TextDecoder().decode(autoPad.s) !== 'NOTSET')
    throw new OnnxError(`node "${n.name}": auto_pad is not supported (use explicit pads)`, n.name ?? undefined);
  return attrInts(n, 'pads', [0, 0, 0, 0]);
}

function conv(tf: Tf, n: Node, x: T, w: T, b?: T): T {
  const group = attrInt(n, 'group', 1);
  const [s0, s1] = attrInts(n, 'strides', [1, 1]) as [number, number];
  const [d0, d1] = attrInts(n, 'dilations', [1, 1]) as [number, number];
  const xp = padNhwc(tf, toNhwc(tf, x), pads2d(n));
  const [cout, cinG] = w.shape as [number, number, number, number];
  let y: TF.Tensor4D;
  if (group === 1) {
    y = tf.conv2d(xp, tf.transpose(w, [2, 3, 1, 0]) as TF.Tensor4D, [s0, s1], 'valid', 'NHWC', [d0, d1]);
  } else if (cinG === 1 && group === x.shape[1]) {
    // depthwise: ONNX [C·m, 1, kh, kw] → tfjs [kh, kw, C, m]
    const m = cout / group;
    const wd = tf.transpose(tf.reshape(w, [group, m, w.shape[2]!, w.shape[3]!]), [2, 3, 0, 1]) as TF.Tensor4D;
    y = tf.depthwiseConv2d(xp, wd, [s0, s1], 'valid', 'NHWC', [d0, d1]);
  } else {
    // grouped: one conv per group of input channels, each writing its cout/group output channels
    const xs = tf.split(xp, group, 3) as TF.Tensor4D[];
    const ws = tf.split(tf.transpose(w, [2, 3, 1, 0]), group, 3) as TF.Tensor4D[];
    y = tf.concat(
      xs.map((xi, i) => tf.conv2d(xi, ws[i]!, [s0, s1], 'valid', 'NHWC', [d0, d1])),
      3,
    );
  }
  if (b) y = tf.add(y, b) as TF.Tensor4D;
  return toNchw(tf, y);
}

function pool(tf: Tf, n: Node, x: T, kind: 'max' | 'avg'): T {
  const k = attrInts(n, 'kernel_shape', []) as [number, number];
  const s = attrInts(n, 'strides', [1, 1]) as [number, number];
  if (attrInt(n, 'ceil_mode', 0))
    throw new OnnxError(`node "${n.name}": ceil_mode=1 is not supported`, n.name ?? undefined);
  const pads = pads2d(n);
  const hasPad = pads.some((p) => p > 0);
  if (kind === 'avg' && hasPad && !attrInt(n, 'count_include_pad', 0)) {
    throw new OnnxError(
      `node "${n.name}": AveragePool with padding and count_include_pad=0 is not supported`,
      n.name ?? undefined,
    );
  }
  const xp = padNhwc(tf, toNhwc(tf, x), pads, kind === 'max' ? -Infinity : 0);
  const y = kind === 'max' ? tf.maxPool(xp, k, s, 'valid') : tf.avgPool(xp, k, s, 'valid');
  return toNchw(tf, y);
}

function gemm(tf: Tf, n: Node, a: T, b: T, c?: T): T {
  const alpha = attrFloat(n, 'alpha', 1),
    beta = attrFloat(n, 'beta', 1);
  let y: T = tf.matMul(
    a as TF.Tensor2D,
    b as TF.Tensor2D,
    attrInt(n, 'transA', 0) === 1,
    attrInt(n, 'transB', 0) === 1,
  );
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (c) y = tf.add(y, beta !== 1 ? tf.mul(c, beta) : c);
  return y;
}

/** Clip: min/max as attributes (before opset 11) or optional inputs (from 11); max(x, min) first, as onnxruntime. */
function clip(tf: Tf, n: Node, [x, lo, hi]: (T | undefined)[]): T {
  const [min, max] =
    attr(n, 'min') || attr(n, 'max')
      ? [attrFloat(n, 'min', -Infinity), attrFloat(n, 'max', Infinity)].map((v) => tf.scalar(v))
      : [lo, hi];
  let y = x!;
  if (min) y = tf.maximum(y, min);
  if (max) y = tf.minimum(y, max);
  return y;
}

/** ReduceMax/Mean/Sum: axes as an attribute, or as a constant input (ReduceSum from opset 13, the others from 18). */
function reduce(tf: Tf, n: Node, x: T, consts: Map<string, Float32Array>): T {
  const axesName = n.input?.[1];
  const axesInput = axesName ? consts.get(axesName) : undefined;
  if (axesName && !axesInput)
    throw new OnnxError(`node "${n.name}": ${n.opType} needs constant axes`, n.name ?? undefined);
  const axes = axesInput ? Array.from(axesInput) : attrInts(n, 'axes', []);
  if (!axes.length && attrInt(n, 'noop_with_empty_axes', 0) === 1) return x;
  const ax = axes.length ? axes : x.shape.map((_, i) => i);
  const keep = attrInt(n, 'keepdims', 1) === 1;
  if (n.opType === 'ReduceMax') return tf.max(x, ax, keep);
  return n.opType === 'ReduceMean' ? tf.mean(x, ax, keep) : tf.sum(x, ax, keep);
}

/** Inference-mode Dropout: the identity, plus an all-true mask when its optional second output is wired. */
function dropout(tf: Tf, n: Node, [x, , training]: (T | undefined)[]): T[] {
  if (training?.dataSync()[0])
    throw new OnnxError(`node "${n.name}": Dropout with training_mode=true is not supported`, n.name ?? undefined);
  return n.output?.[1] ? [x!, tf.cast(tf.onesLike(x!), 'bool')] : [x!];
}

/** ONNX Reshape semantics: 0 copies the input dim, -1 is inferred. */
function reshape(tf: Tf, x: T, shape: number[]): T {
  return tf.reshape(
    x,
    shape.map((d, i) => (d === 0 ? x.shape[i]! : d)),
  );
}

function evalNode(tf: Tf, n: Node, ins: (T | undefined)[], consts: Map<string, Float32Array>): T[] {
  const [x, y, z] = ins;
  const need = (t: T | undefined, i: number) => {
    if (!t) throw new OnnxError(`node "${n.name}" (${n.opType}) is missing input ${i}`, n.name ?? undefined);
    return t;
  };
  switch (n.opType) {
    case 'Conv':
      return [conv(tf, n, need(x, 0), need(y, 1), z)];
    case 'BatchNormalization': {
      const [, scale, bias, mean, variance] = ins.map((t, i) => need(t, i));
      const eps = attrFloat(n, 'epsilon', 1e-5);
      const r = (t: T) => tf.reshape(t, [1, -1, 1, 1]);
      return [
        tf.add(tf.mul(tf.sub(need(x, 0), r(mean!)), r(tf.div(scale!, tf.sqrt(tf.add(variance!, eps))))), r(bias!)),
      ];
    }
    case 'Relu':
      return [tf.relu(need(x, 0))];
    case 'LeakyRelu':
      return [tf.leakyRelu(need(x, 0), attrFloat(n, 'alpha', 0.01))];
    case 'Sigmoid':
      return [tf.sigmoid(need(x, 0))];
    case 'Softmax':
      return [tf.softmax(need(x, 0), attrInt(n, 'axis', -1))];
    case 'LogSoftmax':
      return [tf.logSoftmax(need(x, 0), attrInt(n, 'axis', -1))];
    case 'Clip':
      return [clip(tf, n, [need(x, 0), y, z])];
    case 'HardSigmoid':
      return [tf.clipByValue(tf.add(tf.mul(need(x, 0), attrFloat(n, 'alpha', 0.2)), attrFloat(n, 'beta', 0.5)), 0, 1)];
    case 'HardSwish':
      return [tf.mul(need(x, 0), tf.clipByValue(tf.add(tf.div(need(x, 0), 6), 0.5), 0, 1))];
    case 'Transpose': {
      const t = need(x, 0);
      return [
        tf.transpose(
          t,
          attrInts(
            n,
            'perm',
            t.shape.map((_, i) => t.shape.length - 1 - i),
          ),
        ),
      ];
    }
    case 'ReduceMax':
    case 'ReduceMean':
    case 'ReduceSum':
      return [reduce(tf, n, need(x, 0), consts)];
    case 'Add':
      return [tf.add(need(x, 0), need(y, 1))];
    case 'Sub':
      return [tf.sub(need(x, 0), need(y, 1))];
    case 'Mul':
      return [tf.mul(need(x, 0), need(y, 1))];
    case 'Concat':
      return [
        tf.concat(
          ins.map((t, i) => need(t, i)),
          attrInt(n, 'axis', 1),
        ),
      ];
    case 'MaxPool':
      return [pool(tf, n, need(x, 0), 'max')];
    case 'AveragePool':
      return [pool(tf, n, need(x, 0), 'avg')];
    case 'GlobalAveragePool':
      return [tf.mean(need(x, 0), [2, 3], true)];
    case 'GlobalMaxPool':
      return [tf.max(need(x, 0), [2, 3], true)];
    case 'Flatten': {
      const t = need(x, 0);
      const axis = attrInt(n, 'axis', 1);
      return [tf.reshape(t, [t.shape.slice(0, axis).reduce((a, b) => a * b, 1), -1])];
    }
    case 'Reshape': {
      const shape = consts.get(n.input![1]!);
      if (!shape) throw new OnnxError(`node "${n.name}": Reshape needs a constant shape`, n.name ?? undefined);
      return [reshape(tf, need(x, 0), Array.from(shape))];
    }
    case 'Gemm':
      return [gemm(tf, n, need(x, 0), need(y, 1), z)];
    case 'MatMul':
      return [tf.matMul(need(x, 0), need(y, 1))];
    case 'Identity':
      return [need(x, 0)];
    case 'Dropout':
      return dropout(tf, n, [need(x, 0), y, z]);
    default:
      throw new OnnxError(`op ${n.opType} is not supported by the tfjs runner`, n.name ?? undefined);
  }
}

/** Runs the graph; returns every graph output by name. Caller owns the returned tensors. */
export function runOnnxTfjs(tf: Tf, model: Model, feeds: Record<string, T>): Record<string, T> {
  return tf.tidy(() => {
    const g = new GraphIndex(model);
    const env = new Map<string, T>(Object.entries(feeds));
    const consts = new Map<string, Float32Array>();
    for (const t of g.graph.initializer ?? []) {
      const v = initializerValues(t);
      consts.set(t.name!, v);
      env.set(t.name!, tf.tensor(v, dimsOf(t)));
    }
    for (const n of g.nodes) {
      if (n.opType !== 'Constant') continue;
      const value = attr(n, 'value')?.t;
      if (!value) throw new OnnxError(`Constant node "${n.name}" has no tensor value`, n.name ?? undefined);
      const v = initializerValues(value);
      consts.set(n.output![0]!, v);
      env.set(n.output![0]!, tf.tensor(v, dimsOf(value).map(num)));
    }
    for (const i of g.topoOrder()) {
      const n = g.nodes[i]!;
      if (n.opType === 'Constant') continue;
      const outs = evalNode(
        tf,
        n,
        (n.input ?? []).map((name) => (name ? env.get(name) : undefined)),
        consts,
      );
      outs.forEach((t, k) => {
        env.set(n.output![k]!, t);
      });
    }
    return Object.fromEntries(g.outputs.map((o) => [o, env.get(o)!]));
  });
}
