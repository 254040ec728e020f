/**
 * Backbones "made by another tool": graphs in the form torch.onnx.export usually writes them
 * (path-like node names, `onnx::` tensor names, Conv with bias, separate BatchNormalization nodes,
 * Gemm with transB=1, Flatten, Reshape with a constant shape or the `x.view(x.size(0), -1)`
 * Shape/Gather/Unsqueeze/Concat pattern), random weights, 1×28×28 input. ResNet-, VGG-, DenseNet-
 * and MobileNet-shaped, at several opsets.
 *
 * @example
 * const bytes = foreignMobileNet({ opset: 18 }); // Clip, depthwise convs, HardSwish, squeeze-excite
 */

import { gaussian, mulberry32 } from '../../training/backbone/resnet.js';
import {
  constantNode,
  floatTensor,
  int64Tensor,
  makeModel,
  type Node,
  node,
  type TensorProto,
  valueInfo,
  writeOnnx,
} from '../../training/onnx/proto.js';

class Builder {
  nodes: Node[] = [];
  inits: TensorProto[] = [];
  private k = 0;
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }

  private t(): string {
    return `onnx::${100 + this.k++}`;
  }

  weight(name: string, dims: number[], std: number): string {
    this.inits.push(
      floatTensor(
        name,
        dims,
        gaussian(
          this.rand,
          dims.reduce((a, b) => a * b, 1),
          std,
        ),
      ),
    );
    return name;
  }

  conv(path: string, x: string, cin: number, cout: number, k: number, stride = 1, bias = true, group = 1): string {
    const out = this.t();
    const w = this.weight(`${path}.weight`, [cout, cin / group, k, k], Math.sqrt((2 * group) / (cin * k * k)));
    const ins = [x, w];
    if (bias) ins.push(this.weight(`${path}.bias`, [cout], 0.05));
    const p = Math.floor(k / 2);
    this.nodes.push(
      node(
        'Conv',
        ins,
        [out],
        { kernel_shape: [k, k], strides: [stride, stride], pads: [p, p, p, p], dilations: [1, 1], group },
        `/${path.replaceAll('.', '/')}/Conv`,
      ),
    );
    return out;
  }

  /** A Constant node, as the exporter writes scalars and small shapes. */
  constant(t: TensorProto): string {
    const out = this.t();
    this.nodes.push(constantNode(out, t, `/Constant_${this.k}`));
    return out;
  }

  /** `x.view(x.size(0), -1)`: Shape → Gather(0) → Unsqueeze → Concat with [-1] → Reshape (Unsqueeze axes an input from opset 13). */
  view(x: string, opset: number): string {
    const dim0 = this.op(
      'Gather',
      [this.op('Shape', [x], {}, '/Shape'), this.constant(int64Tensor('', [0], []))],
      { axis: 0 },
      '/Gather',
    );
    const batch =
      opset >= 13
        ? this.op('Unsqueeze', [dim0, this.constant(int64Tensor('', [0]))], {}, '/Unsqueeze')
        : this.op('Unsqueeze', [dim0], { axes: [0] }, '/Unsqueeze');
    const shape = this.op('Concat', [batch, this.constant(int64Tensor('', [-1]))], { axis: 0 }, '/Concat');
    return this.op('Reshape', [x, shape], {}, '/Reshape');
  }

  bn(path: string, x: string, c: number): string {
    const out = this.t();
    const pos = (name: string, base: number, spread: number) => {
      this.inits.push(
        floatTensor(
          `${path}.${name}`,
          [c],
          Float32Array.from({ length: c }, () => base + spread * this.rand()),
        ),
      );
      return `${path}.${name}`;
    };
    this.nodes.push(
      node(
        'BatchNormalization',
        [
          x,
          pos('weight', 0.8, 0.4),
          pos('bias', -0.1, 0.2),
          pos('running_mean', -0.1, 0.2),
          pos('running_var', 0.5, 1),
        ],
        [out],
        { epsilon: 1e-5, momentum: 0.9 },
        `/${path.replaceAll('.', '/')}/BatchNormalization`,
      ),
    );
    return out;
  }

  op(type: string, inputs: string[], attrs: Record<string, number | number[]> = {}, name?: string): string {
    const out = this.t();
    this.nodes.push(node(type, inputs, [out], attrs, name ?? `/${type}_${this.k}`));
    return out;
  }

  gemm(path: string, x: string, cin: number, cout: number, output?: string): string {
    const out = output ?? this.t();
    const w = this.weight(`${path}.weight`, [cout, cin], Math.sqrt(1 / cin));
    const b = this.weight(`${path}.bias`, [cout], 0.05);
    this.nodes.push(node('Gemm', [x, w, b], [out], { alpha: 1.0, beta: 1.0, transB: 1 }, `/${path}/Gemm`));
    return out;
  }

  model(opset: number, input: string, output: string, classes: number): Uint8Array {
    return writeOnnx(
      makeModel(
        {
          name: 'main_graph',
          node: this.nodes,
          initializer: this.inits,
          input: [valueInfo(input, ['batch_size', 1, 28, 28])],
          output: [valueInfo(output, ['batch_size', classes])],
        },
        opset,
        'pytorch',
      ),
    );
  }
}

