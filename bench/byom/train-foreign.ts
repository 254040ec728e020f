/**
 * "Bring your own model" stand-ins (issue 11): VGG-, ResNet-, DenseNet- and MobileNet-shaped Fashion-MNIST classifiers
 * trained the way a user would train one elsewhere, and exported in the form PyTorch's
 * `torch.onnx.export(model.eval(), x, f, opset_version=17, do_constant_folding=False,
 * input_names=['input.1'], output_names=['output'], dynamic_axes={…: {0: 'batch_size'}})` writes, so
 * that `npm run train -- attach --backbone=<file>.onnx` can be tried on CNNs this repo did not make.
 *
 * Why not PyTorch itself: it cannot be installed on this machine (no PyPI). So the training runs on
 * tfjs (the repo's wasm backend with its conv-gradient kernels, ../../training/tf.ts), but the model
 * and the exporter are written here, independently of the repo's own backbone (training/backbone/
 * resnet.ts, export.ts), and follow PyTorch's conventions rather than the repo's:
 *   - the whole standard training set (60,000 images, including the 5,000 the repo holds out as its
 *     validation split), no early stopping: the last epoch is what gets exported;
 *   - torchvision module names (`layer1.0.conv1`, `layer2.0.downsample.0`, `features.3`,
 *     `classifier.0`) as state_dict initializer names, path-like node names
 *     (`/layer1/layer1.0/conv1/Conv`, `/layer1/layer1.0/relu_1/Relu` for the block's reused ReLU),
 *     TorchScript-style `onnx::<FirstConsumer>_<n>` intermediate tensor names, value_info for every
 *     intermediate, producer "pytorch";
 *   - nothing folded: every BatchNormalization is its own node (epsilon 1e-5, momentum 0.9) holding
 *     the running statistics (PyTorch's momentum 0.1, unbiased batch variance); the ResNet's convs
 *     have no bias (torchvision's ResNet), the VGG's do (torchvision's `vgg*_bn` keeps `nn.Conv2d`'s
 *     default bias before each BN; it gets no gradient through the BN and the running mean absorbs it);
 *   - PyTorch padding: `padding=1` on every 3×3 conv, so a stride-2 conv pads 1 on all sides (tfjs's
 *     'same' would pad bottom/right only and disagree); floor-mode 2×2 max pools (7 → 3);
 *   - the VGG flattens NCHW (channel-major), as `torch.flatten` does, then Gemm(transB=1) with
 *     [out, in] weights;
 *   - Adam (β 0.9/0.999, ε 1e-8, L2 1e-4 on conv/linear weights), batch 128, lr 0.003 with a linear
 *     warm-up over the first quarter epoch then cosine decay to 0, random ±1 px shifts and horizontal
 *     flips; BatchNorm in training mode (batch statistics).
 *
 * Input: NCHW [batch_size, 1, 28, 28], x = (u8/255 − 0.2860)/0.3530 (the repo's default, so attach's
 * defaults apply). Epochs: unless --epochs is given, the first 60 steps are timed and the epoch count
 * is set so training takes about --budget-min minutes (default 20); the choice is kept in the
 * checkpoint. A checkpoint (weights, BN statistics, Adam moments, history) is written after every
 * epoch under bench/byom/work/<model>/ (gitignored); run the same command again to continue a stopped
 * run, or, once all epochs are done, to redo the export and its checks only.
 *
 * Output: bench/byom/models/<model>.onnx and <model>.json (how it was trained; train/test accuracy
 * measured by onnxruntime-node on the exported file; parity with the tfjs model).
 *
 * @example
 * npx tsx bench/byom/train-foreign.ts --model=vgg
 * npx tsx bench/byom/train-foreign.ts --model=resnet --width=8   # halved widths (8, 16, 32)
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { normaliseImages } from '../../core/normalise.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../../core/safetensors.js';
import { cliArgs, text, usageExit } from '../../scripts/cli-args.js';
import { type BatchNormState, BN_EPSILON, batchNorm } from '../../training/backbone/batch-norm.js';
import { gaussian, mulberry32 } from '../../training/backbone/resnet.js';
import { gatherBatch, shuffled } from '../../training/backbone/train.js';
import type { Dataset, Split } from '../../training/data/dataset.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import {
  constantNode,
  DEFAULT_OPSET,
  floatTensor,
  makeModel,
  type Node,
  node,
  type TensorProto,
  type ValueInfo,
  valueInfo,
  writeOnnx,
} from '../../training/onnx/proto.js';
import { adamTensors, restoreAdam } from '../../training/optimizer-state.js';
import { initTf, type tf as TF } from '../../training/tf.js';

type Tf = typeof TF;
type T4 = TF.Tensor4D;

const MEAN = [0.286];
const STD = [0.353];
const SHAPE = { channels: 1, height: 28, width: 28 };
const CLASSES = 10;
const ROOT = 'bench/byom';

// ---------------------------------------------------------------------------------------------
// Parameters, named as the PyTorch module tree would name them.

interface ConvP {
  kind: 'conv';
  path: string;
  k: number;
  stride: number;
  pad: number;
  cin: number;
  cout: number;
  /** nn.Conv2d's `groups`: 1, or `cin` (depthwise, tfjs weight [k, k, cin, 1]). */
  groups: number;
  weight: TF.Variable;
  bias?: TF.Variable;
}
interface BnP {
  kind: 'bn';
  path: string;
  c: number;
  state: BatchNormState /** Elements per channel in the last training batch (for the unbiased variance). */;
  lastCount?: number;
}
interface LinearP {
  kind: 'linear';
  path: string;
  cin: number;
  cout: number;
  weight: TF.Variable;
  bias: TF.Variable;
}
type Param = ConvP | BnP | LinearP;

class Params {
  readonly all: Param[] = [];
  private readonly rand: () => number;
  constructor(
    private readonly tf: Tf,
    seed: number,
  ) {
    this.rand = mulberry32(seed);
  }

  private uniform(n: number, bound: number): Float32Array {
    return Float32Array.from({ length: n }, () => (this.rand() * 2 - 1) * bound);
  }

  /**
   * He-normal weights (kaiming_normal_, fan_in); a bias as nn.Conv2d's default U(±1/√fan_in).
   * `depthwise`: groups = cin = cout, one k×k filter per channel.
   */
  conv(path: string, cin: number, cout: number, k: number, stride: number, bias: boolean, depthwise = false): ConvP {
    const tf = this.tf;
    if (depthwise && cin !== cout) throw new Error(`${path}: a depthwise conv keeps its channels`);
    const fanIn = (depthwise ? 1 : cin) * k * k;
    const dims: [number, number, number, number] = depthwise ? [k, k, cin, 1] : [k, k, cin, cout];
    const weight = tf.variable(
      tf.tensor4d(gaussian(this.rand, k * k * cin * dims[3], Math.sqrt(2 / fanIn)), dims),
      true,
    );
    const groups = depthwise ? cin : 1;
    const p: ConvP = { kind: 'conv', path, k, stride, pad: (k - 1) / 2, cin, cout, groups, weight };
    if (bias) p.bias = tf.variable(tf.tensor1d(this.uniform(cout, 1 / Math.sqrt(fanIn))), true);
    this.all.push(p);
    return p;
  }

