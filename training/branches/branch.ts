/**
 * A PTEENet exit branch, built to be cheap wherever it sits:
 *
 *   cut features → AvgPool (k = s = `pool`, only on maps larger than 14×14) → conv3x3-BN-ReLU
 *   (stride 2 while the map is larger than 7×7) → conv3x3-BN-ReLU at 7×7 → global average pool
 *   → classifier head (logits) and confidence head.
 *
 * The convolutions always run on a 7×7 output map, so a branch costs ~49·9·(C·w + w²) MACs whatever
 * the resolution of its cut, and its width `w` is chosen per position (`chooseWidth`) to stay under a
 * share of the backbone's MACs. The pooling has no weights, so exits are trained on features cached
 * after it (4× less memory at 28×28 cuts) and the exported graph applies it to the raw cut.
 *
 * The confidence head (PTEENet's contribution) is a small MLP that sees the pooled features, the
 * classifier's softmax, its largest probability and its certainty (1 − H/log K):
 *   confidence = σ(W2·relu(W1·[pooled, p, max p, certainty] + b1) + b2).
 * It is trained after the classifier, with the branch frozen, to predict "this exit's answer is
 * right" on images the branch never trained on (./train.ts explains why).
 *
 * @example
 * const b = new Branch(tf, 'exit_0', { channels: 16, height: 28, width: 28 }, { width: 24, classes: 10 }, rand);
 * const { pooled, logits } = b.body(featuresAfterPool, true);
 * const confidence = tf.sigmoid(b.confidenceLogit(b.confidenceInput(pooled, logits)));
 */

import { applyConvBn, type ConvBn, commitBatchNorm, createConvBn } from '../backbone/resnet.js';
import type { tf as TF } from '../tf.js';

type Tf = typeof TF;

/** Spatial size at which a branch stops downsampling (the backbone's last stage is 7×7). */
const MIN_SIDE = 7;
/** Maps larger than this are average-pooled before the branch's first conv. */
const POOL_ABOVE = 14;
/** Hidden units of the confidence head. */
export const CONF_HIDDEN = 32;
/** Widths tried per position, widest first. */
export const WIDTHS = [64, 48, 40, 32, 24, 16, 8];

export interface FeatureShape {
  channels: number;
  height: number;
  width: number;
}

/** The pooling factor a cut of this shape gets before its branch. */
export function poolFactor(s: FeatureShape): number {
  let p = 1;
  while (Math.min(s.height, s.width) / p > POOL_ABOVE && (s.height / p) % 2 === 0 && (s.width / p) % 2 === 0) p *= 2;
  return p;
}

/** Per-sample MACs of a branch of width `w` on a cut of shape `s` with `classes` classes. */
export function branchMacs(s: FeatureShape, w: number, classes: number): number {
  const p = poolFactor(s);
  let h = s.height / p,
    wd = s.width / p,
    c = s.channels;
  let macs = p > 1 ? s.channels * s.height * s.width : 0; // the pooling's adds
  for (let i = 0; i < 2; i++) {
    const stride = Math.min(h, wd) > MIN_SIDE ? 2 : 1;
    h = Math.ceil(h / stride);
    wd = Math.ceil(wd / stride);
    macs += h * wd * w * c * 9;
    c = w;
  }
  const confIn = w + classes + 2;
  return macs + w * classes + confIn * CONF_HIDDEN + CONF_HIDDEN + classes * 4;
}

/** The widest branch (from WIDTHS, at most `max`) costing at most `budgetMacs`; the narrowest if none fits. */
export function chooseWidth(s: FeatureShape, classes: number, budgetMacs: number, max: number): number {
  const ws = WIDTHS.filter((w) => w <= max);
  return ws.find((w) => branchMacs(s, w, classes) <= budgetMacs) ?? ws[ws.length - 1]!;
}

export class Branch {
  readonly convs: ConvBn[] = [];
  readonly clsW: TF.Variable;
  readonly clsB: TF.Variable;
  readonly conf1W: TF.Variable;
  readonly conf1B: TF.Variable;
  readonly conf2W: TF.Variable;
  readonly conf2B: TF.Variable;
  /** Pooling factor applied to the raw cut before the first conv. */
  readonly pool: number;
  /** Shape the body takes (after pooling): what the feature cache stores. */
  readonly pooledInput: FeatureShape;
  readonly width: number;
  readonly classes: number;
  /** Per-sample MACs of the branch (pooling, convs and both heads). */
  readonly macs: number;

  constructor(
    private readonly tf: Tf,
    readonly name: string,
    readonly input: FeatureShape,
    opts: { width: number; classes: number },
    rand: () => number,
  ) {
    this.pool = poolFactor(input);
    this.width = opts.width;
    this.classes = opts.classes;
    this.pooledInput = { channels: input.channels, height: input.height / this.pool, width: input.width / this.pool };
    let { channels: c, height: h, width: w } = this.pooledInput;
    for (let i = 0; i < 2; i++) {
      const stride = Math.min(h, w) > MIN_SIDE ? 2 : 1;
      this.convs.push(createConvBn(tf, rand, `${name}.conv${i + 1}`, 3, c, opts.width, stride));
      h = Math.ceil(h / stride);
      w = Math.ceil(w / stride);
      c = opts.width;
    }
    const glorot = (fanIn: number, fanOut: number) =>
      Float32Array.from({ length: fanIn * fanOut }, () => (rand() * 2 - 1) * Math.sqrt(6 / (fanIn + fanOut)));
    this.clsW = tf.variable(tf.tensor2d(glorot(c, opts.classes), [c, opts.classes]), true);
    this.clsB = tf.variable(tf.zeros([opts.classes]), true);
    const confIn = c + opts.classes + 2;
    this.conf1W = tf.variable(tf.tensor2d(glorot(confIn, CONF_HIDDEN), [confIn, CONF_HIDDEN]), true);
    this.conf1B = tf.variable(tf.zeros([CONF_HIDDEN]), true);
    this.conf2W = tf.variable(tf.tensor2d(glorot(CONF_HIDDEN, 1), [CONF_HIDDEN, 1]), true);
    this.conf2B = tf.variable(tf.zeros([1]), true);
    this.macs = branchMacs(input, opts.width, opts.classes);
  }

