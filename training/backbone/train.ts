/**
 * Trains the default backbone (./resnet.ts) with Adam, linear warm-up + cosine decay, L2 weight
 * decay and flip/shift augmentation; keeps the checkpoint with the best validation accuracy.
 *
 * @example
 * const { net, best } = await trainBackbone(tf, cfg, dataset, { logFile: 'out/train-log.jsonl' });
 */
import { writeFileSync } from 'node:fs';
import type { tf as TF } from '../tf.js';
import type { BackboneConfig } from '../config.js';
import type { Dataset, Split } from '../data/dataset.js';
import { pixelsPerImage } from '../data/dataset.js';
import { normaliseImages } from '../../core/normalise.js';
import { encodeSafetensors } from '../../core/safetensors.js';
import { Progress } from '../progress.js';
import { ResNet, mulberry32 } from './resnet.js';

type Tf = typeof TF;

export interface EpochRecord { epoch: number; loss: number; trainAcc: number; valAcc: number; samplesPerSec: number; seconds: number; lr: number }

/** Normalisation of Fashion-MNIST (mean and std of the training pixels / 255). */
export const FASHION_MEAN = [0.286];
export const FASHION_STD = [0.353];

/** Copies images `idx` into a u8 batch, optionally flipped and shifted (zero fill). */
export function gatherBatch(split: Split, ds: Pick<Dataset, 'shape'>, idx: ArrayLike<number>, augment: { shift: number; rand: () => number } | null): Uint8Array {
  const { channels: C, height: H, width: W } = ds.shape;
  const per = pixelsPerImage(ds);
  const out = new Uint8Array(idx.length * per);
  for (let b = 0; b < idx.length; b++) {
    const src = split.images.subarray(idx[b]! * per, (idx[b]! + 1) * per);
    if (!augment) {
      out.set(src, b * per);
      continue;
    }
    const flip = augment.rand() < 0.5;
    const dy = Math.floor(augment.rand() * (2 * augment.shift + 1)) - augment.shift;
    const dx = Math.floor(augment.rand() * (2 * augment.shift + 1)) - augment.shift;
    for (let y = 0; y < H; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= H) continue;
      for (let x = 0; x < W; x++) {
        let sx = x - dx;
        if (sx < 0 || sx >= W) continue;
        if (flip) sx = W - 1 - sx;
        for (let c = 0; c < C; c++) out[b * per + (y * W + x) * C + c] = src[(sy * W + sx) * C + c]!;
      }
    }
  }
  return out;
}

function shuffled(n: number, rand: () => number): Int32Array {
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Accuracy of the net (inference-mode BN) on a split. */
export function evaluate(tf: Tf, net: ResNet, split: Split, ds: Pick<Dataset, 'shape'>, mean: number[], std: number[], batch = 500): number {
  let correct = 0;
  const { channels: C, height: H, width: W } = ds.shape;
  for (let s = 0; s < split.count; s += batch) {
    const n = Math.min(batch, split.count - s);
    const idx = Int32Array.from({ length: n }, (_, i) => s + i);
    const x = normaliseImages(gatherBatch(split, ds, idx, null), n, ds.shape, mean, std, 'NHWC');
    const pred = tf.tidy(() => tf.argMax(net.forward(tf.tensor4d(x, [n, H, W, C]), false), 1).dataSync());
    for (let i = 0; i < n; i++) if (pred[i] === split.labels[s + i]) correct++;
  }
  return correct / split.count;
}

export function learningRate(cfg: Pick<BackboneConfig, 'lr' | 'warmupEpochs' | 'epochs'>, progressEpochs: number): number {
  if (progressEpochs < cfg.warmupEpochs) return (cfg.lr * (progressEpochs + 1e-3)) / cfg.warmupEpochs;
  const t = (progressEpochs - cfg.warmupEpochs) / Math.max(1e-9, cfg.epochs - cfg.warmupEpochs);
  return 0.5 * cfg.lr * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

export function saveCheckpoint(path: string, net: ResNet, meta: Record<string, string>): void {
  const tensors = Object.fromEntries(Object.entries(net.weights()).map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: v.data }]));
  writeFileSync(path, encodeSafetensors(tensors, meta));
}

