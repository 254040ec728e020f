/**
 * The op set torch.onnx.export writes for MobileNet-, ResNet-, VGG- and DenseNet-shaped CNNs:
 * every op the tfjs runner gained matches onnxruntime-node at the opsets where its form changes,
 * the shape arithmetic of `x.view(x.size(0), -1)` folds into constant Reshapes, the folded
 * backbones split into segments that chain back to the exported graph, and unsupported nodes are
 * reported all at once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussian, mulberry32 } from '../../training/backbone/resnet.js';
import { analyseBackbone, chooseCuts, inferShapes } from '../../training/onnx/analyse.js';
import { foldShapeComputations } from '../../training/onnx/fold.js';
import { checkOps, SUPPORTED_OPS } from '../../training/onnx/graph.js';
import {
  attrInt,
  constantNode,
  DT,
  floatTensor,
  initializerValues,
  int64Tensor,
  makeModel,
  type Node,
  node,
  OnnxError,
  readOnnx,
  type TensorProto,
  valueInfo,
  writeOnnx,
} from '../../training/onnx/proto.js';
import { splitAt } from '../../training/onnx/surgery.js';
import { initTf } from '../../training/tf.js';
import { foreignMobileNet, foreignVgg } from '../helpers/foreign-backbones.js';
import { fixedInput, maxAbsDiff, parity, runNode, runTfjs } from '../helpers/runtimes.js';

beforeAll(async () => {
  await initTf({ backend: 'cpu', quiet: true });
});

const X = [2, 4, 5, 6];

/** A one-input graph `x` → … → `y` (output shape left to the runtimes). */
function graph(opset: number, nodes: Node[], inits: TensorProto[] = [], dims: (number | string)[] = X): Uint8Array {
  return writeOnnx(
    makeModel(
      {
        name: 'g',
        node: nodes,
        initializer: inits,
        input: [valueInfo('x', dims)],
        output: [{ name: 'y', type: { tensorType: { elemType: DT.FLOAT } } }],
      },
      opset,
    ),
  );
}

const f32 = (name: string, v: number[], dims = [v.length]) => floatTensor(name, dims, Float32Array.from(v));
const scalar = (name: string, v: number) => f32(name, [v], []);
const conv = (name: string, dims: number[], seed: number) =>
  floatTensor(
    name,
    dims,
    gaussian(
      mulberry32(seed),
      dims.reduce((a, b) => a * b, 1),
      0.5,
    ),
  );

