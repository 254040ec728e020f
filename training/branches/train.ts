/**
 * Trains the exit branches on cached features of the frozen backbone, in two phases.
 *
 * Phase 1, classifiers: every branch's body and classifier head minimise its own cross-entropy
 * (BranchyNet/SDN) on the exits' training images.
 *
 * Phase 2, confidence heads: with each branch frozen, its confidence head learns
 * P(this exit's answer is right) by binary cross-entropy against 1[argmax z_i = y] on a holdout of
 * the training split that the branches never saw.
 *
 * Why not EENet's cascade loss (the first bundle's choice)? With
 *   q_i = h_i · Π_{j<i}(1 − h_j),  Ŷ = Σ_i q_i · softmax(z_i),  L = CE(Ŷ, y) + λ·Σ_i q_i c_i + …
 * CE(Ŷ) is lowest when each input goes to the head most likely to be right, and on cached training
 * features that is the frozen backbone's final head for nearly every input where the heads differ
 * (the first bundle's exits scored 86.8 / 89.4 / 92.7 % on test against the backbone's 93.3 %, and
 * the backbone is right on 94 % of its training images), so the loss drives h_i → 0
 * at every exit; λ·cost, at 0.05, is far too weak to resist. The first bundle's heads output ~1e-4
 * for every input (AUROC 0.47 / 0.48 / 0.71). The head's target also mixes "am I right" with "is the
 * final head right", which is not what a threshold on it should mean. A correctness target fixes
 * both, and fitting it on images the classifier never trained on keeps it honest: a classifier is
 * right on its own training images more often than on new ones (here 90.7 % vs 89.8 % at exit 0; the
 * backbone fits its training images only ~1 pp better than test, 94.4 vs 93.4 %).
 * `cascadeLoss` stays for the training benchmark and for comparison.
 *
 * @example
 * const branches = makeBranches(tf, cfg, trainCache, classes, widths);
 * await trainClassifiers(tf, cfg, branches, trainCache, classes);
 * const fit = await trainConfidenceHeads(tf, cfg, branches, holdoutCache, classes);
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../../core/safetensors.js';
import { mulberry32 } from '../backbone/resnet.js';
import { auroc } from '../calibrate/frontier.js';
import type { AttachConfig } from '../config.js';
import { adamTensors, restoreAdam } from '../optimizer-state.js';
import { Progress } from '../progress.js';
import type { tf as TF } from '../tf.js';
import { Branch } from './branch.js';
import { blockShuffle, type FeatureCache } from './features.js';

type Tf = typeof TF;

/** BN running-stat momentum for branches (same convention as the backbone). */
const BN_MOMENTUM = 0.9;
/** Keeps log() finite when the cascade puts ~0 mass on the true class. */
const LOG_EPS = 1e-7;

export interface ExitCosts {
  exits: number[];
  final: number;
}

export function nchwToNhwc(tf: Tf, data: Float32Array, n: number, shape: number[]): TF.Tensor4D {
  const [c, h, w] = shape as [number, number, number];
  return tf.transpose(tf.tensor4d(data, [n, c, h, w]), [0, 2, 3, 1]) as TF.Tensor4D;
}