/** ResNet-shaped: conv-BN-relu stem, two basic blocks (one downsampling with a 1×1 shortcut). */
export function foreignResNet(opts: { batchNorm: boolean; opset: number }): Uint8Array {
  const b = new Builder(11);
  // torch names: layerN.M.convK + layerN.M.bnK, downsample.0 (conv) + downsample.1 (bn)
  const cbr = (path: string, x: string, cin: number, cout: number, k: number, s: number, relu = true) => {
    let y = b.conv(path, x, cin, cout, k, s, !opts.batchNorm);
    if (opts.batchNorm) y = b.bn(path.endsWith('.0') ? path.replace(/0$/, '1') : path.replace('conv', 'bn'), y, cout);
    return relu ? b.op('Relu', [y]) : y;
  };
  let x = cbr('conv1', 'input.1', 1, 8, 3, 1);
  x = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }, '/maxpool/MaxPool');
  // layer1.0: identity shortcut
  let y = cbr('layer1.0.conv1', x, 8, 8, 3, 1);
  y = cbr('layer1.0.conv2', y, 8, 8, 3, 1, false);
  x = b.op('Relu', [b.op('Add', [y, x], {}, '/layer1/layer1.0/Add')], {}, '/layer1/layer1.0/relu_1/Relu');
  // layer2.0: downsampling, 1×1 conv shortcut
  y = cbr('layer2.0.conv1', x, 8, 16, 3, 2);
  y = cbr('layer2.0.conv2', y, 16, 16, 3, 1, false);
  const sc = cbr('layer2.0.downsample.0', x, 8, 16, 1, 2, false);
  x = b.op('Relu', [b.op('Add', [y, sc], {}, '/layer2/layer2.0/Add')], {}, '/layer2/layer2.0/relu_1/Relu');
  // layer3.0
  y = cbr('layer3.0.conv1', x, 16, 16, 3, 1);
  y = cbr('layer3.0.conv2', y, 16, 16, 3, 1, false);
  x = b.op('Relu', [b.op('Add', [y, x], {}, '/layer3/layer3.0/Add')], {}, '/layer3/layer3.0/relu_1/Relu');
  x = b.op('GlobalAveragePool', [x], {}, '/avgpool/GlobalAveragePool');
  x = b.op('Flatten', [x], { axis: 1 }, '/Flatten');
  b.gemm('fc', x, 16, 10, 'output');
  return b.model(opts.opset, 'input.1', 'output', 10);
}