const OPS: { name: string; opset: number; nodes: Node[]; inits?: TensorProto[] }[] = [
  { name: 'Clip, min/max attributes', opset: 10, nodes: [node('Clip', ['x'], ['y'], { min: 0.0, max: 6.0 })] },
  { name: 'Clip, max attribute only', opset: 10, nodes: [node('Clip', ['x'], ['y'], { max: 1.5 })] },
  {
    name: 'Clip, min/max initializer inputs',
    opset: 11,
    nodes: [node('Clip', ['x', 'lo', 'hi'], ['y'])],
    inits: [scalar('lo', 0), scalar('hi', 6)],
  },
  {
    name: 'Clip, max input only',
    opset: 13,
    nodes: [node('Clip', ['x', '', 'hi'], ['y'])],
    inits: [scalar('hi', 2.5)],
  },
  { name: 'Clip, min input only', opset: 17, nodes: [node('Clip', ['x', 'lo'], ['y'])], inits: [scalar('lo', -1)] },
  { name: 'Clip, no bounds', opset: 13, nodes: [node('Clip', ['x'], ['y'])] },
  {
    name: 'Clip, Constant-node bounds',
    opset: 18,
    nodes: [
      constantNode('lo', scalar('', 0)),
      constantNode('hi', scalar('', 6)),
      node('Clip', ['x', 'lo', 'hi'], ['y']),
    ],
  },
  { name: 'HardSigmoid, default alpha/beta', opset: 11, nodes: [node('HardSigmoid', ['x'], ['y'])] },
  {
    name: 'HardSigmoid, PyTorch alpha 1/6',
    opset: 17,
    nodes: [node('HardSigmoid', ['x'], ['y'], { alpha: 1 / 6, beta: 0.5 })],
  },
  { name: 'HardSwish', opset: 14, nodes: [node('HardSwish', ['x'], ['y'])] },
  { name: 'HardSwish', opset: 18, nodes: [node('HardSwish', ['x'], ['y'])] },
  {
    name: 'squeeze-excite Sigmoid and Mul, [N,C,1,1] × [N,C,H,W]',
    opset: 13,
    nodes: [
      node('GlobalAveragePool', ['x'], ['p']),
      node('Sigmoid', ['p'], ['s']),
      node('Mul', ['x', 's'], ['m']),
      node('Mul', ['s', 'm'], ['y']),
    ],
  },
  { name: 'Transpose, perm', opset: 13, nodes: [node('Transpose', ['x'], ['y'], { perm: [0, 2, 3, 1] })] },
  { name: 'Transpose, default (reversed) perm', opset: 11, nodes: [node('Transpose', ['x'], ['y'])] },
  {
    name: 'ReduceMean, axes attribute, keepdims',
    opset: 11,
    nodes: [node('ReduceMean', ['x'], ['y'], { axes: [2, 3], keepdims: 1 })],
  },
  {
    name: 'ReduceMean, axes attribute, no keepdims',
    opset: 13,
    nodes: [node('ReduceMean', ['x'], ['y'], { axes: [2, 3], keepdims: 0 })],
  },
  { name: 'ReduceMean, negative axis attribute', opset: 17, nodes: [node('ReduceMean', ['x'], ['y'], { axes: [-1] })] },
  {
    name: 'ReduceMean, axes input',
    opset: 18,
    nodes: [node('ReduceMean', ['x', 'axes'], ['y'], { keepdims: 1 })],
    inits: [int64Tensor('axes', [2, 3])],
  },
  { name: 'ReduceMean, no axes: all', opset: 18, nodes: [node('ReduceMean', ['x'], ['y'], { keepdims: 0 })] },
  {
    name: 'ReduceMean, no axes, noop_with_empty_axes',
    opset: 18,
    nodes: [node('ReduceMean', ['x'], ['y'], { noop_with_empty_axes: 1 })],
  },
  {
    name: 'ReduceMax, axes input',
    opset: 18,
    nodes: [node('ReduceMax', ['x', 'axes'], ['y'], { keepdims: 0 })],
    inits: [int64Tensor('axes', [1])],
  },
  { name: 'Identity', opset: 13, nodes: [node('Identity', ['x'], ['y'])] },
  {
    name: 'Dropout with its mask output, ratio attribute',
    opset: 11,
    nodes: [node('Dropout', ['x'], ['y', 'mask'], { ratio: 0.3 })],
  },
  {
    name: 'Dropout, ratio and training_mode=false inputs',
    opset: 13,
    nodes: [node('Dropout', ['x', 'ratio', 'train'], ['y', 'mask'])],
    inits: [scalar('ratio', 0.5), { name: 'train', dims: [], dataType: 9, int32Data: [0] }],
  },
  {
    name: 'depthwise Conv, channel multiplier 2',
    opset: 13,
    nodes: [
      node('Conv', ['x', 'w', 'b'], ['y'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], group: 4 }),
    ],
    inits: [conv('w', [8, 1, 3, 3], 1), f32('b', [0.1, -0.1, 0.2, 0, 0.3, -0.2, 0, 0.05])],
  },
  {
    name: 'grouped Conv, group 2',
    opset: 11,
    nodes: [node('Conv', ['x', 'w'], ['y'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 2 })],
    inits: [conv('w', [6, 2, 3, 3], 2)],
  },
];

describe('tfjs runner matches onnxruntime-node on the exporter ops', () => {
  it.each(OPS)('$name (opset $opset)', async ({ opset, nodes, inits }) => {
    const bytes = graph(opset, nodes, inits);
    for (const seed of [1, 2]) {
      const x = gaussian(
        mulberry32(seed),
        X.reduce((a, b) => a * b, 1),
        4,
      );
      const want = (await runNode(bytes, x, X)).y!;
      const got = runTfjs(bytes, x, X).y!;
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    }
  });
});

/** As torch writes an open slice end: raw little-endian bytes (a JS number cannot hold it). */
const INT64_MAX: TensorProto = {
  dims: [1],
  dataType: DT.INT64,
  rawData: new Uint8Array(BigInt64Array.of(2n ** 63n - 1n).buffer),
};