/** EENets' cascade loss (see the module comment for why the shipped exits do not train with it). */
export function cascadeLoss(
  tf: Tf,
  outs: { logits: TF.Tensor2D; confidence: TF.Tensor1D }[],
  finalLogits: TF.Tensor2D,
  y: TF.Tensor2D,
  costs: ExitCosts,
  lambda: number,
): TF.Scalar {
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

/** One branch per cut, from the raw cut shapes [C, H, W] (the caches hold them after each branch's pooling). */
export function makeBranches(tf: Tf, seed: number, cutShapes: number[][], classes: number, widths: number[]): Branch[] {
  const rand = mulberry32(seed);
  return cutShapes.map(
    (s, i) =>
      new Branch(
        tf,
        `exit_${i}`,
        { channels: s[0]!, height: s[1]!, width: s[2]! },
        { width: widths[i]!, classes },
        rand,
      ),
  );
}

function shuffle(n: number, rand: () => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Phase 1: each branch's classifier by its own cross-entropy plus distillation from the frozen
 * backbone's cached logits (Hinton et al.; as in SDN/BYOT self-distillation):
 *   L_i = (1 − α)·CE(z_i, y) + α·T²·KL(softmax(f/T) ‖ softmax(z_i/T)),
 * all branches in one pass over the data.
 */
export async function trainClassifiers(
  tf: Tf,
  cfg: Pick<AttachConfig, 'seed' | 'lr' | 'epochs' | 'batchSize' | 'distill' | 'distillTemperature'>,
  branches: Branch[],
  train: FeatureCache,
  classes: number,
  io: {
    logFile?: string;
    quiet?: boolean /** Resumable: the last finished epoch is kept here (same config ⇒ training continues after it; kept when done, so a rerun with the same config goes straight to calibration). */;
    checkpoint?: string;
    configKey?: string;
    stopAfterEpoch?: number;
  } = {},
): Promise<{ samplesPerSec: number; seconds: number; trainAccuracy: number[]; resumedFrom: number }> {
  const vars = branches.flatMap((b) => b.classifierVariables());
  const optimizer = tf.train.adam(cfg.lr);
  const steps = Math.max(1, Math.floor(train.count / cfg.batchSize));
  const t0 = performance.now();
  let seen = 0;
  const hits = new Array<number>(branches.length).fill(0);
  let lastEpochSeen = 0;
  let start = 1;
  const key = io.configKey ?? JSON.stringify(cfg);
  if (io.checkpoint && existsSync(io.checkpoint)) {
    const ck = decodeSafetensors(readFileSync(io.checkpoint));
    if (ck.metadata.config === key) {
      const w = Object.fromEntries(
        Object.entries(ck.tensors)
          .filter(([k]) => !k.startsWith('adam.'))
          .map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array }]),
      );
      for (const b of branches) b.load(w);
      await restoreAdam(tf, optimizer, ck.tensors);
      start = Number(ck.metadata.epoch) + 1;
      if (!io.quiet) console.error(`[attach] resuming exit training after epoch ${start - 1}`);
    }
  }
  const resumedFrom = start - 1;
  for (let epoch = start; epoch <= cfg.epochs; epoch++) {
    // Each epoch seeds its own shuffle, so a resumed run sees the batches an uninterrupted one would.
    // A disk cache is read a chunk at a time: batches then come from a few neighbouring chunks.
    const onDisk = train.features.find((f) => f.mode === 'disk');
    const order = onDisk
      ? blockShuffle(train.count, onDisk.chunkSize * 4, mulberry32(cfg.seed * 7919 + epoch))
      : shuffle(train.count, mulberry32(cfg.seed * 7919 + epoch));
    const p = new Progress(`exits epoch ${epoch}/${cfg.epochs}`, steps * cfg.batchSize, io);
    const te = performance.now();
    let lossSum = 0,
      n = 0;
    hits.fill(0);
    for (let s = 0; s < steps; s++) {
      // Cosine decay over all steps: stable heads without a tuned schedule.
      (optimizer as unknown as { learningRate: number }).learningRate =
        0.5 * cfg.lr * (1 + Math.cos((Math.PI * ((epoch - 1) * steps + s)) / (cfg.epochs * steps)));
      const idx = order.subarray(s * cfg.batchSize, Math.min(train.count, (s + 1) * cfg.batchSize));
      const feats = train.features.map((f) => f.gather(idx));
      const labels = Int32Array.from(idx, (i) => train.labels[i]!);
      const fin = new Float32Array(idx.length * classes);
      idx.forEach((i, b) => {
        fin.set(train.logits.subarray(i * classes, (i + 1) * classes), b * classes);
      });
      const T = cfg.distillTemperature,
        alpha = cfg.distill;
      const [loss, ...h] = tf.tidy(() => {
        const xs = feats.map((f, i) => nchwToNhwc(tf, f, idx.length, train.features[i]!.shape));
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes) as TF.Tensor2D;
        const teacher = tf.softmax(tf.div(tf.tensor2d(fin, [idx.length, classes]), T));
        const logits: TF.Tensor2D[] = [];
        const l = optimizer.minimize(
          () => {
            const ces = branches.map((b, i) => {
              const z = b.body(xs[i]!, true).logits;
              logits.push(tf.keep(z));
              const ce = tf.losses.softmaxCrossEntropy(y, z);
              if (alpha <= 0) return ce;
              // KL(teacher ‖ student) = Σ t·(log t − log s); the teacher's entropy is constant, so the
              // cross-entropy against the soft targets has the same gradient.
              const kd = tf.mul(tf.neg(tf.mean(tf.sum(tf.mul(teacher, tf.logSoftmax(tf.div(z, T))), 1))), T * T);
              return tf.add(tf.mul(ce, 1 - alpha), tf.mul(kd, alpha));
            });
            return tf.addN(ces) as TF.Scalar;
          },
          true,
          vars,
        )!;
        const yi = tf.tensor1d(labels, 'int32');
        const out = [
          l.dataSync()[0]! / branches.length,
          ...logits.map((z) => tf.sum(tf.cast(tf.equal(tf.argMax(z, 1), yi), 'float32')).dataSync()[0]!),
        ];
        logits.forEach((z) => {
          z.dispose();
        });
        return out;
      });
      for (const b of branches) b.commitBatchNorm(BN_MOMENTUM);
      h.forEach((v, i) => {
        hits[i]! += v;
      });
      lossSum += loss * idx.length;
      n += idx.length;
      seen += idx.length;
      p.update(n, { loss: lossSum / n, 'samples/s': n / ((performance.now() - te) / 1000) });
    }
    lastEpochSeen = n;
    p.stop({ trainAcc: hits.map((v) => (v / n).toFixed(3)).join('/') });
    if (io.checkpoint) {
      const tensors: Record<string, SafeTensor> = {};
      for (const b of branches)
        for (const [k, v] of Object.entries(b.state())) tensors[k] = { dtype: 'F32', shape: v.shape, data: v.data };
      Object.assign(tensors, await adamTensors(optimizer));
      writeFileSync(
        `${io.checkpoint}.tmp`,
        encodeSafetensors(tensors, {
          config: key,
          epoch: String(epoch),
          trainAccuracy: JSON.stringify(hits.map((v) => v / n)),
        }),
      );
      renameSync(`${io.checkpoint}.tmp`, io.checkpoint);
    }
    if (io.stopAfterEpoch !== undefined && epoch >= io.stopAfterEpoch && epoch < cfg.epochs) {
      const seconds = (performance.now() - t0) / 1000;
      return {
        samplesPerSec: seen / seconds,
        seconds,
        trainAccuracy: hits.map((v) => v / Math.max(1, n)),
        resumedFrom,
      };
    }
  }
  if (io.checkpoint && resumedFrom === cfg.epochs) {
    // Everything was already trained: the accuracies are the checkpoint's.
    hits.splice(
      0,
      hits.length,
      ...(JSON.parse(decodeSafetensors(readFileSync(io.checkpoint)).metadata.trainAccuracy ?? '[]') as number[]),
    );
    lastEpochSeen = 1;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    samplesPerSec: seen / Math.max(seconds, 1e-9),
    seconds,
    trainAccuracy: hits.map((v) => v / Math.max(1, lastEpochSeen)),
    resumedFrom,
  };
}