  bn(path: string, c: number): BnP {
    const tf = this.tf;
    const p: BnP = {
      kind: 'bn',
      path,
      c,
      state: {
        gamma: tf.variable(tf.ones([c]), true),
        beta: tf.variable(tf.zeros([c]), true),
        runningMean: tf.zeros([c]),
        runningVar: tf.ones([c]),
        pending: undefined,
      },
    };
    this.all.push(p);
    return p;
  }

  /** nn.Linear's default init: weight and bias U(±1/√in). Stored [in, out] (tfjs matMul). */
  linear(path: string, cin: number, cout: number): LinearP {
    const tf = this.tf;
    const b = 1 / Math.sqrt(cin);
    const p: LinearP = {
      kind: 'linear',
      path,
      cin,
      cout,
      weight: tf.variable(tf.tensor2d(this.uniform(cin * cout, b), [cin, cout]), true),
      bias: tf.variable(tf.tensor1d(this.uniform(cout, b)), true),
    };
    this.all.push(p);
    return p;
  }

  trainable(): TF.Variable[] {
    return this.all.flatMap((p) =>
      p.kind === 'bn' ? [p.state.gamma, p.state.beta] : [p.weight, ...(p.bias ? [p.bias] : [])],
    );
  }

  decayed(): TF.Variable[] {
    return this.all.flatMap((p) => (p.kind === 'bn' ? [] : [p.weight]));
  }

  /** PyTorch's running-stat update: r ← 0.9·r + 0.1·batch, the variance unbiased (n/(n−1)). */
  commitBatchNorm(momentum: number): void {
    const tf = this.tf;
    for (const p of this.all) {
      if (p.kind !== 'bn' || !p.state.pending) continue;
      const s = p.state,
        q = p.state.pending;
      const n = p.lastCount ?? 1;
      const m = tf.tidy(() => tf.add(tf.mul(s.runningMean, momentum), tf.mul(q.mean, 1 - momentum)));
      const v = tf.tidy(() =>
        tf.add(tf.mul(s.runningVar, momentum), tf.mul(q.variance, (1 - momentum) * (n > 1 ? n / (n - 1) : 1))),
      );
      s.runningMean.dispose();
      s.runningVar.dispose();
      q.mean.dispose();
      q.variance.dispose();
      s.runningMean = m;
      s.runningVar = v;
      s.pending = undefined;
    }
  }

  /** Every tensor under its state_dict name, in the PyTorch layout (conv OIHW, linear [out, in]). */
  stateDict(): Record<string, { shape: number[]; data: Float32Array }> {
    const tf = this.tf;
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    const put = (name: string, t: TF.Tensor) => {
      out[name] = { shape: t.shape.slice(), data: Float32Array.from(t.dataSync()) };
    };
    for (const p of this.all) {
      if (p.kind === 'conv') {
        // OIHW: [k, k, cin, cout] → [cout, cin, k, k]; depthwise [k, k, c, 1] → [c, 1, k, k].
        tf.tidy(() => put(`${p.path}.weight`, tf.transpose(p.weight, p.groups > 1 ? [2, 3, 0, 1] : [3, 2, 0, 1])));
        if (p.bias) put(`${p.path}.bias`, p.bias);
      } else if (p.kind === 'bn') {
        put(`${p.path}.weight`, p.state.gamma);
        put(`${p.path}.bias`, p.state.beta);
        put(`${p.path}.running_mean`, p.state.runningMean);
        put(`${p.path}.running_var`, p.state.runningVar);
      } else {
        tf.tidy(() => put(`${p.path}.weight`, tf.transpose(p.weight)));
        put(`${p.path}.bias`, p.bias);
      }
    }
    return out;
  }

