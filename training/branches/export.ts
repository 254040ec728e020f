/**
 * Writes an exit branch as ONNX: `features` [N, C, H, W] (the raw cut) → `logits` [N, classes],
 * `confidence` [N, 1]. Op set: AveragePool (large maps), Conv (BN folded), Relu,
 * GlobalAveragePool, Flatten, Gemm, Softmax, LogSoftmax, ReduceMax, ReduceSum, Mul, Add, Concat,
 * Sigmoid: the confidence head's input [pooled, softmax, max softmax, certainty] is computed in the
 * graph exactly as ./branch.ts computes it in training.
 *
 * @example
 * writeFileSync('exit_0.onnx', exportBranchOnnx(branch));
 */
import { convBnToOnnx } from '../onnx/conv-bn.js';
import {
  floatTensor,
  int64Tensor,
  makeModel,
  type Node,
  node,
  type TensorProto,
  valueInfo,
  writeOnnx,
} from '../onnx/proto.js';
import type { Branch } from './branch.js';

export const EXIT_INPUT = 'features';
export const EXIT_LOGITS = 'logits';
export const EXIT_CONFIDENCE = 'confidence';

/**
 * `pooledInput`: the same graph without its leading AveragePool, reading features already pooled
 * (what attach's feature caches hold). Calibration runs this variant on the caches; the deployed file
 * is the full graph, and `npm run train -- evaluate` / `bench:cascade` re-measure that one end to end.
 */
/**
 * Graph nodes computing, from `logits` [N, K], the softmax p, its maximum [N, 1] and the certainty
 * 1 + Σ p·log p / log K [N, 1] (core/cascade-rule.ts `softmaxStats`), as the exit heads and the
 * scheduler graphs both need them.
 */
export function softmaxStatsOnnx(
  logits: string,
  classes: number,
): { nodes: Node[]; initializers: TensorProto[]; p: string; maxP: string; certainty: string } {
  return {
    nodes: [
      node('Softmax', [logits], ['p'], { axis: 1 }),
      node('ReduceMax', ['p'], ['p.max'], { axes: [1], keepdims: 1 }),
      node('LogSoftmax', [logits], ['logp'], { axis: 1 }),
      node('Mul', ['p', 'logp'], ['plogp']),
      node('ReduceSum', ['plogp', 'axis1'], ['neg_h'], { keepdims: 1 }),
      node('Mul', ['neg_h', 'inv_log_k'], ['neg_h.norm']),
      node('Add', ['neg_h.norm', 'one'], ['certainty']),
    ],
    initializers: [
      int64Tensor('axis1', [1]),
      floatTensor('inv_log_k', [1], Float32Array.of(1 / Math.log(classes))),
      floatTensor('one', [1], Float32Array.of(1)),
    ],
    p: 'p',
    maxP: 'p.max',
    certainty: 'certainty',
  };
}

export function exportBranchOnnx(b: Branch, opts: { pooledInput?: boolean } = {}): Uint8Array {
  const nodes: Node[] = [];
  const inits: TensorProto[] = [];
  const inShape = opts.pooledInput ? b.pooledInput : b.input;
  let cur = EXIT_INPUT,
    h = inShape.height,
    w = inShape.width;
  if (b.pool > 1 && !opts.pooledInput) {
    nodes.push(
      node('AveragePool', [cur], ['pooled.in'], { kernel_shape: [b.pool, b.pool], strides: [b.pool, b.pool] }),
    );
    cur = 'pooled.in';
    h /= b.pool;
    w /= b.pool;
  }
  for (const c of b.convs) {
    const r = convBnToOnnx({
      name: c.name,
      input: cur,
      output: `${c.name}.conv`,
      weight: c.weight,
      bn: c.bn,
      stride: c.stride,
      inH: h,
      inW: w,
    });
    nodes.push(...r.nodes, node('Relu', [`${c.name}.conv`], [`${c.name}.out`]));
    inits.push(...r.initializers);
    cur = `${c.name}.out`;
    h = r.outH;
    w = r.outW;
  }
  nodes.push(node('GlobalAveragePool', [cur], ['pool']), node('Flatten', ['pool'], ['pool.flat'], { axis: 1 }));
  const dense = (name: string, input: string, W: typeof b.clsW, B: typeof b.clsB, out: string) => {
    inits.push(
      floatTensor(`${name}.W`, W.shape, Float32Array.from(W.dataSync())),
      floatTensor(`${name}.B`, B.shape, Float32Array.from(B.dataSync())),
    );
    nodes.push(node('Gemm', [input, `${name}.W`, `${name}.B`], [out], {}, name));
  };
  dense('cls', 'pool.flat', b.clsW, b.clsB, EXIT_LOGITS);
  // Confidence head input: [pooled, p, max p, certainty].
  const stats = softmaxStatsOnnx(EXIT_LOGITS, b.classes);
  nodes.push(
    ...stats.nodes,
    node('Concat', ['pool.flat', stats.p, stats.maxP, stats.certainty], ['conf.in'], { axis: 1 }),
  );
  inits.push(...stats.initializers);
  dense('conf1', 'conf.in', b.conf1W, b.conf1B, 'conf.hidden.pre');
  nodes.push(node('Relu', ['conf.hidden.pre'], ['conf.hidden']));
  dense('conf2', 'conf.hidden', b.conf2W, b.conf2B, 'conf.logit');
  nodes.push(node('Sigmoid', ['conf.logit'], [EXIT_CONFIDENCE]));
  return writeOnnx(
    makeModel({
      name: b.name,
      node: nodes,
      initializer: inits,
      input: [valueInfo(EXIT_INPUT, ['N', inShape.channels, inShape.height, inShape.width])],
      output: [valueInfo(EXIT_LOGITS, ['N', b.clsW.shape[1]!]), valueInfo(EXIT_CONFIDENCE, ['N', 1])],
    }),
  );
}