/** x.view(…) variants on [N, 4, 3, 3]; the output is compared as a graph output after a Transpose where needed. */
const SHAPE_PATTERNS: { name: string; opset: number; nodes: Node[]; want: number[]; inits?: TensorProto[] }[] = [
  {
    // torch.flatten(x, 1) of older PyTorch: Shape → Slice(0:1) → Concat([-1]) → Reshape, Slice bounds as attributes.
    name: 'Shape → Slice (attributes) → Concat',
    opset: 9,
    want: [0, -1],
    nodes: [
      node('Shape', ['x'], ['s']),
      node('Slice', ['s'], ['b'], { starts: [0], ends: [1], axes: [0] }),
      constantNode('m1', int64Tensor('', [-1])),
      node('Concat', ['b', 'm1'], ['shape'], { axis: 0 }),
      node('Reshape', ['x', 'shape'], ['y']),
    ],
  },
  {
    name: 'Shape → Slice (inputs, INT64_MAX end) → Squeeze → Unsqueeze (axes inputs) → Concat',
    opset: 13,
    want: [0, 36],
    inits: [int64Tensor('c9', [9], [])],
    nodes: [
      node('Shape', ['x'], ['s']),
      constantNode('zero', int64Tensor('', [0])),
      constantNode('big', INT64_MAX),
      constantNode('one', int64Tensor('', [1])),
      node('Slice', ['s', 'zero', 'one'], ['b1']),
      node('Squeeze', ['b1', 'zero'], ['b0']),
      node('Unsqueeze', ['b0', 'zero'], ['b']),
      node('Slice', ['s', 'one', 'big'], ['rest']),
      constantNode('axis0', int64Tensor('', [0], [])),
      node('Gather', ['rest', 'axis0'], ['c']),
      node('Mul', ['c', 'c9'], ['c36']),
      node('Unsqueeze', ['c36', 'zero'], ['cu']),
      node('Concat', ['b', 'cu'], ['shape'], { axis: 0 }),
      node('Reshape', ['x', 'shape'], ['y']),
    ],
  },
  {
    // x.view(x.size(0), x.size(1) * x.size(2) * x.size(3)), with the Casts the tracer writes.
    name: 'Shape → Gather → Cast → Mul → Unsqueeze (attribute) → Concat',
    opset: 11,
    want: [0, 36],
    nodes: [
      node('Shape', ['x'], ['s']),
      ...[0, 1, 2, 3].flatMap((i) => [
        constantNode(`i${i}`, int64Tensor('', [i], [])),
        node('Gather', ['s', `i${i}`], [`d${i}`], { axis: 0 }),
      ]),
      node('Cast', ['d1'], ['f1'], { to: DT.FLOAT }),
      node('Cast', ['f1'], ['c1'], { to: DT.INT64 }),
      node('Mul', ['c1', 'd2'], ['m12']),
      node('Mul', ['m12', 'd3'], ['m']),
      node('Unsqueeze', ['d0'], ['u0'], { axes: [0] }),
      node('Unsqueeze', ['m'], ['u1'], { axes: [0] }),
      node('Concat', ['u0', 'u1'], ['shape'], { axis: 0 }),
      node('Reshape', ['x', 'shape'], ['y']),
    ],
  },
  {
    // The batch away from position 0 becomes the one -1: [N, 4, 3, 3] → [4, N, 9].
    name: 'batch at position 1',
    opset: 13,
    want: [4, -1, 9],
    nodes: [
      node('Shape', ['x'], ['s']),
      constantNode('i0', int64Tensor('', [0], [])),
      node('Gather', ['s', 'i0'], ['d0'], { axis: 0 }),
      constantNode('ax', int64Tensor('', [0])),
      node('Unsqueeze', ['d0', 'ax'], ['u0']),
      constantNode('four', int64Tensor('', [4])),
      constantNode('nine', int64Tensor('', [9])),
      node('Concat', ['four', 'u0', 'nine'], ['shape'], { axis: 0 }),
      node('Reshape', ['x', 'shape'], ['r']),
      node('Transpose', ['r'], ['y'], { perm: [1, 0, 2] }),
    ],
  },
];