  loadStateDict(sd: Record<string, { shape: number[]; data: Float32Array }>): void {
    const tf = this.tf;
    const get = (name: string) => {
      const e = sd[name];
      if (!e) throw new Error(`checkpoint has no tensor "${name}"`);
      return tf.tensor(e.data, e.shape);
    };
    for (const p of this.all) {
      if (p.kind === 'conv') {
        p.weight.assign(
          tf.tidy(() => tf.transpose(get(`${p.path}.weight`), p.groups > 1 ? [2, 3, 0, 1] : [2, 3, 1, 0])),
        );
        if (p.bias) p.bias.assign(get(`${p.path}.bias`));
      } else if (p.kind === 'bn') {
        p.state.gamma.assign(get(`${p.path}.weight`));
        p.state.beta.assign(get(`${p.path}.bias`));
        p.state.runningMean.dispose();
        p.state.runningVar.dispose();
        p.state.runningMean = get(`${p.path}.running_mean`);
        p.state.runningVar = get(`${p.path}.running_var`);
      } else {
        p.weight.assign(tf.tidy(() => tf.transpose(get(`${p.path}.weight`))));
        p.bias.assign(get(`${p.path}.bias`));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The models, written once against an op interface that is run either by tfjs (training,
// evaluation) or by the ONNX tracer (export), like torch.onnx.export tracing a module's forward.

interface Ops<X> {
  conv(x: X, p: ConvP): X;
  bn(x: X, p: BnP): X;
  /** `module` is the ReLU module's path; calling the same module again is `<name>_1`, as torch names it. */
  relu(x: X, module: string): X;
  /** nn.ReLU6 (torch exports it as Clip(x, 0, 6)). */
  relu6(x: X, module: string): X;
  add(a: X, b: X, scope: string): X;
  maxPool(x: X, module: string): X;
  globalAvgPool(x: X, module: string): X;
  /** torch.flatten(x, 1) on NCHW. */
  flatten(x: X, module: string): X;
  linear(x: X, p: LinearP): X;
  /** torch.cat(xs, 1): channels. */
  concat(xs: X[], scope: string): X;
  /** nn.AvgPool2d(kernel_size=2, stride=2). */
  avgPool(x: X, module: string): X;
}

type ModelName = 'vgg' | 'resnet' | 'densenet' | 'mobilenet';
const MODELS: readonly ModelName[] = ['vgg', 'resnet', 'densenet', 'mobilenet'];
const DEFAULT_SEED: Record<ModelName, number> = { vgg: 7, resnet: 13, densenet: 17, mobilenet: 19 };

interface Net {
  name: ModelName;
  description: string;
  params: Params;
  forward<X>(ops: Ops<X>, x: X): X;
}

function buildVgg(tf: Tf, seed: number, w: number): Net {
  const P = new Params(tf, seed);
  type Layer = { conv: ConvP; bn: BnP; relu: string } | { pool: string };
  const layers: Layer[] = [];
  let i = 0,
    cin = 1;
  for (const v of [w, w, 'M', 2 * w, 2 * w, 'M', 4 * w, 4 * w, 'M'] as const) {
    if (v === 'M') {
      layers.push({ pool: `features.${i++}` });
      continue;
    }
    layers.push({
      conv: P.conv(`features.${i}`, cin, v, 3, 1, true),
      bn: P.bn(`features.${i + 1}`, v),
      relu: `features.${i + 2}`,
    });
    i += 3;
    cin = v;
  }
  const fc1 = P.linear('classifier.0', cin * 9, 64);
  const fc2 = P.linear('classifier.2', 64, CLASSES);
  return {
    name: 'vgg',
    description: `VGG-style: [conv3x3(bias)-BN-ReLU ×2, maxpool2] with ${w}, ${2 * w}, ${4 * w} channels (28→14→7→3), flatten, Linear(${cin * 9}→64)-ReLU-Linear(64→10)`,
    params: P,
    forward<X>(ops: Ops<X>, x: X): X {
      for (const l of layers)
        x = 'pool' in l ? ops.maxPool(x, l.pool) : ops.relu(ops.bn(ops.conv(x, l.conv), l.bn), l.relu);
      x = ops.flatten(x, '');
      x = ops.relu(ops.linear(x, fc1), 'classifier.1');
      return ops.linear(x, fc2);
    },
  };
}

function buildResNet(tf: Tf, seed: number, w: number): Net {
  const P = new Params(tf, seed);
  const conv1 = P.conv('conv1', 1, w, 3, 1, false);
  const bn1 = P.bn('bn1', w);
  interface Block {
    path: string;
    conv1: ConvP;
    bn1: BnP;
    conv2: ConvP;
    bn2: BnP;
    down?: [ConvP, BnP];
  }
  const blocks: Block[] = [];
  let cin = w;
  [w, 2 * w, 4 * w].forEach((width, s) => {
    for (let b = 0; b < 2; b++) {
      const path = `layer${s + 1}.${b}`;
      const stride = s > 0 && b === 0 ? 2 : 1;
      const blk: Block = {
        path,
        conv1: P.conv(`${path}.conv1`, cin, width, 3, stride, false),
        bn1: P.bn(`${path}.bn1`, width),
        conv2: P.conv(`${path}.conv2`, width, width, 3, 1, false),
        bn2: P.bn(`${path}.bn2`, width),
      };
      if (stride !== 1 || cin !== width)
        blk.down = [P.conv(`${path}.downsample.0`, cin, width, 1, stride, false), P.bn(`${path}.downsample.1`, width)];
      blocks.push(blk);
      cin = width;
    }
  });
  const fc = P.linear('fc', cin, CLASSES);
  return {
    name: 'resnet',
    description: `ResNet-style (torchvision BasicBlock, no stem max pool): conv3x3(1→${w})-BN-ReLU at 28×28, 3 stages × 2 basic blocks (${w}, ${2 * w}, ${4 * w} channels; stages 2 and 3 start with stride 2 and a 1×1 conv+BN shortcut), GlobalAveragePool, Linear(${cin}→10)`,
    params: P,
    forward<X>(ops: Ops<X>, x: X): X {
      x = ops.relu(ops.bn(ops.conv(x, conv1), bn1), 'relu');
      for (const b of blocks) {
        let y = ops.relu(ops.bn(ops.conv(x, b.conv1), b.bn1), `${b.path}.relu`);
        y = ops.bn(ops.conv(y, b.conv2), b.bn2);
        const skip = b.down ? ops.bn(ops.conv(x, b.down[0]), b.down[1]) : x;
        x = ops.relu(ops.add(y, skip, b.path), `${b.path}.relu`);
      }
      x = ops.globalAvgPool(x, 'avgpool');
      x = ops.flatten(x, '');
      return ops.linear(x, fc);
    },
  };
}

/**
 * torchvision's DenseNet (`models/densenet.py`) at Fashion-MNIST's size: `features.conv0`
 * (3×3, stride 1, instead of 7×7 stride 2 for 224² input), `norm0`, `relu0`, `pool0` (2×2 max pool:
 * 28→14), three dense blocks of 4 `_DenseLayer`s (growth `w`/2 + bottleneck 4·growth: norm1-relu1-
 * conv1 1×1, norm2-relu2-conv2 3×3, every layer reading torch.cat of all earlier features, as
 * torchvision's `_DenseLayer.bn_function` does), transitions (norm-relu-conv 1×1 halving the channels,
 * 2×2 average pool: 14→7→3), `norm5`, then forward's F.relu, adaptive average pool, flatten and
 * `classifier`. No conv has a bias; every BN is pre-activation, so none folds into a conv.
 */
function buildDenseNet(tf: Tf, seed: number, w: number): Net {
  const P = new Params(tf, seed);
  const growth = Math.max(2, Math.round(w * 0.75)),
    bottleneck = 4 * growth,
    layersPerBlock = 4;
  const init = 2 * growth;
  const conv0 = P.conv('features.conv0', 1, init, 3, 1, false);
  const norm0 = P.bn('features.norm0', init);
  interface Layer {
    path: string;
    norm1: BnP;
    conv1: ConvP;
    norm2: BnP;
    conv2: ConvP;
  }
  interface Block {
    layers: Layer[];
    transition?: { path: string; norm: BnP; conv: ConvP };
  }
  const blocks: Block[] = [];
  let c = init;
  for (let b = 1; b <= 3; b++) {
    const layers: Layer[] = [];
    for (let l = 1; l <= layersPerBlock; l++) {
      const path = `features.denseblock${b}.denselayer${l}`;
      layers.push({
        path,
        norm1: P.bn(`${path}.norm1`, c),
        conv1: P.conv(`${path}.conv1`, c, bottleneck, 1, 1, false),
        norm2: P.bn(`${path}.norm2`, bottleneck),
        conv2: P.conv(`${path}.conv2`, bottleneck, growth, 3, 1, false),
      });
      c += growth;
    }
    const block: Block = { layers };
    if (b < 3) {
      const path = `features.transition${b}`;
      const out = Math.floor(c / 2);
      block.transition = { path, norm: P.bn(`${path}.norm`, c), conv: P.conv(`${path}.conv`, c, out, 1, 1, false) };
      c = out;
    }
    blocks.push(block);
  }
  const norm5 = P.bn('features.norm5', c);
  const classifier = P.linear('classifier', c, CLASSES);
  return {
    name: 'densenet',
    description: `DenseNet-style (torchvision _DenseBlock/_Transition): conv3x3(1→${init})-BN-ReLU, maxpool2 (28→14), 3 dense blocks × ${layersPerBlock} layers (growth ${growth}, bottleneck ${bottleneck}, BN-ReLU-conv1x1-BN-ReLU-conv3x3, each reading the concat of all earlier features), transitions BN-ReLU-conv1x1 (compression 0.5)-avgpool2 (14→7→3), BN, ReLU, GlobalAveragePool, Linear(${c}→10)`,
    params: P,
    forward<X>(ops: Ops<X>, x: X): X {
      x = ops.relu(ops.bn(ops.conv(x, conv0), norm0), 'features.relu0');
      x = ops.maxPool(x, 'features.pool0');
      for (const b of blocks) {
        const features = [x];
        for (const l of b.layers) {
          const input = features.length === 1 ? features[0]! : ops.concat(features, l.path);
          let y = ops.relu(ops.bn(input, l.norm1), `${l.path}.relu1`);
          y = ops.relu(ops.bn(ops.conv(y, l.conv1), l.norm2), `${l.path}.relu2`);
          features.push(ops.conv(y, l.conv2));
        }
        x = ops.concat(features, b.layers[0]!.path.replace(/\.denselayer1$/, ''));
        if (b.transition) {
          const t = b.transition;
          x = ops.relu(ops.bn(x, t.norm), `${t.path}.relu`);
          x = ops.avgPool(ops.conv(x, t.conv), `${t.path}.pool`);
        }
      }
      x = ops.relu(ops.bn(x, norm5), '');
      x = ops.globalAvgPool(x, '');
      x = ops.flatten(x, '');
      return ops.linear(x, classifier);
    },
  };
}

/**
 * torchvision's MobileNetV2 (`models/mobilenetv2.py`) at Fashion-MNIST's size: `features.0`
 * Conv2dNormActivation (3×3 conv, stride 2, BN, ReLU6: 28→14), inverted
 * residual blocks `features.i.conv` (1×1 expand conv-BN-ReLU6 unless t = 1, 3×3 depthwise
 * conv-BN-ReLU6, 1×1 project conv, BN; `x + conv(x)` when stride 1 and the channels match) with
 * (t, c, n, s) = (1, w, 1, 1), (4, 1.5w, 2, 2), (4, 2w, 2, 1), (4, 4w, 2, 2): 14→7→4, a 1×1
 * Conv2dNormActivation to 8w channels, then forward's adaptive average pool, flatten and
 * `classifier` (Dropout, exported as nothing in eval mode, then Linear). No conv has a bias.
 */
function buildMobileNet(tf: Tf, seed: number, w: number): Net {
  const P = new Params(tf, seed);
  interface ConvBn {
    conv: ConvP;
    bn: BnP;
    act?: string;
  }
  const convBn = (path: string, cin: number, cout: number, k: number, stride: number, act: boolean, dw = false) => {
    const r: ConvBn = {
      conv: P.conv(`${path}.0`, cin, cout, k, stride, false, dw),
      bn: P.bn(`${path}.1`, cout),
    };
    if (act) r.act = `${path}.2`;
    return r;
  };
  const stem = convBn('features.0', 1, w, 3, 2, true);
  interface Block {
    path: string;
    layers: ConvBn[];
    residual: boolean;
  }
  const blocks: Block[] = [];
  let cin = w,
    i = 1;
  for (const [t, mult, n, s] of [
    [1, 1, 1, 1],
    [4, 1.5, 2, 2],
    [4, 2, 2, 1],
    [4, 4, 2, 2],
  ] as const) {
    const cout = Math.round(w * mult);
    for (let r = 0; r < n; r++, i++) {
      const path = `features.${i}.conv`;
      const stride = r === 0 ? s : 1;
      const hidden = cin * t;
      const layers: ConvBn[] = [];
      if (t !== 1) layers.push(convBn(`${path}.${layers.length}`, cin, hidden, 1, 1, true));
      layers.push(convBn(`${path}.${layers.length}`, hidden, hidden, 3, stride, true, true));
      const l = layers.length;
      layers.push({ conv: P.conv(`${path}.${l}`, hidden, cout, 1, 1, false), bn: P.bn(`${path}.${l + 1}`, cout) });
      blocks.push({ path: `features.${i}`, layers, residual: stride === 1 && cin === cout });
      cin = cout;
    }
  }
  const last = 8 * w;
  const head = convBn(`features.${i}`, cin, last, 1, 1, true);
  const classifier = P.linear('classifier.1', last, CLASSES);
  return {
    name: 'mobilenet',
    description: `MobileNetV2-style (torchvision InvertedResidual): conv3x3 stride 2 (1→${w})-BN-ReLU6 (28→14), ${blocks.length} inverted residual blocks (expand 1×1-BN-ReLU6, depthwise 3×3-BN-ReLU6, project 1×1-BN; channels ${w}, ${Math.round(1.5 * w)}, ${2 * w}, ${4 * w}; strides to 7×7 and 4×4; residual Add where shapes match), conv1x1(→${last})-BN-ReLU6, GlobalAveragePool, Linear(${last}→10)`,
    params: P,
    forward<X>(ops: Ops<X>, x: X): X {
      const apply = (x: X, l: ConvBn) => {
        const y = ops.bn(ops.conv(x, l.conv), l.bn);
        return l.act ? ops.relu6(y, l.act) : y;
      };
      x = apply(x, stem);
      for (const b of blocks) {
        let y = x;
        for (const l of b.layers) y = apply(y, l);
        x = b.residual ? ops.add(x, y, b.path) : y;
      }
      x = apply(x, head);
      x = ops.globalAvgPool(x, '');
      x = ops.flatten(x, '');
      return ops.linear(x, classifier);
    },
  };
}

/** tfjs execution (NHWC). */
class TfOps implements Ops<TF.Tensor> {
  constructor(
    private readonly tf: Tf,
    private readonly training: boolean,
  ) {}
  conv(x: TF.Tensor, p: ConvP): TF.Tensor {
    const y =
      p.groups > 1
        ? this.tf.depthwiseConv2d(x as T4, p.weight as unknown as T4, p.stride, p.pad)
        : this.tf.conv2d(x as T4, p.weight as unknown as T4, p.stride, p.pad);
    return p.bias ? this.tf.add(y, p.bias) : y;
  }
  bn(x: TF.Tensor, p: BnP): TF.Tensor {
    if (this.training) p.lastCount = x.shape[0]! * x.shape[1]! * x.shape[2]!;
    return batchNorm(this.tf, x, p.state, this.training);
  }
  relu(x: TF.Tensor): TF.Tensor {
    return this.tf.relu(x);
  }
  relu6(x: TF.Tensor): TF.Tensor {
    return this.tf.clipByValue(x, 0, 6);
  }
  add(a: TF.Tensor, b: TF.Tensor): TF.Tensor {
    return this.tf.add(a, b);
  }
  maxPool(x: TF.Tensor): TF.Tensor {
    return this.tf.maxPool(x as T4, 2, 2, 'valid');
  }
  globalAvgPool(x: TF.Tensor): TF.Tensor {
    return this.tf.mean(x, [1, 2], true);
  }
  flatten(x: TF.Tensor): TF.Tensor {
    return this.tf.reshape(this.tf.transpose(x, [0, 3, 1, 2]), [x.shape[0]!, -1]);
  }
  linear(x: TF.Tensor, p: LinearP): TF.Tensor {
    return this.tf.add(this.tf.matMul(x as TF.Tensor2D, p.weight as unknown as TF.Tensor2D), p.bias);
  }
  concat(xs: TF.Tensor[]): TF.Tensor {
    return this.tf.concat(xs, 3);
  }
  avgPool(x: TF.Tensor): TF.Tensor {
    return this.tf.avgPool(x as T4, 2, 2, 'valid');
  }
}

// ---------------------------------------------------------------------------------------------
// The exporter: traces `forward` into ONNX nodes the way torch.onnx.export names them.

interface Sym {
  name: string;
  shape: number[] /* per sample: [C, H, W] or [F] */;
}

/** Module path → torch's scope: `layer1.0.conv1` → `/layer1/layer1.0/conv1`, `features.3` → `/features/features.3`. */
function scopeOf(path: string): string {
  if (!path) return '';
  const parts: string[] = [];
  for (const seg of path.split('.')) {
    if (/^\d+$/.test(seg) && parts.length) parts.push(`${parts[parts.length - 1]}.${seg}`);
    else parts.push(seg);
  }
  return parts.map((p) => `/${p}`).join('');
}

class OnnxTracer implements Ops<Sym> {
  readonly nodes: Node[] = [];
  readonly inits: TensorProto[] = [];
  macs = 0;
  private tmp = 0;
  private readonly calls = new Map<string, number>();
  private readonly nodeNames = new Map<string, number>();
  private readonly shapes = new Map<string, number[]>();
  constructor(private readonly sd: Record<string, { shape: number[]; data: Float32Array }>) {}

  private init(name: string): string {
    const e = this.sd[name];
    if (!e) throw new Error(`no parameter ${name}`);
    this.inits.push(floatTensor(name, e.shape, e.data));
    return name;
  }

  private emit(
    op: string,
    inputs: string[],
    shape: number[],
    attrs: Record<string, number | number[]>,
    scope: string,
  ): Sym {
    let name = `${scope}/${op}`;
    const seen = this.nodeNames.get(name) ?? 0;
    this.nodeNames.set(name, seen + 1);
    if (seen) name = `${name}_${seen}`;
    const out = `%tmp${this.tmp++}`;
    this.shapes.set(out, shape);
    this.nodes.push(node(op, inputs, [out], attrs, name));
    return { name: out, shape };
  }

  /** A module called a second time gets `_1` on its own scope component (torch: `relu_1`). */
  private moduleScope(module: string): string {
    const n = this.calls.get(module) ?? 0;
    this.calls.set(module, n + 1);
    const s = scopeOf(module);
    return n ? `${s}_${n}` : s;
  }

  conv(x: Sym, p: ConvP): Sym {
    const [, h, w] = x.shape as [number, number, number];
    const oh = Math.floor((h + 2 * p.pad - p.k) / p.stride) + 1,
      ow = Math.floor((w + 2 * p.pad - p.k) / p.stride) + 1;
    this.macs += (p.cout * oh * ow * p.cin * p.k * p.k) / p.groups;
    const inputs = [x.name, this.init(`${p.path}.weight`), ...(p.bias ? [this.init(`${p.path}.bias`)] : [])];
    return this.emit(
      'Conv',
      inputs,
      [p.cout, oh, ow],
      {
        dilations: [1, 1],
        group: p.groups,
        kernel_shape: [p.k, p.k],
        pads: [p.pad, p.pad, p.pad, p.pad],
        strides: [p.stride, p.stride],
      },
      this.moduleScope(p.path),
    );
  }

  bn(x: Sym, p: BnP): Sym {
    const inputs = [
      x.name,
      ...['weight', 'bias', 'running_mean', 'running_var'].map((k) => this.init(`${p.path}.${k}`)),
    ];
    return this.emit(
      'BatchNormalization',
      inputs,
      x.shape,
      { epsilon: BN_EPSILON, momentum: 0.9 },
      this.moduleScope(p.path),
    );
  }

  relu(x: Sym, module: string): Sym {
    return this.emit('Relu', [x.name], x.shape, {}, this.moduleScope(module));
  }
  /** torch (opset ≥ 11): Clip(x, min, max) with both bounds from Constant nodes in the module's scope. */
  relu6(x: Sym, module: string): Sym {
    const scope = this.moduleScope(module);
    const bound = (v: number, i: number) => {
      const name = `${scope}/Constant${i ? `_${i}` : ''}`;
      this.nodes.push(constantNode(`${name}_output_0`, floatTensor('', [], Float32Array.of(v)), name));
      return `${name}_output_0`;
    };
    return this.emit('Clip', [x.name, bound(0, 0), bound(6, 1)], x.shape, {}, scope);
  }
  add(a: Sym, b: Sym, scope: string): Sym {
    return this.emit('Add', [a.name, b.name], a.shape, {}, scopeOf(scope));
  }

  maxPool(x: Sym, module: string): Sym {
    const [c, h, w] = x.shape as [number, number, number];
    return this.emit(
      'MaxPool',
      [x.name],
      [c, Math.floor((h - 2) / 2) + 1, Math.floor((w - 2) / 2) + 1],
      { ceil_mode: 0, kernel_shape: [2, 2], pads: [0, 0, 0, 0], strides: [2, 2] },
      this.moduleScope(module),
    );
  }

  concat(xs: Sym[], scope: string): Sym {
    const [, h, w] = xs[0]!.shape as [number, number, number];
    const c = xs.reduce((a, x) => a + x.shape[0]!, 0);
    return this.emit(
      'Concat',
      xs.map((x) => x.name),
      [c, h, w],
      { axis: 1 },
      scopeOf(scope),
    );
  }

  avgPool(x: Sym, module: string): Sym {
    const [c, h, w] = x.shape as [number, number, number];
    return this.emit(
      'AveragePool',
      [x.name],
      [c, Math.floor((h - 2) / 2) + 1, Math.floor((w - 2) / 2) + 1],
      { ceil_mode: 0, count_include_pad: 1, kernel_shape: [2, 2], pads: [0, 0, 0, 0], strides: [2, 2] },
      this.moduleScope(module),
    );
  }

  globalAvgPool(x: Sym, module: string): Sym {
    return this.emit('GlobalAveragePool', [x.name], [x.shape[0]!, 1, 1], {}, this.moduleScope(module));
  }
  flatten(x: Sym, module: string): Sym {
    return this.emit('Flatten', [x.name], [x.shape.reduce((a, b) => a * b, 1)], { axis: 1 }, scopeOf(module));
  }

  linear(x: Sym, p: LinearP): Sym {
    this.macs += p.cin * p.cout;
    return this.emit(
      'Gemm',
      [x.name, this.init(`${p.path}.weight`), this.init(`${p.path}.bias`)],
      [p.cout],
      { alpha: 1.0, beta: 1.0, transB: 1 },
      this.moduleScope(p.path),
    );
  }

  /**
   * The ModelProto: intermediate tensors renamed `onnx::<FirstConsumerOp>_<n>` (TorchScript's names
   * for values without a debug name), the last one `output`; value_info for every intermediate.
   */
  model(input: string, result: Sym): Uint8Array {
    const consumers = new Map<string, string>();
    for (const n of this.nodes) for (const i of n.input ?? []) if (!consumers.has(i)) consumers.set(i, n.opType!);
    const rename = new Map<string, string>([
      ['%input', input],
      [result.name, 'output'],
    ]);
    let id = this.inits.length + 1;
    for (const n of this.nodes) {
      const o = n.output![0]!;
      if (!rename.has(o)) rename.set(o, `onnx::${consumers.get(o) ?? 'Output'}_${id++}`);
    }
    for (const n of this.nodes) {
      n.input = n.input!.map((i) => rename.get(i) ?? i);
      n.output = n.output!.map((o) => rename.get(o) ?? o);
    }
    const valueInfos: ValueInfo[] = [];
    for (const [tmp, shape] of this.shapes)
      if (tmp !== result.name) valueInfos.push(valueInfo(rename.get(tmp)!, ['batch_size', ...shape]));
    const m = makeModel(
      {
        name: 'main_graph',
        node: this.nodes,
        initializer: this.inits,
        input: [valueInfo(input, ['batch_size', 1, 28, 28])],
        output: [valueInfo('output', ['batch_size', CLASSES])],
        valueInfo: valueInfos,
      },
      DEFAULT_OPSET,
      'pytorch',
    );
    return writeOnnx({ ...m, producerVersion: '2.1.0' });
  }
}

function exportOnnx(net: Net): { bytes: Uint8Array; macs: number; params: number } {
  const sd = net.params.stateDict();
  const tracer = new OnnxTracer(sd);
  const out = net.forward(tracer, { name: '%input', shape: [1, 28, 28] });
  const params = Object.entries(sd)
    .filter(([k]) => !k.endsWith('running_mean') && !k.endsWith('running_var'))
    .reduce((a, [, v]) => a + v.data.length, 0);
  return { bytes: tracer.model('input.1', out), macs: tracer.macs, params };
}

// ---------------------------------------------------------------------------------------------
// Training.

interface Config {
  model: ModelName;
  width: number;
  seed: number;
  batch: number;
  lr: number;
  warmupEpochs: number;
  weightDecay: number;
  bnMomentum: number;
  shift: number;
  flip: boolean;
}
interface EpochRecord {
  epoch: number;
  loss: number;
  trainAccAugmented: number;
  tfjsTestAcc: number;
  seconds: number;
  samplesPerSec: number;
  lr: number;
}

function learningRate(cfg: Config, epochs: number, progress: number): number {
  if (progress < cfg.warmupEpochs) return (cfg.lr * (progress + 1e-3)) / cfg.warmupEpochs;
  const t = (progress - cfg.warmupEpochs) / Math.max(1e-9, epochs - cfg.warmupEpochs);
  return 0.5 * cfg.lr * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

function concatSplits(a: Split, b: Split): Split {
  const images = new Uint8Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Uint8Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { images, labels, count: a.count + b.count };
}

/** tfjs logits of a split in inference mode (running BN statistics). */
function tfjsLogits(tf: Tf, net: Net, split: Split, batch = 500): Float32Array {
  const out = new Float32Array(split.count * CLASSES);
  const ops = new TfOps(tf, false);
  for (let s = 0; s < split.count; s += batch) {
    const n = Math.min(batch, split.count - s);
    const x = normaliseImages(split.images.subarray(s * 784, (s + n) * 784), n, SHAPE, MEAN, STD, 'NHWC');
    out.set(
      tf.tidy(() => net.forward(ops, tf.tensor4d(x, [n, 28, 28, 1]) as TF.Tensor).dataSync() as Float32Array),
      s * CLASSES,
    );
  }
  return out;
}

function accuracy(logits: Float32Array, labels: Uint8Array): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (logits[i * CLASSES + c]! > logits[i * CLASSES + best]!) best = c;
    if (best === labels[i]) hits++;
  }
  return hits / labels.length;
}

async function ortLogits(bytes: Uint8Array, split: Split, batch = 500): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out = new Float32Array(split.count * CLASSES);
  for (let s = 0; s < split.count; s += batch) {
    const n = Math.min(batch, split.count - s);
    const x = normaliseImages(split.images.subarray(s * 784, (s + n) * 784), n, SHAPE, MEAN, STD, 'NCHW');
    const r = await session.run({ 'input.1': new ort.Tensor('float32', x, [n, 1, 28, 28]) });
    out.set(r.output!.data as Float32Array, s * CLASSES);
  }
  await session.release();
  return out;
}

function parseArgs(argv: string[]): { cfg: Config; epochs?: number; budgetMin: number; probe: boolean } {
  const o = cliArgs(
    {
      usage: 'npx tsx bench/byom/train-foreign.ts --model=vgg|resnet|densenet|mobilenet [options]',
      about:
        'A VGG-, ResNet-, DenseNet- or MobileNet-shaped Fashion-MNIST classifier trained the way a user would train one elsewhere (tfjs, all 60,000\n' +
        "training images) and exported in the form PyTorch's torch.onnx.export writes; rerun to continue a stopped run.",
      writes: 'bench/byom/models/<model>.{onnx,json}; checkpoints and train-log.jsonl in bench/byom/work/<model>/',
      options: {
        model: { choices: MODELS, description: 'The network to train (required)' },
        width: {
          arg: 'n',
          description: 'Channels of the first stage; each later stage doubles them',
          default: '16',
          schema: text.int(1),
        },
        seed: {
          arg: 'n',
          description: 'Seed of the initialisation and the shuffles',
          defaultText: '7 for vgg, 13 for resnet, 17 for densenet, 19 for mobilenet',
          schema: text.int(0),
        },
        epochs: {
          arg: 'n',
          description: 'Epochs to train',
          defaultText: 'as many as fit in --budget-min, timed on the first 60 steps',
          schema: text.int(1),
        },
        'budget-min': {
          arg: 'minutes',
          description: 'Training time the epoch count is planned for, without --epochs',
          default: '20',
          schema: text.positive(),
        },
        probe: { flag: true, description: 'Stop once the epoch count is planned (times the first 60 steps only)' },
      },
    },
    argv,
  );
  if (o.model === undefined) usageExit(`--model=${MODELS.join('|')} is required (see --help)`);
  const cfg: Config = {
    model: o.model,
    width: o.width,
    seed: o.seed ?? DEFAULT_SEED[o.model],
    batch: 128,
    lr: 0.003,
    warmupEpochs: 0.25,
    weightDecay: 1e-4,
    bnMomentum: 0.9,
    shift: 1,
    flip: true,
  };
  return { cfg, epochs: o.epochs, budgetMin: o['budget-min'], probe: o.probe ?? false };
}

async function main(): Promise<void> {
  const { cfg, epochs: epochsArg, budgetMin, probe } = parseArgs(process.argv.slice(2));
  const { tf, backend } = await initTf();
  const work = join(ROOT, 'work', cfg.model);
  const outDir = join(ROOT, 'models');
  mkdirSync(work, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const ckptPath = join(work, `checkpoint-w${cfg.width}.safetensors`);
  const logPath = join(work, 'train-log.jsonl');
  const log = (m: string) => console.error(`[${cfg.model}] ${m}`);

  const ds: Dataset = loadFashionMnist();
  const train = concatSplits(ds.train, ds.val);
  const test = ds.test;
  log(
    `data: ${train.count} training images (the repo's train + val splits = the standard training set), ${test.count} test`,
  );

  const build = { vgg: buildVgg, resnet: buildResNet, densenet: buildDenseNet, mobilenet: buildMobileNet }[cfg.model];
  const net = build(tf, cfg.seed, cfg.width);
  const optimizer = tf.train.adam(cfg.lr, 0.9, 0.999, 1e-8);
  const vars = net.params.trainable();
  const decayed = net.params.decayed();
  const configKey = JSON.stringify(cfg);
  let history: EpochRecord[] = [];
  let epochs = epochsArg;
  let start = 1;
  if (existsSync(ckptPath)) {
    const ck = decodeSafetensors(readFileSync(ckptPath));
    if (ck.metadata.config !== configKey)
      throw new Error(`${ckptPath} is from a different config (${ck.metadata.config}); delete it to start afresh`);
    const sd: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, t] of Object.entries(ck.tensors))
      if (!k.startsWith('adam.')) sd[k] = { shape: t.shape, data: t.data as Float32Array };
    net.params.loadStateDict(sd);
    await restoreAdam(tf, optimizer, ck.tensors);
    history = JSON.parse(ck.metadata.history!) as EpochRecord[];
    start = Number(ck.metadata.epoch) + 1;
    if (epochsArg !== undefined && epochsArg !== Number(ck.metadata.epochs))
      log(`note: --epochs=${epochsArg} ignored, the run was planned for ${ck.metadata.epochs}`);
    epochs = Number(ck.metadata.epochs);
    log(`resuming after epoch ${start - 1} of ${epochs}`);
  }

  const steps = Math.floor(train.count / cfg.batch);
  const TIME_FROM = 10,
    TIME_TO = 60;
  for (let epoch = start; epochs === undefined || epoch <= epochs; epoch++) {
    const rand = mulberry32(cfg.seed * 7919 + epoch);
    const order = shuffled(train.count, rand);
    const t0 = performance.now();
    let tTimed = 0,
      lossSum = 0,
      hits = 0,
      seen = 0,
      lr = cfg.lr;
    for (let s = 0; s < steps; s++) {
      if (s === TIME_FROM) tTimed = performance.now();
      if (epochs === undefined && s === TIME_TO) {
        const sps = ((TIME_TO - TIME_FROM) * cfg.batch) / ((performance.now() - tTimed) / 1000);
        // An epoch is `steps` training steps plus a tfjs test pass (inference: ~3x faster per image).
        const epochSec = (steps * cfg.batch) / sps + test.count / (3 * sps);
        epochs = Math.max(1, Math.round((budgetMin * 60) / epochSec));
        log(
          `timed ${sps.toFixed(0)} samples/s over steps ${TIME_FROM}-${TIME_TO}: ~${epochSec.toFixed(0)} s an epoch → ${epochs} epochs for a ${budgetMin}-minute budget (provisional: re-planned from epoch 1's time)`,
        );
        if (probe) return;
      }
      lr = learningRate(cfg, epochs ?? 1e9, epoch - 1 + s / steps);
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const idx = order.subarray(s * cfg.batch, (s + 1) * cfg.batch);
      const u8 = gatherBatch(train, { shape: SHAPE }, idx, { shift: cfg.shift, rand });
      const x = normaliseImages(u8, idx.length, SHAPE, MEAN, STD, 'NHWC');
      const labels = Int32Array.from(idx, (i) => train.labels[i]!);
      const ops = new TfOps(tf, true);
      const [loss, h] = tf.tidy(() => {
        const xt = tf.tensor4d(x, [idx.length, 28, 28, 1]);
        const yt = tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES);
        let logits: TF.Tensor | undefined;
        const l = optimizer.minimize(
          () => {
            logits = tf.keep(net.forward(ops, xt as TF.Tensor));
            const ce = tf.losses.softmaxCrossEntropy(yt, logits as TF.Tensor2D);
            const l2 = tf.addN(decayed.map((v) => tf.sum(tf.square(v))));
            return tf.add(ce, tf.mul(l2, cfg.weightDecay / 2)) as TF.Scalar;
          },
          true,
          vars,
        )!;
        const c = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(yt, 1)), 'float32'));
        const r = [l.dataSync()[0]!, c.dataSync()[0]!];
        logits!.dispose();
        return r;
      });
      net.params.commitBatchNorm(cfg.bnMomentum);
      lossSum += loss * idx.length;
      hits += h;
      seen += idx.length;
      if ((s + 1) % 50 === 0 || s === steps - 1) {
        const sps = seen / ((performance.now() - t0) / 1000);
        log(
          `epoch ${epoch}/${epochs ?? '?'} step ${s + 1}/${steps} | loss ${(lossSum / seen).toFixed(4)} | acc ${(hits / seen).toFixed(4)} | ${sps.toFixed(0)} samples/s | lr ${lr.toExponential(2)}`,
        );
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const tfjsTestAcc = accuracy(tfjsLogits(tf, net, test), test.labels);
    if (epoch === 1 && epochsArg === undefined) {
      // The machine is shared, so 50 steps can mislead: epoch 1's own wall time (with its test pass) sets the plan.
      const wall = (performance.now() - t0) / 1000;
      const planned = Math.max(1, Math.round((budgetMin * 60) / wall));
      if (planned !== epochs)
        log(
          `epoch 1 took ${wall.toFixed(0)} s: re-planned from ${epochs} to ${planned} epochs (the cosine schedule stretches to match)`,
        );
      epochs = planned;
    }
    const rec: EpochRecord = {
      epoch,
      loss: lossSum / seen,
      trainAccAugmented: hits / seen,
      tfjsTestAcc,
      seconds,
      samplesPerSec: seen / seconds,
      lr,
    };
    history.push(rec);
    appendFileSync(logPath, `${JSON.stringify(rec)}\n`);
    log(
      `epoch ${epoch} done in ${seconds.toFixed(0)} s (${rec.samplesPerSec.toFixed(0)} samples/s): train (augmented, batch BN) ${(rec.trainAccAugmented * 100).toFixed(2)} %, test (tfjs) ${(tfjsTestAcc * 100).toFixed(2)} %`,
    );
    const sd = net.params.stateDict();
    const tensors: Record<string, SafeTensor> = Object.fromEntries(
      Object.entries(sd).map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: v.data }]),
    );
    writeFileSync(
      `${ckptPath}.tmp`,
      encodeSafetensors(
        { ...tensors, ...(await adamTensors(optimizer)) },
        { config: configKey, epoch: String(epoch), epochs: String(epochs), history: JSON.stringify(history) },
      ),
    );
    renameSync(`${ckptPath}.tmp`, ckptPath);
  }

  // Export and check the exported file.
  const { bytes, macs, params } = exportOnnx(net);
  const onnxPath = join(outDir, `${cfg.model}.onnx`);
  writeFileSync(onnxPath, bytes);
  log(`wrote ${onnxPath} (${bytes.length} bytes, ${(macs / 1e6).toFixed(2)} M MACs, ${params} params)`);
  const tfTest = tfjsLogits(tf, net, test);
  const ortTest = await ortLogits(bytes, test);
  const ortTrain = await ortLogits(bytes, train);
  let maxDiff = 0,
    agree = 0;
  for (let i = 0; i < tfTest.length; i++) maxDiff = Math.max(maxDiff, Math.abs(tfTest[i]! - ortTest[i]!));
  for (let i = 0; i < test.count; i++) {
    const am = (l: Float32Array) => {
      let b = 0;
      for (let c = 1; c < CLASSES; c++) if (l[i * CLASSES + c]! > l[i * CLASSES + b]!) b = c;
      return b;
    };
    if (am(tfTest) === am(ortTest)) agree++;
  }
  const tfjsTestAcc = accuracy(tfTest, test.labels),
    testAcc = accuracy(ortTest, test.labels),
    trainAcc = accuracy(ortTrain, train.labels);
  const parityPp = Math.abs(tfjsTestAcc - testAcc) * 100;
  log(
    `onnxruntime-node: train ${(trainAcc * 100).toFixed(2)} %, test ${(testAcc * 100).toFixed(2)} %; tfjs test ${(tfjsTestAcc * 100).toFixed(2)} % (Δ ${parityPp.toFixed(2)} pp, argmax agreement ${agree}/${test.count}, max |Δlogit| ${maxDiff.toExponential(2)})`,
  );
  if (parityPp > 0.1)
    throw new Error(`exported model disagrees with the tfjs model: ${parityPp.toFixed(2)} pp on test accuracy`);

  const trainSeconds = history.reduce((a, h) => a + h.seconds, 0);
  const report = {
    model: cfg.model,
    file: `${cfg.model}.onnx`,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    architecture: net.description,
    macs,
    params,
    onnx: {
      opset: DEFAULT_OPSET,
      producer: 'pytorch',
      input: 'input.1 [batch_size, 1, 28, 28] NCHW float32',
      output: 'output [batch_size, 10] logits',
      form: 'torch.onnx.export style, eval mode, do_constant_folding=False: Conv (+bias only in the VGG), separate BatchNormalization, Relu, MaxPool, Add, GlobalAveragePool, Flatten, Gemm transB=1',
    },
    normalisation: { mean: MEAN, std: STD, formula: 'x = (u8/255 - mean) / std' },
    data: {
      name: 'fashion-mnist',
      train: `${train.count} images: the standard training set (the repo's train split plus its 5,000-image validation split)`,
      test: `${test.count} images: the standard test set`,
    },
    training: {
      framework: `tfjs ${tf.version.tfjs} (${backend} backend), standing in for PyTorch (not installable here)`,
      machine: '2-core x86 VM',
      threads: 1,
      optimizer: `Adam(lr=${cfg.lr}, betas=(0.9, 0.999), eps=1e-8), L2 ${cfg.weightDecay} on conv/linear weights`,
      schedule: `linear warm-up over ${cfg.warmupEpochs} epoch, then cosine decay to 0`,
      batch: cfg.batch,
      augmentation: `random shifts ±${cfg.shift} px (zero fill), horizontal flips (p=0.5)`,
      batchNorm: `training mode (batch statistics); running stats with momentum ${cfg.bnMomentum} (PyTorch momentum ${+(1 - cfg.bnMomentum).toFixed(2)}), unbiased variance`,
      seed: cfg.seed,
      width: cfg.width,
      epochs: history.length,
      seconds: +trainSeconds.toFixed(1),
      samplesPerSec: +((history.length * steps * cfg.batch) / trainSeconds).toFixed(1),
      selection: 'the last epoch (no validation split, no early stopping)',
      history,
    },
    accuracy: {
      measuredBy: 'onnxruntime-node on the exported file, inference mode',
      train: trainAcc,
      test: testAcc,
      tfjsTest: tfjsTestAcc,
      testArgmaxAgreement: agree / test.count,
      maxAbsLogitDiff: maxDiff,
    },
    created: new Date().toISOString(),
  };
  writeFileSync(join(outDir, `${cfg.model}.json`), `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${join(outDir, `${cfg.model}.json`)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
