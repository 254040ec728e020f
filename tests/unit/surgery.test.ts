import { beforeAll, describe, expect, it } from 'vitest';
import { analyseBackbone, chooseCuts } from '../../training/onnx/analyse.js';
import { checkOps, GraphIndex } from '../../training/onnx/graph.js';
import { node, readOnnx, writeOnnx } from '../../training/onnx/proto.js';
import { checkCut, splitAt } from '../../training/onnx/surgery.js';
import { initTf } from '../../training/tf.js';
import { foreignDenseNet, foreignResNet, foreignVgg } from '../helpers/foreign-backbones.js';
import { fixedInput, maxAbsDiff, parity, runNode } from '../helpers/runtimes.js';

beforeAll(async () => {
  await initTf({ backend: 'cpu', quiet: true });
});

const BACKBONES = [
  { name: 'resnet + BatchNormalization, opset 13', make: () => foreignResNet({ batchNorm: true, opset: 13 }) },
  { name: 'resnet, BN folded, opset 17', make: () => foreignResNet({ batchNorm: false, opset: 17 }) },
  { name: 'vgg, opset 11', make: () => foreignVgg({ batchNorm: false, opset: 11 }) },
  { name: 'vgg + BatchNormalization, opset 21', make: () => foreignVgg({ batchNorm: true, opset: 21 }) },
  { name: 'densenet + BatchNormalization, opset 15', make: () => foreignDenseNet({ batchNorm: true, opset: 15 }) },
  { name: 'densenet, no BN, opset 19', make: () => foreignDenseNet({ batchNorm: false, opset: 19 }) },
];

describe.each(BACKBONES)('surgery on a foreign $name', ({ make }) => {
  const bytes = make();
  const x = fixedInput(2 * 784);

  it('finds valid cut points and chains segments back to exactly the original outputs', async () => {
    const a = await analyseBackbone(bytes);
    expect(a.cuts.length).toBeGreaterThanOrEqual(3);
    expect(a.totalMacs).toBeGreaterThan(0);
    // MAC fractions rise monotonically along the graph.
    for (let i = 1; i < a.cuts.length; i++)
      expect(a.cuts[i]!.macFraction).toBeGreaterThanOrEqual(a.cuts[i - 1]!.macFraction);
    const cuts = chooseCuts(a.cuts, [0.15, 0.4, 0.7]);
    expect(cuts.length).toBe(3);
    const segments = splitAt(
      a.model,
      cuts.map((c) => c.tensor),
      a.shapes,
    ).map(writeOnnx);
    const ref = await runNode(bytes, x, [2, 1, 28, 28]);
    let cur = x,
      dims = [2, 1, 28, 28];
    for (const [i, s] of segments.entries()) {
      const out = await runNode(s, cur, dims);
      cur = Object.values(out)[0]!;
      dims = i < cuts.length ? [2, ...cuts[i]!.shape.slice(1)] : [2, 10];
    }
    expect(maxAbsDiff(cur, Object.values(ref)[0]!)).toBeLessThan(1e-5);
  });

  it('every segment agrees across onnxruntime-node, onnxruntime-web and tfjs within 1e-4', async () => {
    const a = await analyseBackbone(bytes);
    const cuts = chooseCuts(a.cuts, [0.15, 0.4, 0.7]);
    const segments = splitAt(
      a.model,
      cuts.map((c) => c.tensor),
      a.shapes,
    ).map(writeOnnx);
    let cur = x,
      dims = [2, 1, 28, 28];
    for (const [i, s] of segments.entries()) {
      const p = await parity(s, cur, dims);
      expect(p.tfjs).toBeLessThan(1e-4);
      expect(p.web).toBeLessThan(1e-4);
      cur = Object.values(p.outputs)[0]!;
      dims = i < cuts.length ? [2, ...cuts[i]!.shape.slice(1)] : [2, 10];
    }
  });
});

describe('invalid cuts and unsupported graphs are errors that name the node', () => {
  it('rejects a cut inside a residual block, naming the node that reads across it', () => {
    const g = new GraphIndex(readOnnx(foreignResNet({ batchNorm: true, opset: 13 })));
    const inside = g.nodes.find((n) => n.name === '/layer1/0/conv1/Conv')!.output![0]!;
    expect(() => checkCut(g, inside)).toThrow(/\/layer1\/layer1\.0\/Add/);
  });

  it('rejects a cut inside a dense layer (its Concat reads the layer input) but accepts one between layers', () => {
    const g = new GraphIndex(readOnnx(foreignDenseNet({ batchNorm: true, opset: 15 })));
    const out = (name: string) => g.nodes.find((n) => n.name === name)!.output![0]!;
    expect(() => checkCut(g, out('/features/denseblock1/denselayer2/relu1/Relu'))).toThrow(/denselayer2\/Concat/);
    expect(() => checkCut(g, out('/features/denseblock1/denselayer1/Concat'))).not.toThrow();
  });

  it('rejects unknown tensors and out-of-order cuts', async () => {
    const a = await analyseBackbone(foreignVgg({ batchNorm: false, opset: 11 }));
    expect(() => splitAt(a.model, ['nope'], a.shapes)).toThrow(/"nope" is not produced by any node/);
    const [c1, c2] = [a.cuts[1]!.tensor, a.cuts[3]!.tensor];
    expect(() => splitAt(a.model, [c2, c1], a.shapes)).toThrow(/graph order/);
  });

  it('rejects an unsupported op by node name and op type', () => {
    const m = readOnnx(foreignVgg({ batchNorm: false, opset: 11 }));
    m.graph!.node!.splice(1, 0, node('LSTM', ['input'], ['weird'], {}, '/rnn/LSTM'));
    expect(() => checkOps(m)).toThrow(/1 node uses ops that are not supported:\n {2}LSTM × 1: "\/rnn\/LSTM"/);
  });

  it('rejects opsets outside 11-21', async () => {
    const a = await analyseBackbone(foreignVgg({ batchNorm: false, opset: 11 }));
    a.model.opsetImport = [{ domain: '', version: 9 }];
    expect(() => splitAt(a.model, [a.cuts[1]!.tensor], a.shapes)).toThrow(
      /opset 9 is outside the supported range 11-21/,
    );
  });
});
