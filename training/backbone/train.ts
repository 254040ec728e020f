/**
 * Trains the default backbone (./resnet.ts) with Adam, linear warm-up + cosine decay, L2 weight
 * decay and flip/shift augmentation; keeps the checkpoint with the best validation accuracy.
 *
 * @example
 * const { net, best } = await trainBackbone(tf, cfg, dataset, { logFile: 'out/train-log.jsonl' });
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { normaliseImages } from '../../core/normalise.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../../core/safetensors.js';
import type { BackboneConfig } from '../config.js';
import type { Dataset, Split } from '../data/dataset.js';
import { pixelsPerImage } from '../data/dataset.js';
import { adamTensors, restoreAdam } from '../optimizer-state.js';
import { Progress } from '../progress.js';
import type { tf as TF } from '../tf.js';
import { mulberry32, ResNet } from './resnet.js';

type Tf = typeof TF;

export interface EpochRecord {
  epoch: number;
  loss: number;
  trainAcc: number;
  valAcc: number;
  samplesPerSec: number;
  seconds: number;
  lr: number;
}

/** Normalisation of Fashion-MNIST (mean and std of the training pixels / 255). */
export const FASHION_MEAN = [0.286];
export const FASHION_STD = [0.353];

/** Copies images `idx` into a u8 batch, optionally flipped and shifted (zero fill). */
export function gatherBatch(
  split: Split,
  ds: Pick<Dataset, 'shape'>,
  idx: ArrayLike<number>,
  augment: { shift: number; rand: () => number } | null,
): Uint8Array {
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

export function shuffled(n: number, rand: () => number): Int32Array {
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Accuracy of the net (inference-mode BN) on a split. */
export function evaluate(
  tf: Tf,
  net: ResNet,
  split: Split,
  ds: Pick<Dataset, 'shape'>,
  mean: number[],
  std: number[],
  batch = 500,
): number {
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

export function learningRate(
  cfg: Pick<BackboneConfig, 'lr' | 'warmupEpochs' | 'epochs'>,
  progressEpochs: number,
): number {
  if (progressEpochs < cfg.warmupEpochs) return (cfg.lr * (progressEpochs + 1e-3)) / cfg.warmupEpochs;
  const t = (progressEpochs - cfg.warmupEpochs) / Math.max(1e-9, cfg.epochs - cfg.warmupEpochs);
  return 0.5 * cfg.lr * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

export function saveCheckpoint(
  path: string,
  net: ResNet,
  meta: Record<string, string>,
  extra: Record<string, SafeTensor> = {},
): void {
  const tensors: Record<string, SafeTensor> = Object.fromEntries(
    Object.entries(net.weights()).map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: v.data }]),
  );
  // Write then rename: a run stopped mid-write leaves the previous checkpoint intact.
  writeFileSync(`${path}.tmp`, encodeSafetensors({ ...tensors, ...extra }, meta));
  renameSync(`${path}.tmp`, path);
}

function weightsOf(
  tensors: Record<string, SafeTensor>,
  prefix = '',
): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, t] of Object.entries(tensors))
    if (k.startsWith(prefix) && !k.startsWith('adam.'))
      out[k.slice(prefix.length)] = { shape: t.shape, data: t.data as Float32Array };
  return out;
}

/**
 * A resumable run: `checkpoint` holds the last finished epoch (weights, Adam moments, history) and
 * `checkpoint.best` the best-validation weights so far. Started again with the same config, training
 * continues at the next epoch with the same per-epoch shuffles and augmentation (each epoch seeds its
 * own PRNG), so a resumed run ends where an uninterrupted one would.
 */
