/**
 * A small ResNet (He et al. 2016, CIFAR variant) written with tfjs ops, NHWC, for training only.
 * Inference and export go through ONNX (./export.ts folds BatchNorm into the convs).
 *
 * Layout: stem conv3x3 → stages of basic blocks (conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU), the
 * first block of every stage after the first downsampling by 2 → global average pool → dense.
 *
 * @example
 * const net = new ResNet(tf, { inputChannels: 1, numClasses: 10, stemWidth: 16, widths: [16, 32, 64], blocksPerStage: 1 }, 42);
 * const logits = net.forward(x, true); // x: [N, H, W, C] normalised
 */

import { mulberry32 } from '../../core/random.js';
import type { tf as TF } from '../tf.js';
import { type BatchNormState, batchNorm } from './batch-norm.js';

type Tf = typeof TF;
type Tensor = TF.Tensor;
type Tensor4D = TF.Tensor4D;
type Variable = TF.Variable;

export interface ResNetConfig {
  inputChannels: number;
  numClasses: number;
  stemWidth: number;
  /** Channels per stage; stages after the first halve the resolution. */
  widths: number[];
  blocksPerStage: number;
}

/** A conv without bias (BatchNorm follows every conv) plus its BN. */
export interface ConvBn {
  name: string;
  stride: number;
  /** [kh, kw, cin, cout] */
  weight: Variable;
  bn: BatchNormState;
}

export interface Block {
  name: string;
  conv1: ConvBn;
  conv2: ConvBn;
  shortcut?: ConvBn;
}

/** Deterministic PRNG (mulberry32) so that a seed reproduces the initial weights. */
export { mulberry32 };

/** Standard normal samples via Box-Muller from a uniform PRNG. */
export function gaussian(rand: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12),
      v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * A conv (He-normal init, the usual choice for ReLU nets) and its BatchNorm. Variables stay unnamed:
 * tfjs registers names globally and one process may build several models (tests, attach after backbone).
 */
export function createConvBn(
  tf: Tf,
  rand: () => number,
  name: string,
  k: number,
  cin: number,
  cout: number,
  stride: number,
): ConvBn {
  const std = Math.sqrt(2 / (k * k * cin));
  const weight = tf.variable(tf.tensor4d(gaussian(rand, k * k * cin * cout, std), [k, k, cin, cout]), true);
  const bn: BatchNormState = {
    gamma: tf.variable(tf.ones([cout]), true),
    beta: tf.variable(tf.zeros([cout]), true),
    runningMean: tf.zeros([cout]),
    runningVar: tf.ones([cout]),
    pending: undefined,
  };
  return { name, stride, weight, bn };
}

export function applyConvBn(tf: Tf, x: Tensor4D, c: ConvBn, training: boolean): Tensor4D {
  return batchNorm(tf, tf.conv2d(x, c.weight as unknown as Tensor4D, c.stride, 'same'), c.bn, training);
}

/** Moves queued batch statistics into the running statistics (momentum as in Keras). */
export function commitBatchNorm(tf: Tf, convs: ConvBn[], momentum: number): void {
  for (const c of convs) {
    const p = c.bn.pending;
    if (!p) continue;
    const m = tf.tidy(() => tf.add(tf.mul(c.bn.runningMean, momentum), tf.mul(p.mean, 1 - momentum)));
    const v = tf.tidy(() => tf.add(tf.mul(c.bn.runningVar, momentum), tf.mul(p.variance, 1 - momentum)));
    c.bn.runningMean.dispose();
    c.bn.runningVar.dispose();
    p.mean.dispose();
    p.variance.dispose();
    c.bn.runningMean = m;
    c.bn.runningVar = v;
    c.bn.pending = undefined;
  }
}

export class ResNet {
  readonly stem: ConvBn;
  readonly blocks: Block[] = [];
  readonly fcWeight: Variable;
  readonly fcBias: Variable;
  private readonly rand: () => number;

  constructor(
    private readonly tf: Tf,
    readonly config: ResNetConfig,
    seed: number,
  ) {
    this.rand = mulberry32(seed);
    this.stem = this.convBn('stem', 3, config.inputChannels, config.stemWidth, 1);
    let cin = config.stemWidth;
    config.widths.forEach((width, s) => {
      for (let b = 0; b < config.blocksPerStage; b++) {
        const stride = s > 0 && b === 0 ? 2 : 1;
        const name = `stage${s + 1}.block${b + 1}`;
        const block: Block = {
          name,
          conv1: this.convBn(`${name}.conv1`, 3, cin, width, stride),
          conv2: this.convBn(`${name}.conv2`, 3, width, width, 1),
        };
        if (stride !== 1 || cin !== width) block.shortcut = this.convBn(`${name}.shortcut`, 1, cin, width, stride);
        this.blocks.push(block);
        cin = width;
      }
    });
    // Glorot-uniform for the classifier, zero bias.
    const limit = Math.sqrt(6 / (cin + config.numClasses));
    const w = Float32Array.from({ length: cin * config.numClasses }, () => (this.rand() * 2 - 1) * limit);
    this.fcWeight = tf.variable(tf.tensor2d(w, [cin, config.numClasses]), true);
    this.fcBias = tf.variable(tf.zeros([config.numClasses]), true);
  }

  private convBn(name: string, k: number, cin: number, cout: number, stride: number): ConvBn {
    return createConvBn(this.tf, this.rand, name, k, cin, cout, stride);
  }