/** VGG-shaped: conv-relu pairs and max pools, Reshape with a constant shape (or `view`: the Shape pattern), two Gemms. */
export function foreignVgg(opts: { batchNorm: boolean; opset: number; view?: boolean }): Uint8Array {
  const b = new Builder(12);
  let x = 'input';
  let cin = 1;
  [[8, 8], [16, 16], [24]].forEach((stage, s) => {
    stage.forEach((cout, i) => {
      const path = `features.${s}.${i}`;
      x = b.conv(path, x, cin, cout, 3, 1, !opts.batchNorm);
      if (opts.batchNorm) x = b.bn(`${path}.bn`, x, cout);
      x = b.op('Relu', [x], {}, `/features/${s}/${i}/Relu`);
      cin = cout;
    });
    x = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }, `/features/pool${s}/MaxPool`);
  });
  // 28 → 14 → 7 → 3
  if (opts.view) {
    x = b.view(x, opts.opset);
  } else {
    b.inits.push(int64Tensor('onnx::Reshape_shape', [-1, 24 * 3 * 3]));
    x = b.op('Reshape', [x, 'onnx::Reshape_shape'], {}, '/Reshape');
  }
  x = b.op('Relu', [b.gemm('classifier.0', x, 24 * 9, 32)], {}, '/classifier/1/Relu');
  b.gemm('classifier.3', x, 32, 10, 'logits');
  return b.model(opts.opset, 'input', 'logits', 10);
}

/**
 * DenseNet-shaped: dense blocks (BN-relu-conv, Concat along channels) and AveragePool transitions.
 * Small by default; `init`, `growth` and `layers` (per block) make the wide maps whose features
 * strain memory (bench/byom/densenet-memory.ts).
 */
export function foreignDenseNet(opts: {
  batchNorm: boolean;
  opset: number;
  init?: number;
  growth?: number;
  layers?: number[];
}): Uint8Array {
  const b = new Builder(13);
  const growth = opts.growth ?? 6,
    init = opts.init ?? 8,
    layers = opts.layers ?? [2, 2];
  let x = b.conv('features.conv0', 'input', 1, init, 3, 1, true);
  let c = init;
  for (let blk = 1; blk <= layers.length; blk++) {
    for (let l = 1; l <= layers[blk - 1]!; l++) {
      const path = `features.denseblock${blk}.denselayer${l}`;
      let y = opts.batchNorm ? b.bn(`${path}.norm1`, x, c) : x;
      y = b.op('Relu', [y], {}, `/${path.replaceAll('.', '/')}/relu1/Relu`);
      y = b.conv(`${path}.conv1`, y, c, growth, 3, 1, !opts.batchNorm);
      x = b.op('Concat', [x, y], { axis: 1 }, `/${path.replaceAll('.', '/')}/Concat`);
      c += growth;
    }
    const tp = `features.transition${blk}`;
    let y = opts.batchNorm ? b.bn(`${tp}.norm`, x, c) : x;
    y = b.op('Relu', [y], {}, `/${tp.replaceAll('.', '/')}/relu/Relu`);
    y = b.conv(`${tp}.conv`, y, c, Math.floor(c / 2), 1, 1, !opts.batchNorm);
    x = b.op(
      'AveragePool',
      [y],
      { kernel_shape: [2, 2], strides: [2, 2] },
      `/${tp.replaceAll('.', '/')}/pool/AveragePool`,
    );
    c = Math.floor(c / 2);
  }
  x = b.op('Relu', [x], {}, '/features/relu_final/Relu');
  x = b.op('GlobalAveragePool', [x], {}, '/GlobalAveragePool');
  x = b.op('Flatten', [x], { axis: 1 }, '/Flatten');
  b.gemm('classifier', x, c, 10, 'logits');
  return b.model(opts.opset, 'input', 'logits', 10);
}

/**
 * MobileNet-shaped (V2/V3 style): conv-BN-ReLU6 stem (Clip 0..6), inverted residual blocks with
 * depthwise 3×3 convs (group = channels), HardSwish (HardSigmoid·x before opset 14, as PyTorch
 * exports it), squeeze-excite (GlobalAveragePool in one block, ReduceMean over [2, 3] in the other:
 * 1×1 conv → Relu → 1×1 conv → HardSigmoid → Mul), and `x.view(x.size(0), -1)` before the Gemm.
 * Opset 11 or later (Clip's bounds are inputs); ReduceMean takes its axes as an input from 18.
 */
