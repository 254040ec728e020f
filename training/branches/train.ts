/**
 * Trains all exit branches jointly on cached features with the confidence-weighted, cost-penalised
 * loss of EENets (Demir et al.), as used by PTEENet on a frozen backbone:
 *
 *   q_i = h_i · Π_{j<i}(1 − h_j)          (probability of leaving at exit i; the final head has h = 1)
 *   Ŷ   = Σ_i q_i · softmax(z_i)           (the cascade's expected prediction)
 *   C   = Σ_i q_i · c_i                    (expected cost, c_i = MAC fraction when leaving at i)
 *   L   = CE(Ŷ, y) + λ·C + mean_i CE(z_i, y)
 *
 * The last term (per-exit cross-entropy, as in BranchyNet/SDN) keeps every classifier head useful
 * whatever its confidence; without it, heads whose h collapses to 0 stop learning.
 *
 * @example
 * const branches = await trainBranches(tf, cfg, trainCache, costs);
 */
import type { tf as TF } from '../tf.js';
import type { AttachConfig } from '../config.js';
import { mulberry32 } from '../backbone/resnet.js';
import { Progress } from '../progress.js';
import { Branch } from './branch.js';
import type { FeatureCache } from './features.js';

type Tf = typeof TF;

/** BN running-stat momentum for branches (same convention as the backbone). */
const BN_MOMENTUM = 0.9;
/** Keeps log() finite when the cascade puts ~0 mass on the true class. */
const LOG_EPS = 1e-7;

export interface ExitCosts { exits: number[]; final: number }

export function nchwToNhwc(tf: Tf, data: Float32Array, n: number, shape: number[]): TF.Tensor4D {
  const [c, h, w] = shape as [number, number, number];
  return tf.transpose(tf.tensor4d(data, [n, c, h, w]), [0, 2, 3, 1]) as TF.Tensor4D;
}

export function cascadeLoss(tf: Tf, outs: { logits: TF.Tensor2D; confidence: TF.Tensor1D }[], finalLogits: TF.Tensor2D, y: TF.Tensor2D, costs: ExitCosts, lambda: number): TF.Scalar {
  let remain: TF.Tensor1D = tf.onesLike(outs[0]!.confidence);
  let yhat: TF.Tensor = tf.zerosLike(y);
  let cost: TF.Tensor = tf.zerosLike(remain);
  outs.forEach((o, i) => {
    const q = tf.mul(o.confidence, remain);
    yhat = tf.add(yhat, tf.mul(tf.expandDims(q, 1), tf.softmax(o.logits)));
    cost = tf.add(cost, tf.mul(q, costs.exits[i]!));
    remain = tf.mul(remain, tf.sub(1, o.confidence)) as TF.Tensor1D;
  });
  yhat = tf.add(yhat, tf.mul(tf.expandDims(remain, 1), tf.softmax(finalLogits)));
  cost = tf.add(cost, tf.mul(remain, costs.final));
  const cascadeCe = tf.neg(tf.mean(tf.log(tf.add(tf.sum(tf.mul(yhat, y), 1), LOG_EPS))));
  const aux = tf.div(tf.addN(outs.map((o) => tf.losses.softmaxCrossEntropy(y, o.logits))), outs.length);
  return tf.add(tf.add(cascadeCe, tf.mul(tf.mean(cost), lambda)), aux) as TF.Scalar;
}

export async function trainBranches(
  tf: Tf, cfg: AttachConfig, train: FeatureCache, classes: number, widths: number[], costsOf: (branches: Branch[]) => ExitCosts, io: { logFile?: string; quiet?: boolean } = {},
): Promise<{ branches: Branch[]; samplesPerSec: number; seconds: number }> {
  const rand = mulberry32(cfg.seed);
  const branches = train.features.map((f, i) => new Branch(tf, `exit_${i}`, { channels: f.shape[0]!, height: f.shape[1]!, width: f.shape[2]! }, { width: widths[i]!, classes }, rand));
  const costs = costsOf(branches);
  const vars = branches.flatMap((b) => b.trainableVariables());
  const optimizer = tf.train.adam(cfg.lr);
  const steps = Math.max(1, Math.floor(train.count / cfg.batchSize));
  const t0 = performance.now();
  let seen = 0;
  for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
    const order = Int32Array.from({ length: train.count }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const p = new Progress(`exits epoch ${epoch}/${cfg.epochs}`, steps * cfg.batchSize, io);
    const te = performance.now();
    let lossSum = 0, n = 0;
    for (let s = 0; s < steps; s++) {
      // Cosine decay over all steps: stable final heads without a tuned schedule.
      (optimizer as unknown as { learningRate: number }).learningRate = 0.5 * cfg.lr * (1 + Math.cos(Math.PI * ((epoch - 1) * steps + s) / (cfg.epochs * steps)));
      const idx = order.subarray(s * cfg.batchSize, Math.min(train.count, (s + 1) * cfg.batchSize));
      const feats = train.features.map((f) => f.gather(idx));
      const fin = new Float32Array(idx.length * classes);
      idx.forEach((i, b) => fin.set(train.logits.subarray(i * classes, (i + 1) * classes), b * classes));
      const labels = Int32Array.from(idx, (i) => train.labels[i]!);
      const loss = tf.tidy(() => {
        const xs = feats.map((f, i) => nchwToNhwc(tf, f, idx.length, train.features[i]!.shape));
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes) as TF.Tensor2D;
        const finalLogits = tf.tensor2d(fin, [idx.length, classes]);
        const l = optimizer.minimize(() => cascadeLoss(tf, branches.map((b, i) => b.forward(xs[i]!, true)), finalLogits, y, costs, cfg.costWeight), true, vars)!;
        return l.dataSync()[0]!;
      });
      for (const b of branches) b.commitBatchNorm(BN_MOMENTUM);
      lossSum += loss * idx.length; n += idx.length; seen += idx.length;
      p.update(n, { loss: lossSum / n, 'samples/s': n / ((performance.now() - te) / 1000) });
    }
    p.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { branches, samplesPerSec: seen / seconds, seconds };
}