/** The body's outputs on a cached split, in inference mode: the confidence head's input and correctness. */
function headData(
  tf: Tf,
  b: Branch,
  cache: FeatureCache,
  cut: number,
  batch = 500,
): { x: Float32Array; dim: number; correct: Float32Array } {
  const f = cache.features[cut]!;
  let dim = 0;
  const parts: Float32Array[] = [];
  const correct = new Float32Array(cache.count);
  for (let s = 0; s < cache.count; s += batch) {
    const n = Math.min(batch, cache.count - s);
    const idx = Int32Array.from({ length: n }, (_, i) => s + i);
    const [inp, pred] = tf.tidy(() => {
      const { pooled, logits } = b.body(nchwToNhwc(tf, f.gather(idx), n, f.shape), false);
      const ci = b.confidenceInput(pooled, logits);
      dim = ci.shape[1]!;
      return [ci.dataSync() as Float32Array, tf.argMax(logits, 1).dataSync() as Int32Array];
    }) as [Float32Array, Int32Array];
    parts.push(Float32Array.from(inp));
    for (let i = 0; i < n; i++) correct[s + i] = pred[i] === cache.labels[s + i] ? 1 : 0;
  }
  const x = new Float32Array(cache.count * dim);
  let off = 0;
  for (const p of parts) {
    x.set(p, off);
    off += p.length;
  }
  return { x, dim, correct };
}