describe('foldShapeComputations', () => {
  it.each(SHAPE_PATTERNS)(
    'folds $name into a constant Reshape (opset $opset)',
    async ({ opset, nodes, want, inits }) => {
      const bytes = graph(opset, nodes, inits, ['N', 4, 3, 3]);
      const model = readOnnx(bytes);
      const folded = foldShapeComputations(model, (await inferShapes(model)).shapes);
      const ops = folded.graph!.node!.map((n) => n.opType);
      expect(ops.filter((o) => o !== 'Reshape' && o !== 'Transpose')).toEqual([]);
      const reshape = folded.graph!.node!.find((n) => n.opType === 'Reshape')!;
      expect(
        Array.from(initializerValues(folded.graph!.initializer!.find((t) => t.name === reshape.input![1])!)),
      ).toEqual(want);
      // No initializer is left that nothing reads (c9 fed the removed Mul).
      const read = new Set(folded.graph!.node!.flatMap((n) => n.input ?? []));
      expect(folded.graph!.initializer!.filter((t) => !read.has(t.name!))).toEqual([]);
      const x = fixedInput(3 * 36);
      const ref = (await runNode(bytes, x, [3, 4, 3, 3])).y!;
      expect(maxAbsDiff((await runNode(writeOnnx(folded), x, [3, 4, 3, 3])).y!, ref)).toBe(0);
      expect(maxAbsDiff(runTfjs(writeOnnx(folded), x, [3, 4, 3, 3]).y!, ref)).toBe(0);
    },
  );
});

const BACKBONES = [
  {
    name: 'mobilenet, opset 11 (HardSigmoid·x, Unsqueeze axes attribute)',
    make: () => foreignMobileNet({ opset: 11 }),
  },
  { name: 'mobilenet, opset 13 (Unsqueeze axes input)', make: () => foreignMobileNet({ opset: 13 }) },
  { name: 'mobilenet, opset 17 (HardSwish)', make: () => foreignMobileNet({ opset: 17 }) },
  { name: 'mobilenet, opset 18 (ReduceMean axes input)', make: () => foreignMobileNet({ opset: 18 }) },
  {
    name: 'vgg with x.view(x.size(0), -1), opset 11',
    make: () => foreignVgg({ batchNorm: false, opset: 11, view: true }),
  },
  {
    name: 'vgg + BatchNormalization with x.view(x.size(0), -1), opset 13',
    make: () => foreignVgg({ batchNorm: true, opset: 13, view: true }),
  },
];

describe.each(BACKBONES)('a foreign $name', ({ make }) => {
  const bytes = make();
  const x = fixedInput(3 * 784);

  it('analyses to a folded graph of supported ops, with depthwise convs counted per channel', async () => {
    const a = await analyseBackbone(bytes);
    const ops = a.model.graph!.node!.map((n) => n.opType!);
    expect(ops.filter((o) => !SUPPORTED_OPS.has(o))).toEqual([]);
    expect(readOnnx(bytes).graph!.node!.some((n) => n.opType === 'Shape')).toBe(true);
    const reshape = a.model.graph!.node!.find((n) => n.opType === 'Reshape')!;
    expect(
      Array.from(initializerValues(a.model.graph!.initializer!.find((t) => t.name === reshape.input![1])!)),
    ).toEqual([0, -1]);
    a.model.graph!.node!.forEach((n, i) => {
      if (n.opType !== 'Conv' || attrInt(n, 'group', 1) === 1) return;
      expect(a.nodeMacs[i]).toBe(a.shapes.get(n.output![0]!)!.reduce((p, d) => p * d, 1) * 9);
    });
    // The folded graph is the exported one at any batch, and tfjs agrees.
    const ref = Object.values(await runNode(bytes, x, [3, 1, 28, 28]))[0]!;
    expect(maxAbsDiff(Object.values(await runNode(writeOnnx(a.model), x, [3, 1, 28, 28]))[0]!, ref)).toBeLessThan(1e-6);
    expect(maxAbsDiff(Object.values(runTfjs(writeOnnx(a.model), x, [3, 1, 28, 28]))[0]!, ref)).toBeLessThan(1e-4);
  });

  it('splits at valid cuts into segments that chain back to the outputs and agree across the runtimes', async () => {
    const a = await analyseBackbone(bytes);
    expect(a.cuts.length).toBeGreaterThanOrEqual(3);
    const cuts = chooseCuts(a.cuts, [0.15, 0.4, 0.7]);
    expect(cuts.length).toBe(3);
    const segments = splitAt(
      a.model,
      cuts.map((c) => c.tensor),
      a.shapes,
    ).map(writeOnnx);
    const ref = await runNode(bytes, x, [3, 1, 28, 28]);
    let cur = x,
      dims = [3, 1, 28, 28];
    for (const [i, s] of segments.entries()) {
      const p = await parity(s, cur, dims);
      expect(p.tfjs, `segment ${i} tfjs`).toBeLessThan(1e-4);
      expect(p.web, `segment ${i} web`).toBeLessThan(1e-4);
      cur = Object.values(p.outputs)[0]!;
      dims = i < cuts.length ? [3, ...cuts[i]!.shape.slice(1)] : [3, 10];
    }
    expect(maxAbsDiff(cur, Object.values(ref)[0]!)).toBeLessThan(1e-5);
  });
});