export async function trainBackbone(
  tf: Tf,
  cfg: BackboneConfig,
  ds: Dataset,
  io: {
    checkpoint: string;
    logFile: string;
    quiet?: boolean /** Stop after this epoch (the checkpoint is written first): training in chunks, and tests of resume. */;
    stopAfterEpoch?: number;
  },
): Promise<{
  net: ResNet;
  history: EpochRecord[];
  bestValAcc: number;
  bestEpoch: number;
  resumedFrom: number;
  identityBlocks: string[];
  warmStartValAcc: number;
}> {
  const { channels: C, height: H, width: W } = ds.shape;
  const net = new ResNet(
    tf,
    {
      inputChannels: C,
      numClasses: ds.classes.length,
      stemWidth: cfg.stemWidth,
      widths: cfg.widths,
      blocksPerStage: cfg.blocksPerStage,
    },
    cfg.seed,
  );
  const optimizer = tf.train.adam(cfg.lr);
  const vars = net.trainableVariables();
  const decayed = net.decayedVariables();
  const steps = Math.floor(ds.train.count / cfg.batchSize);
  let history: EpochRecord[] = [];
  let best = { acc: -1, epoch: 0, weights: net.weights() };
  const bestPath = `${io.checkpoint}.best`;
  const configKey = JSON.stringify(cfg);
  let start = 1;
  if (existsSync(io.checkpoint) && existsSync(bestPath)) {
    const last = decodeSafetensors(readFileSync(io.checkpoint));
    const bestCk = decodeSafetensors(readFileSync(bestPath));
    if (last.metadata.config === configKey && bestCk.metadata.config === configKey) {
      net.load(weightsOf(last.tensors));
      await restoreAdam(tf, optimizer, last.tensors);
      history = JSON.parse(last.metadata.history ?? '[]') as EpochRecord[];
      best = {
        acc: Number(bestCk.metadata.valAcc),
        epoch: Number(bestCk.metadata.epoch),
        weights: weightsOf(bestCk.tensors),
      };
      start = Number(last.metadata.epoch) + 1;
      if (!io.quiet)
        console.error(
          `[backbone] resuming after epoch ${start - 1} (best so far: epoch ${best.epoch}, val ${(best.acc * 100).toFixed(2)} %)`,
        );
    } else if (!io.quiet) {
      console.error('[backbone] checkpoint is from a different config: starting afresh');
    }
  }
  const resumedFrom = start - 1;
  let identityBlocks: string[] = [];
  let warmStartValAcc = NaN;
  if (start === 1 && cfg.warmStart) {
    identityBlocks = net.warmStart(weightsOf(decodeSafetensors(readFileSync(cfg.warmStart)).tensors));
    best = { acc: evaluate(tf, net, ds.val, ds, FASHION_MEAN, FASHION_STD), epoch: 0, weights: net.weights() };
    warmStartValAcc = best.acc;
    saveCheckpoint(bestPath, net, { epoch: '0', valAcc: String(best.acc), config: configKey });
    if (!io.quiet)
      console.error(
        `[backbone] warm start from ${cfg.warmStart}: new identity blocks ${identityBlocks.join(', ') || '(none)'}; val ${(best.acc * 100).toFixed(2)} % before training`,
      );
  }

  for (let epoch = start; epoch <= cfg.epochs; epoch++) {
    const rand = mulberry32(cfg.seed * 7919 + epoch);
    const order = shuffled(ds.train.count, rand);
    const p = new Progress(`epoch ${epoch}/${cfg.epochs}`, steps * cfg.batchSize, {
      logFile: io.logFile,
      quiet: io.quiet,
    });
    const t0 = performance.now();
    let lossSum = 0,
      correct = 0,
      seen = 0,
      lr = cfg.lr;
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
        const l = optimizer.minimize(
          () => {
            logits = tf.keep(net.forward(xt, true));
            const ce = tf.losses.softmaxCrossEntropy(yt, logits);
            const l2 = tf.addN(decayed.map((v) => tf.sum(tf.square(v))));
            return tf.add(ce, tf.mul(l2, cfg.weightDecay / 2)) as TF.Scalar;
          },
          true,
          vars,
        )!;
        const h = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(yt, 1)), 'float32'));
        const out = [l.dataSync()[0]!, h.dataSync()[0]!];
        logits!.dispose();
        return out;
      });
      net.commitBatchNorm(cfg.bnMomentum);
      lossSum += loss * idx.length;
      correct += hits;
      seen += idx.length;
      const sps = seen / ((performance.now() - t0) / 1000);
      p.update(seen, { loss: lossSum / seen, acc: correct / seen, 'samples/s': sps, lr });
    }
    const seconds = (performance.now() - t0) / 1000;
    const valAcc = evaluate(tf, net, ds.val, ds, FASHION_MEAN, FASHION_STD);
    const rec: EpochRecord = {
      epoch,
      loss: lossSum / seen,
      trainAcc: correct / seen,
      valAcc,
      samplesPerSec: seen / seconds,
      seconds,
      lr,
    };
    history.push(rec);
    p.stop({ valAcc });
    if (valAcc > best.acc) {
      best = { acc: valAcc, epoch, weights: net.weights() };
      saveCheckpoint(bestPath, net, { epoch: String(epoch), valAcc: String(valAcc), config: configKey });
    }
    saveCheckpoint(
      io.checkpoint,
      net,
      { epoch: String(epoch), valAcc: String(valAcc), config: configKey, history: JSON.stringify(history) },
      await adamTensors(optimizer),
    );
    if (io.stopAfterEpoch !== undefined && epoch >= io.stopAfterEpoch) break;
  }
  net.load(best.weights);
  return { net, history, bestValAcc: best.acc, bestEpoch: best.epoch, resumedFrom, identityBlocks, warmStartValAcc };
}