  /** Pooled features [N, w] and logits [N, classes] from features already pooled by `pool` (NHWC). */
  body(x: TF.Tensor4D, training: boolean): { pooled: TF.Tensor2D; logits: TF.Tensor2D } {
    const tf = this.tf;
    let h = x;
    for (const c of this.convs) h = tf.relu(applyConvBn(tf, h, c, training));
    const pooled = tf.mean(h, [1, 2]) as TF.Tensor2D;
    const logits = tf.add(tf.matMul(pooled, this.clsW as unknown as TF.Tensor2D), this.clsB) as TF.Tensor2D;
    return { pooled, logits };
  }

  /** The confidence head's input: [pooled, softmax, max softmax, certainty]. */
  confidenceInput(pooled: TF.Tensor2D, logits: TF.Tensor2D): TF.Tensor2D {
    const tf = this.tf;
    const p = tf.softmax(logits);
    const maxP = tf.max(p, 1, true);
    const certainty = tf.add(1, tf.div(tf.sum(tf.mul(p, tf.logSoftmax(logits)), 1, true), Math.log(this.classes)));
    return tf.concat([pooled, p, maxP, certainty], 1) as TF.Tensor2D;
  }

  /** The confidence head's logit [N] on its input (see `confidenceInput`). */
  confidenceLogit(input: TF.Tensor2D): TF.Tensor1D {
    const tf = this.tf;
    const hidden = tf.relu(tf.add(tf.matMul(input, this.conf1W as unknown as TF.Tensor2D), this.conf1B));
    return tf.reshape(
      tf.add(tf.matMul(hidden, this.conf2W as unknown as TF.Tensor2D), this.conf2B),
      [-1],
    ) as TF.Tensor1D;
  }

  /** logits [N, classes] and confidence [N] in (0, 1) from pooled-input features (NHWC). */
  forward(x: TF.Tensor4D, training: boolean): { logits: TF.Tensor2D; confidence: TF.Tensor1D } {
    const { pooled, logits } = this.body(x, training);
    return {
      logits,
      confidence: this.tf.sigmoid(this.confidenceLogit(this.confidenceInput(pooled, logits))) as TF.Tensor1D,
    };
  }

  commitBatchNorm(momentum: number): void {
    commitBatchNorm(this.tf, this.convs, momentum);
  }

  /** The body and classifier (phase 1). */
  classifierVariables(): TF.Variable[] {
    return [...this.convs.flatMap((c) => [c.weight, c.bn.gamma, c.bn.beta]), this.clsW, this.clsB];
  }

  /** The confidence head (phase 2). */
  confidenceVariables(): TF.Variable[] {
    return [this.conf1W, this.conf1B, this.conf2W, this.conf2B];
  }

  trainableVariables(): TF.Variable[] {
    return [...this.classifierVariables(), ...this.confidenceVariables()];
  }

  /** Every weight and BatchNorm statistic by name (checkpoints of attach's phase 1). */
  state(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    const put = (k: string, t: TF.Tensor) => {
      out[`${this.name}.${k}`] = { shape: t.shape.slice(), data: Float32Array.from(t.dataSync()) };
    };
    this.convs.forEach((c, i) => {
      put(`conv${i}.w`, c.weight);
      put(`conv${i}.gamma`, c.bn.gamma);
      put(`conv${i}.beta`, c.bn.beta);
      put(`conv${i}.mean`, c.bn.runningMean);
      put(`conv${i}.var`, c.bn.runningVar);
    });
    put('clsW', this.clsW);
    put('clsB', this.clsB);
    put('conf1W', this.conf1W);
    put('conf1B', this.conf1B);
    put('conf2W', this.conf2W);
    put('conf2B', this.conf2B);
    return out;
  }

  /** Restores what `state()` wrote. */
  load(w: Record<string, { shape: number[]; data: Float32Array }>): void {
    const tf = this.tf;
    const get = (k: string) => {
      const e = w[`${this.name}.${k}`];
      if (!e) throw new Error(`checkpoint has no "${this.name}.${k}"`);
      return tf.tensor(e.data, e.shape);
    };
    this.convs.forEach((c, i) => {
      c.weight.assign(get(`conv${i}.w`));
      c.bn.gamma.assign(get(`conv${i}.gamma`));
      c.bn.beta.assign(get(`conv${i}.beta`));
      c.bn.runningMean.dispose();
      c.bn.runningVar.dispose();
      c.bn.runningMean = get(`conv${i}.mean`);
      c.bn.runningVar = get(`conv${i}.var`);
    });
    this.clsW.assign(get('clsW'));
    this.clsB.assign(get('clsB'));
    this.conf1W.assign(get('conf1W'));
    this.conf1B.assign(get('conf1B'));
    this.conf2W.assign(get('conf2W'));
    this.conf2B.assign(get('conf2B'));
  }

  params(): number {
    return this.trainableVariables().reduce((a, v) => a + v.size, 0);
  }
}