  /** Logits [N, classes]. In training mode BN uses batch statistics and queues running-stat updates. */
  forward(x: Tensor4D, training: boolean): TF.Tensor2D {
    const tf = this.tf;
    let h = tf.relu(applyConvBn(tf, x, this.stem, training));
    for (const b of this.blocks) {
      const r = tf.relu(applyConvBn(tf, h, b.conv1, training));
      const main = applyConvBn(tf, r, b.conv2, training);
      const skip = b.shortcut ? applyConvBn(tf, h, b.shortcut, training) : h;
      h = tf.relu(tf.add(main, skip) as Tensor4D);
    }
    const pooled = tf.mean(h, [1, 2]) as TF.Tensor2D;
    return tf.add(tf.matMul(pooled, this.fcWeight as unknown as TF.Tensor2D), this.fcBias) as TF.Tensor2D;
  }

  /** Every ConvBn in forward order. */
  convs(): ConvBn[] {
    const out: ConvBn[] = [this.stem];
    for (const b of this.blocks) out.push(b.conv1, b.conv2, ...(b.shortcut ? [b.shortcut] : []));
    return out;
  }

  /** Applies the running-stat updates queued by the last training forward pass. */
  commitBatchNorm(momentum: number): void {
    commitBatchNorm(this.tf, this.convs(), momentum);
  }

  /** All weights (trainable and BN running stats) by name, as plain arrays for checkpoints/export. */
  weights(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    const put = (name: string, t: Tensor) => {
      out[name] = { shape: t.shape.slice(), data: Float32Array.from(t.dataSync()) };
    };
    for (const c of this.convs()) {
      put(`${c.name}.weight`, c.weight);
      put(`${c.name}.bn.gamma`, c.bn.gamma);
      put(`${c.name}.bn.beta`, c.bn.beta);
      put(`${c.name}.bn.mean`, c.bn.runningMean);
      put(`${c.name}.bn.var`, c.bn.runningVar);
    }
    put('fc.weight', this.fcWeight);
    put('fc.bias', this.fcBias);
    return out;
  }

  /** Restores weights written by `weights()` (checkpoint resume). */
  load(w: Record<string, { shape: number[]; data: Float32Array }>): void {
    const tf = this.tf;
    const get = (name: string) => {
      const e = w[name];
      if (!e) throw new Error(`checkpoint has no weight "${name}"`);
      return tf.tensor(e.data, e.shape);
    };
    for (const c of this.convs()) {
      c.weight.assign(get(`${c.name}.weight`));
      c.bn.gamma.assign(get(`${c.name}.bn.gamma`));
      c.bn.beta.assign(get(`${c.name}.bn.beta`));
      c.bn.runningMean.dispose();
      c.bn.runningVar.dispose();
      c.bn.runningMean = get(`${c.name}.bn.mean`);
      c.bn.runningVar = get(`${c.name}.bn.var`);
    }
    this.fcWeight.assign(get('fc.weight'));
    this.fcBias.assign(get('fc.bias'));
  }

  /**
   * Warm start from a shallower checkpoint (Net2Net-style deepening): every weight the checkpoint has
   * is loaded; a block it lacks keeps its random convs but gets γ = 0 on its last BatchNorm, so its
   * residual branch outputs 0 and the block is the identity (relu(0 + h) = h, h ≥ 0 after a ReLU).
   * The deeper net therefore starts out computing exactly the checkpoint's function, and training
   * grows the new blocks from there (zero-γ residual init, Goyal et al. 2017). Returns the names of
   * the blocks that started as identities. Throws if the checkpoint has a weight this net lacks
   * (a different layout, not a shallower one).
   */
  warmStart(w: Record<string, { shape: number[]; data: Float32Array }>): string[] {
    const tf = this.tf;
    const own = this.weights();
    for (const [k, v] of Object.entries(w)) {
      const mine = own[k];
      if (!mine) throw new Error(`warm start: checkpoint weight "${k}" has no place in this net`);
      if (mine.shape.join('x') !== v.shape.join('x'))
        throw new Error(`warm start: "${k}" is ${v.shape.join('x')} in the checkpoint, ${mine.shape.join('x')} here`);
    }
    const set = (t: Variable, name: string) => {
      const e = w[name]!;
      t.assign(tf.tensor(e.data, e.shape));
    };
    const identities: string[] = [];
    for (const c of this.convs()) {
      if (!w[`${c.name}.weight`]) continue;
      set(c.weight, `${c.name}.weight`);
      set(c.bn.gamma, `${c.name}.bn.gamma`);
      set(c.bn.beta, `${c.name}.bn.beta`);
      c.bn.runningMean.dispose();
      c.bn.runningVar.dispose();
      c.bn.runningMean = tf.tensor(w[`${c.name}.bn.mean`]!.data, w[`${c.name}.bn.mean`]!.shape);
      c.bn.runningVar = tf.tensor(w[`${c.name}.bn.var`]!.data, w[`${c.name}.bn.var`]!.shape);
    }
    for (const b of this.blocks) {
      if (w[`${b.conv1.name}.weight`]) continue;
      if (b.shortcut)
        throw new Error(
          `warm start: new block ${b.name} changes shape (it has a shortcut conv), so it cannot start as an identity`,
        );
      b.conv2.bn.gamma.assign(tf.zerosLike(b.conv2.bn.gamma));
      identities.push(b.name);
    }
    set(this.fcWeight, 'fc.weight');
    set(this.fcBias, 'fc.bias');
    return identities;
  }

  trainableVariables(): Variable[] {
    const out: Variable[] = [];
    for (const c of this.convs()) out.push(c.weight, c.bn.gamma, c.bn.beta);
    out.push(this.fcWeight, this.fcBias);
    return out;
  }

  /** Convolution weights only: the ones L2 weight decay applies to. */
  decayedVariables(): Variable[] {
    return [...this.convs().map((c) => c.weight), this.fcWeight];
  }
}
