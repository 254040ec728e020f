/**
 * Writes an exit branch as ONNX: `features` [N, C, H, W] → `logits` [N, classes], `confidence`
 * [N, 1]. Op set: Conv (BN folded), Relu, GlobalAveragePool, Flatten, Gemm, Sigmoid.
 *
 * @example
 * writeFileSync('exit_0.onnx', exportBranchOnnx(branch));
 */
import { convBnToOnnx } from '../onnx/conv-bn.js';
import { floatTensor, makeModel, node, valueInfo, writeOnnx, type Node, type TensorProto } from '../onnx/proto.js';
import type { Branch } from './branch.js';

export const EXIT_INPUT = 'features';
export const EXIT_LOGITS = 'logits';
export const EXIT_CONFIDENCE = 'confidence';

export function exportBranchOnnx(b: Branch): Uint8Array {
  const nodes: Node[] = [];
  const inits: TensorProto[] = [];
  let cur = EXIT_INPUT, h = b.input.height, w = b.input.width;
  for (const c of b.convs) {
    const r = convBnToOnnx({ name: c.name, input: cur, output: `${c.name}.conv`, weight: c.weight, bn: c.bn, stride: c.stride, inH: h, inW: w });
    nodes.push(...r.nodes, node('Relu', [`${c.name}.conv`], [`${c.name}.out`]));
    inits.push(...r.initializers);
    cur = `${c.name}.out`; h = r.outH; w = r.outW;
  }
  nodes.push(node('GlobalAveragePool', [cur], ['pool']), node('Flatten', ['pool'], ['pool.flat'], { axis: 1 }));
  const dense = (name: string, W: typeof b.clsW, B: typeof b.clsB, out: string) => {
    inits.push(floatTensor(`${name}.W`, W.shape, Float32Array.from(W.dataSync())), floatTensor(`${name}.B`, B.shape, Float32Array.from(B.dataSync())));
    nodes.push(node('Gemm', ['pool.flat', `${name}.W`, `${name}.B`], [out], {}, name));
  };
  dense('cls', b.clsW, b.clsB, EXIT_LOGITS);
  dense('conf', b.confW, b.confB, 'conf.logit');
  nodes.push(node('Sigmoid', ['conf.logit'], [EXIT_CONFIDENCE]));
  return writeOnnx(makeModel({
    name: b.name,
    node: nodes,
    initializer: inits,
    input: [valueInfo(EXIT_INPUT, ['N', b.input.channels, b.input.height, b.input.width])],
    output: [valueInfo(EXIT_LOGITS, ['N', b.clsW.shape[1]!]), valueInfo(EXIT_CONFIDENCE, ['N', 1])],
  }));
}
