/**
 * A PTEENet exit branch: conv3x3-BN-ReLU blocks (stride 2 while the map is larger than 7×7, so
 * early, high-resolution exits stay cheap) → global average pool → a classifier head (logits) and
 * a confidence head (sigmoid of a linear unit). Trained on frozen backbone features (NHWC here,
 * NCHW in ONNX).
 *
 * @example
 * const b = new Branch(tf, 'exit_0', { channels: 16, height: 28, width: 28 }, { width: 24, classes: 10 }, rand);
 * const { logits, confidence } = b.forward(features, true);
 */
import type { tf as TF } from '../tf.js';
import { applyConvBn, commitBatchNorm, createConvBn, type ConvBn } from '../backbone/resnet.js';

type Tf = typeof TF;

/** Spatial size at or below which a branch stops downsampling (the backbone's last stage is 7×7). */
const MIN_SIDE = 7;
/** Conv blocks per branch: two keeps exit 0 under 15 % of the backbone's MACs (see README). */
const BLOCKS = 2;

export interface FeatureShape { channels: number; height: number; width: number }

export class Branch {
  readonly convs: ConvBn[] = [];
  readonly clsW: TF.Variable;
  readonly clsB: TF.Variable;
  readonly confW: TF.Variable;
  readonly confB: TF.Variable;
  /** Per-sample MACs of the branch (convs + heads). */
  readonly macs: number;

  constructor(private readonly tf: Tf, readonly name: string, readonly input: FeatureShape, opts: { width: number; classes: number }, rand: () => number) {
    let { channels: c, height: h, width: w } = input;
    let macs = 0;
    for (let i = 0; i < BLOCKS; i++) {
      const stride = Math.min(h, w) > MIN_SIDE ? 2 : 1;
      this.convs.push(createConvBn(tf, rand, `${name}.conv${i + 1}`, 3, c, opts.width, stride));
      h = Math.ceil(h / stride); w = Math.ceil(w / stride);
      macs += h * w * opts.width * c * 9;
      c = opts.width;
    }
    const glorot = (fanIn: number, fanOut: number) => Float32Array.from({ length: fanIn * fanOut }, () => (rand() * 2 - 1) * Math.sqrt(6 / (fanIn + fanOut)));
    this.clsW = tf.variable(tf.tensor2d(glorot(c, opts.classes), [c, opts.classes]), true);
    this.clsB = tf.variable(tf.zeros([opts.classes]), true);
    this.confW = tf.variable(tf.tensor2d(glorot(c, 1), [c, 1]), true);
    // Start confidences low (sigmoid(-2) ≈ 0.12): samples flow to later exits until a branch has learnt.
    this.confB = tf.variable(tf.fill([1], -2), true);
    this.macs = macs + c * opts.classes + c;
  }

  /** logits [N, classes], confidence [N] in (0, 1). */
  forward(x: TF.Tensor4D, training: boolean): { logits: TF.Tensor2D; confidence: TF.Tensor1D } {
    const tf = this.tf;
    let h = x;
    for (const c of this.convs) h = tf.relu(applyConvBn(tf, h, c, training));
    const pooled = tf.mean(h, [1, 2]) as TF.Tensor2D;
    const logits = tf.add(tf.matMul(pooled, this.clsW as unknown as TF.Tensor2D), this.clsB) as TF.Tensor2D;
    const confidence = tf.reshape(tf.sigmoid(tf.add(tf.matMul(pooled, this.confW as unknown as TF.Tensor2D), this.confB)), [-1]) as TF.Tensor1D;
    return { logits, confidence };
  }

  commitBatchNorm(momentum: number): void {
    commitBatchNorm(this.tf, this.convs, momentum);
  }

  trainableVariables(): TF.Variable[] {
    return [...this.convs.flatMap((c) => [c.weight, c.bn.gamma, c.bn.beta]), this.clsW, this.clsB, this.confW, this.confB];
  }

  params(): number {
    return this.trainableVariables().reduce((a, v) => a + v.size, 0);
  }
}