export function foreignMobileNet(opts: { opset: number }): Uint8Array {
  const b = new Builder(14);
  const { opset } = opts;
  // ReLU6: Clip with min/max from Constant nodes (the stem) or initializers (features.1).
  const relu6 = (path: string, x: string, constants: boolean) => {
    const bound = (v: number, name: string) => {
      if (constants) return b.constant(floatTensor('', [], Float32Array.of(v)));
      b.inits.push(floatTensor(name, [], Float32Array.of(v)));
      return name;
    };
    return b.op(
      'Clip',
      [x, bound(0, `onnx::Clip_${path}_min`), bound(6, `onnx::Clip_${path}_max`)],
      {},
      `/${path}/Clip`,
    );
  };
  const hardswish = (path: string, x: string) =>
    opset >= 14
      ? b.op('HardSwish', [x], {}, `/${path}/HardSwish`)
      : b.op(
          'Mul',
          [x, b.op('HardSigmoid', [x], { alpha: 1 / 6, beta: 0.5 }, `/${path}/HardSigmoid`)],
          {},
          `/${path}/Mul`,
        );
  const cbn = (path: string, x: string, cin: number, cout: number, k: number, s: number, group = 1) =>
    b.bn(`${path}.1`, b.conv(`${path}.0`, x, cin, cout, k, s, false, group), cout);
  const pool = (path: string, x: string, reduceMean: boolean) => {
    if (!reduceMean) return b.op('GlobalAveragePool', [x], {}, `/${path}/GlobalAveragePool`);
    return opset >= 18
      ? b.op('ReduceMean', [x, b.constant(int64Tensor('', [2, 3]))], { keepdims: 1 }, `/${path}/ReduceMean`)
      : b.op('ReduceMean', [x], { axes: [2, 3], keepdims: 1 }, `/${path}/ReduceMean`);
  };
  const se = (path: string, x: string, c: number, squeeze: number, reduceMean: boolean) => {
    let s = b.conv(`${path}.fc1`, pool(path, x, reduceMean), c, squeeze, 1);
    s = b.conv(`${path}.fc2`, b.op('Relu', [s], {}, `/${path}/relu/Relu`), squeeze, c, 1);
    return b.op(
      'Mul',
      [x, b.op('HardSigmoid', [s], { alpha: 1 / 6, beta: 0.5 }, `/${path}/scale_activation/HardSigmoid`)],
      {},
      `/${path}/Mul`,
    );
  };
  /** expand 1×1 → depthwise 3×3 → squeeze-excite → project 1×1, residual when shapes allow. */
  const block = (
    i: number,
    x: string,
    cin: number,
    hidden: number,
    cout: number,
    stride: number,
    reduceMean: boolean,
  ) => {
    const p = `features.${i}.block`;
    let y = hardswish(`${p}.0`, cbn(`${p}.0`, x, cin, hidden, 1, 1));
    y = hardswish(`${p}.1`, cbn(`${p}.1`, y, hidden, hidden, 3, stride, hidden));
    y = cbn(`${p}.3`, se(`${p}.2`, y, hidden, 8, reduceMean), hidden, cout, 1, 1);
    return stride === 1 && cin === cout ? b.op('Add', [y, x], {}, `/features/${i}/Add`) : y;
  };
  let x = relu6('features/0/2', cbn('features.0', 'input', 1, 8, 3, 2), true); // 28 → 14
  // features.1: MobileNetV2's first block, depthwise → project, ReLU6, identity shortcut.
  const y = relu6('features/1/conv/0/2', cbn('features.1.conv.0', x, 8, 8, 3, 1, 8), false);
  x = b.op('Add', [cbn('features.1.conv.1', y, 8, 8, 1, 1), x], {}, '/features/1/Add');
  x = block(2, x, 8, 24, 16, 2, false); // 14 → 7
  x = block(3, x, 16, 32, 16, 1, true);
  x = hardswish('features/4', cbn('features.4', x, 16, 48, 1, 1));
  x = b.view(b.op('GlobalAveragePool', [x], {}, '/avgpool/GlobalAveragePool'), opset);
  b.gemm('classifier', x, 48, 10, 'logits');
  return b.model(opset, 'input', 'logits', 10);
}