/** 1×1×28×28 → … → Gemm logits, with `middle` between a 1×1 conv stem and the pooled head. */
function headed(opset: number, middle: Node[], inits: TensorProto[] = []): Uint8Array {
  return writeOnnx(
    makeModel(
      {
        name: 'g',
        node: [
          node('Conv', ['input', 'w0'], ['c0'], { kernel_shape: [1, 1] }, '/stem/Conv'),
          ...middle,
          node('GlobalAveragePool', ['m'], ['p'], {}, '/pool'),
          node('Flatten', ['p'], ['f'], { axis: 1 }, '/flatten'),
          node('Gemm', ['f', 'wf'], ['logits'], { transB: 1 }, '/fc/Gemm'),
        ],
        initializer: [conv('w0', [4, 1, 1, 1], 3), conv('wf', [10, 4], 4), ...inits],
        input: [valueInfo('input', ['N', 1, 28, 28])],
        output: [valueInfo('logits', ['N', 10])],
      },
      opset,
    ),
  );
}

describe('unsupported ops are reported all at once', () => {
  it('names every unsupported node, grouped by op type, in one OnnxError', async () => {
    const bytes = headed(
      13,
      [
        node('Einsum', ['c0'], ['e1'], { equation: 'nchw->nchw' }, '/mix/Einsum'),
        node('Resize', ['e1', '', 'scales'], ['r'], { mode: 'nearest' }, '/up/Resize'),
        node('Einsum', ['r'], ['m'], { equation: 'nchw->nchw' }, '/mix2/Einsum'),
      ],
      [f32('scales', [1, 1, 2, 2])],
    );
    const e = await analyseBackbone(bytes).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OnnxError);
    const msg = (e as OnnxError).message;
    expect(msg).toMatch(/^3 nodes use ops that are not supported:/);
    expect(msg).toContain('Einsum × 2: "/mix/Einsum", "/mix2/Einsum"');
    expect(msg).toContain('Resize × 1: "/up/Resize"');
    expect(msg).toMatch(/supported: Conv, .*HardSwish/);
  });

  it('keeps shape arithmetic it cannot prove constant, and reports it', async () => {
    // Expand to Shape(c0): not a Reshape, so nothing is folded.
    const bytes = headed(
      13,
      [
        node('Shape', ['c0'], ['s'], {}, '/Shape'),
        node('Expand', ['half', 's'], ['h'], {}, '/Expand'),
        node('Mul', ['c0', 'h'], ['m'], {}, '/Mul'),
      ],
      [scalar('half', 0.5)],
    );
    await expect(analyseBackbone(bytes)).rejects.toThrow(
      /2 nodes use ops that are not supported:\n {2}Shape × 1: "\/Shape"\n {2}Expand × 1: "\/Expand"\n.*could not be folded/,
    );
  });

  it('names the domain of custom ops', () => {
    const m = readOnnx(headed(13, [node('Relu', ['c0'], ['m'])]));
    m.graph!.node!.splice(1, 0, { ...node('FakeOp', ['c0'], ['z'], {}, '/custom/FakeOp'), domain: 'com.example' });
    expect(() => checkOps(m)).toThrow(
      /1 node uses ops that are not supported:\n {2}FakeOp \(domain com\.example\) × 1: "\/custom\/FakeOp"/,
    );
  });
});