export interface ConfidenceFit {
  /** Per exit: its accuracy on the holdout and the fitted head's AUROC there (in-sample for the head). */
  holdoutAccuracy: number[];
  holdoutAuroc: number[];
  epochs: number;
  seconds: number;
}

/**
 * Phase 2: each confidence head, branch frozen, by binary cross-entropy against its exit's
 * correctness on `holdout` (images the branches did not train on). Adam with cosine decay and a small
 * L2 penalty; the heads are tiny (~1k weights) next to the 5,000-image holdout.
 */
export async function trainConfidenceHeads(
  tf: Tf,
  cfg: Pick<AttachConfig, 'seed' | 'confEpochs' | 'confLr'>,
  branches: Branch[],
  holdout: FeatureCache,
  io: { quiet?: boolean } = {},
): Promise<ConfidenceFit> {
  const t0 = performance.now();
  const rand = mulberry32(cfg.seed + 2);
  const batch = 256;
  const fit: ConfidenceFit = { holdoutAccuracy: [], holdoutAuroc: [], epochs: cfg.confEpochs, seconds: 0 };
  for (const [i, b] of branches.entries()) {
    const { x, dim, correct } = headData(tf, b, holdout, i);
    const vars = b.confidenceVariables();
    const optimizer = tf.train.adam(cfg.confLr);
    const n = holdout.count;
    const steps = Math.max(1, Math.ceil(n / batch));
    for (let epoch = 0; epoch < cfg.confEpochs; epoch++) {
      const order = shuffle(n, rand);
      for (let s = 0; s < steps; s++) {
        (optimizer as unknown as { learningRate: number }).learningRate =
          0.5 * cfg.confLr * (1 + Math.cos((Math.PI * (epoch * steps + s)) / (cfg.confEpochs * steps)));
        const idx = order.subarray(s * batch, Math.min(n, (s + 1) * batch));
        const xb = new Float32Array(idx.length * dim),
          yb = new Float32Array(idx.length);
        idx.forEach((r, k) => {
          xb.set(x.subarray(r * dim, (r + 1) * dim), k * dim);
          yb[k] = correct[r]!;
        });
        tf.tidy(() => {
          const xt = tf.tensor2d(xb, [idx.length, dim]),
            yt = tf.tensor1d(yb);
          optimizer.minimize(
            () => {
              const bce = tf.losses.sigmoidCrossEntropy(yt, b.confidenceLogit(xt));
              const l2 = tf.add(tf.sum(tf.square(b.conf1W)), tf.sum(tf.square(b.conf2W)));
              return tf.add(bce, tf.mul(l2, 1e-4)) as TF.Scalar;
            },
            false,
            vars,
          );
        });
      }
    }
    const conf = tf.tidy(() => tf.sigmoid(b.confidenceLogit(tf.tensor2d(x, [n, dim]))).dataSync() as Float32Array);
    fit.holdoutAccuracy.push(correct.reduce((a, v) => a + v, 0) / n);
    fit.holdoutAuroc.push(
      auroc(
        conf,
        Array.from(correct, (v) => v === 1),
      ),
    );
    if (!io.quiet)
      console.error(
        `[attach] confidence head ${i}: holdout accuracy ${(fit.holdoutAccuracy[i]! * 100).toFixed(1)} %, AUROC ${fit.holdoutAuroc[i]!.toFixed(3)} (in-sample)`,
      );
  }
  fit.seconds = (performance.now() - t0) / 1000;
  return fit;
}
