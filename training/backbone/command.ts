/**
 * `npm run train -- backbone [--config=name] [--key=value …]`: trains the default backbone on
 * Fashion-MNIST, keeps the best-validation checkpoint, exports `backbone.onnx` and records the
 * training facts in `backbone.json` (read later by `attach` for the manifest's provenance).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackboneConfig } from '../config.js';
import { loadFashionMnist } from '../data/fashion-mnist.js';
import { initTf, type TfBackendChoice } from '../tf.js';
import { evaluate, FASHION_MEAN, FASHION_STD, saveCheckpoint, trainBackbone } from './train.js';

export interface BackboneRecord {
  config: BackboneConfig;
  tfBackend: string;
  bestEpoch: number;
  valAccuracy: number;
  /** tfjs test accuracy at the best checkpoint (the manifest's figures come from onnxruntime). */
  tfjsTestAccuracy: number;
  trainSeconds: number;
  history: unknown[];
  dataset: { name: string; split: string; train: number; val: number; test: number; skipped: unknown[] };
  normalisation: { mean: number[]; std: number[] };
  /** Where a deepened net started (ResNet.warmStart): the checkpoint and the blocks that began as identities. */
  warmStart?: { from: string; identityBlocks: string[]; valAccuracyBefore: number };
}

export async function runBackbone(cfg: BackboneConfig, opts: { quiet?: boolean } = {}): Promise<BackboneRecord> {
  const { tf, backend } = await initTf({ backend: cfg.tfBackend as TfBackendChoice, quiet: opts.quiet });
  mkdirSync(cfg.out, { recursive: true });
  const lim =
    cfg.limitPerClass > 0
      ? {
          train: cfg.limitPerClass,
          val: Math.max(10, Math.round(cfg.limitPerClass / 5)),
          test: Math.max(10, Math.round(cfg.limitPerClass / 3)),
        }
      : undefined;
  const ds = loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: lim });
  const logFile = join(cfg.out, 'train-log.jsonl');
  const checkpoint = join(cfg.out, 'checkpoint-last.safetensors');
  if (!existsSync(checkpoint)) writeFileSync(logFile, '');
  const r = await trainBackbone(tf, cfg, ds, { checkpoint, logFile, quiet: opts.quiet });
  // Summed over epochs, so a resumed run reports its whole training time.
  const trainSeconds = r.history.reduce((s, h) => s + h.seconds, 0);
  const testAcc = evaluate(tf, r.net, ds.test, ds, FASHION_MEAN, FASHION_STD);
  if (!opts.quiet)
    console.error(
      `[backbone] best epoch ${r.bestEpoch}: val ${(r.bestValAcc * 100).toFixed(2)} %, test (tfjs) ${(testAcc * 100).toFixed(2)} %, ${trainSeconds.toFixed(0)} s`,
    );
  saveCheckpoint(join(cfg.out, 'backbone.ckpt.safetensors'), r.net, {
    epoch: String(r.bestEpoch),
    config: JSON.stringify(cfg),
  });
  const record: BackboneRecord = {
    config: cfg,
    tfBackend: backend,
    bestEpoch: r.bestEpoch,
    valAccuracy: r.bestValAcc,
    tfjsTestAccuracy: testAcc,
    trainSeconds,
    history: r.history,
    dataset: {
      name: ds.name,
      split: ds.split,
      train: ds.train.count,
      val: ds.val.count,
      test: ds.test.count,
      skipped: ds.skipped,
    },
    normalisation: { mean: FASHION_MEAN, std: FASHION_STD },
    ...(cfg.warmStart
      ? {
          warmStart: {
            from: cfg.warmStart,
            identityBlocks: r.identityBlocks,
            valAccuracyBefore: r.history.length ? r.warmStartValAcc : r.bestValAcc,
          },
        }
      : {}),
  };
  writeFileSync(join(cfg.out, 'backbone.json'), `${JSON.stringify(record, null, 2)}\n`);
  const { exportResNetOnnx } = await import('./export.js');
  writeFileSync(
    join(cfg.out, 'backbone.onnx'),
    exportResNetOnnx(r.net, { height: ds.shape.height, width: ds.shape.width }),
  );
  return record;
}