export async function trainBackbone(tf: Tf, cfg: BackboneConfig, ds: Dataset, io: { checkpoint: string; logFile: string; quiet?: boolean }): Promise<{ net: ResNet; history: EpochRecord[]; bestValAcc: number; bestEpoch: number }> {
  const { channels: C, height: H, width: W } = ds.shape;
  const net = new ResNet(tf, { inputChannels: C, numClasses: ds.classes.length, stemWidth: cfg.stemWidth, widths: cfg.widths, blocksPerStage: cfg.blocksPerStage }, cfg.seed);
  const rand = mulberry32(cfg.seed + 1);
  const optimizer = tf.train.adam(cfg.lr);
  const vars = net.trainableVariables();
  const decayed = net.decayedVariables();
  const steps = Math.floor(ds.train.count / cfg.batchSize);
  const history: EpochRecord[] = [];
  let best = { acc: -1, epoch: 0, weights: net.weights() };

  for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
    const order = shuffled(ds.train.count, rand);
    const p = new Progress(`epoch ${epoch}/${cfg.epochs}`, steps * cfg.batchSize, { logFile: io.logFile, quiet: io.quiet });
    const t0 = performance.now();
    let lossSum = 0, correct = 0, seen = 0, lr = cfg.lr;
    for (let s = 0; s < steps; s++) {
      lr = learningRate(cfg, epoch - 1 + s / steps);
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const idx = order.subarray(s * cfg.batchSize, (s + 1) * cfg.batchSize);
      const u8 = gatherBatch(ds.train, ds, idx, cfg.augment ? { shift: cfg.shift, rand } : null);
      const x = normaliseImages(u8, idx.length, ds.shape, FASHION_MEAN, FASHION_STD, 'NHWC');
      const labels = Int32Array.from(idx, (i) => ds.train.labels[i]!);
      const [loss, hits] = tf.tidy(() => {
        const xt = tf.tensor4d(x, [idx.length, H, W, C]);
        const yt = tf.oneHot(tf.tensor1d(labels, 'int32'), ds.classes.length);
        let logits: TF.Tensor2D | undefined;
        const l = optimizer.minimize(() => {
          logits = tf.keep(net.forward(xt, true));
          const ce = tf.losses.softmaxCrossEntropy(yt, logits);
          const l2 = tf.addN(decayed.map((v) => tf.sum(tf.square(v))));
          return tf.add(ce, tf.mul(l2, cfg.weightDecay / 2)) as TF.Scalar;
        }, true, vars)!;
        const h = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(yt, 1)), 'float32'));
        const out = [l.dataSync()[0]!, h.dataSync()[0]!];
        logits!.dispose();
        return out;
      });
      net.commitBatchNorm(cfg.bnMomentum);
      lossSum += loss * idx.length; correct += hits; seen += idx.length;
      const sps = seen / ((performance.now() - t0) / 1000);
      p.update(seen, { loss: lossSum / seen, acc: correct / seen, 'samples/s': sps, lr });
    }
    const seconds = (performance.now() - t0) / 1000;
    const valAcc = evaluate(tf, net, ds.val, ds, FASHION_MEAN, FASHION_STD);
    const rec: EpochRecord = { epoch, loss: lossSum / seen, trainAcc: correct / seen, valAcc, samplesPerSec: seen / seconds, seconds, lr };
    history.push(rec);
    p.stop({ valAcc });
    if (valAcc > best.acc) best = { acc: valAcc, epoch, weights: net.weights() };
    saveCheckpoint(io.checkpoint, net, { epoch: String(epoch), valAcc: String(valAcc), config: JSON.stringify(cfg) });
  }
  net.load(best.weights);
  return { net, history, bestValAcc: best.acc, bestEpoch: best.epoch };
}
