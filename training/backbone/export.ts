/**
 * Exports the trained ResNet to ONNX (NCHW, BN folded, opset 17). Every block's output tensor is
 * named `<stage>.<block>.out` (and the stem's `stem.out`) so they can serve as cut points.
 *
 * @example
 * writeFileSync('backbone.onnx', exportResNetOnnx(net, { height: 28, width: 28 }));
 */
import { convBnToOnnx } from '../onnx/conv-bn.js';
import { floatTensor, makeModel, type Node, node, type TensorProto, valueInfo, writeOnnx } from '../onnx/proto.js';
import type { ResNet } from './resnet.js';

export const BACKBONE_INPUT = 'input';
export const BACKBONE_OUTPUT = 'logits';

export function exportResNetOnnx(net: ResNet, size: { height: number; width: number }): Uint8Array {
  const nodes: Node[] = [];
  const inits: TensorProto[] = [];
  let h = size.height,
    w = size.width;
  const conv = (c: ResNet['stem'], input: string, output: string, inH: number, inW: number) => {
    const r = convBnToOnnx({ name: c.name, input, output, weight: c.weight, bn: c.bn, stride: c.stride, inH, inW });
    nodes.push(...r.nodes);
    inits.push(...r.initializers);
    return r;
  };
  conv(net.stem, BACKBONE_INPUT, 'stem.conv', h, w);
  nodes.push(node('Relu', ['stem.conv'], ['stem.out']));
  let cur = 'stem.out';
  for (const b of net.blocks) {
    const c1 = conv(b.conv1, cur, `${b.name}.conv1`, h, w);
    nodes.push(node('Relu', [`${b.name}.conv1`], [`${b.name}.relu1`]));
    conv(b.conv2, `${b.name}.relu1`, `${b.name}.conv2`, c1.outH, c1.outW);
    let skip = cur;
    if (b.shortcut) {
      conv(b.shortcut, cur, `${b.name}.shortcut`, h, w);
      skip = `${b.name}.shortcut`;
    }
    nodes.push(node('Add', [`${b.name}.conv2`, skip], [`${b.name}.sum`]));
    nodes.push(node('Relu', [`${b.name}.sum`], [`${b.name}.out`]));
    cur = `${b.name}.out`;
    h = c1.outH;
    w = c1.outW;
  }
  nodes.push(node('GlobalAveragePool', [cur], ['pool']));
  nodes.push(node('Flatten', ['pool'], ['pool.flat'], { axis: 1 }));
  const [cin, classes] = net.fcWeight.shape as [number, number];
  inits.push(floatTensor('fc.W', [cin, classes], Float32Array.from(net.fcWeight.dataSync())));
  inits.push(floatTensor('fc.B', [classes], Float32Array.from(net.fcBias.dataSync())));
  nodes.push(node('Gemm', ['pool.flat', 'fc.W', 'fc.B'], [BACKBONE_OUTPUT], {}, 'fc'));
  return writeOnnx(
    makeModel({
      name: 'backbone',
      node: nodes,
      initializer: inits,
      input: [valueInfo(BACKBONE_INPUT, ['N', net.config.inputChannels, size.height, size.width])],
      output: [valueInfo(BACKBONE_OUTPUT, ['N', classes])],
    }),
  );
}
