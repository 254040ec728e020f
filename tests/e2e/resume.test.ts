/**
 * Long training jobs resume where they stopped: the backbone (weights, Adam moments, per-epoch
 * shuffles) and attach's exit classifiers. A run stopped after epoch 1 and started again ends with
 * exactly the weights of an uninterrupted run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random.js';
import { trainBackbone } from '../../training/backbone/train.js';
import type { FeatureCache } from '../../training/branches/features.js';
import { FeatureStore } from '../../training/branches/features.js';
import { makeBranches, trainClassifiers } from '../../training/branches/train.js';
import {
  ATTACH_CONFIGS,
  ATTACH_DEFAULTS,
  BACKBONE_CONFIGS,
  BACKBONE_DEFAULTS,
  resolveConfig,
} from '../../training/config.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import { initTf, type tf as TF } from '../../training/tf.js';

let tf: typeof TF;
beforeAll(async () => {
  tf = (await initTf({ backend: 'cpu', quiet: true })).tf;
});

const flat = (w: Record<string, { data: Float32Array }>) =>
  Object.keys(w)
    .sort()
    .flatMap((k) => Array.from(w[k]!.data));

describe('resumable training', () => {
  it('backbone: stopped after epoch 1 and resumed = uninterrupted', async () => {
    const cfg = resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'smoke', [
      '--epochs=2',
      '--limitPerClass=6',
      '--widths=4,4,4',
      '--blocksPerStage=1',
      '--batchSize=16',
    ]);
    const ds = loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: { train: 6, val: 2, test: 2 } });
    const a = mkdtempSync(join(tmpdir(), 'resume-a-')),
      b = mkdtempSync(join(tmpdir(), 'resume-b-'));
    const full = await trainBackbone(tf, cfg, ds, {
      checkpoint: join(a, 'ck.safetensors'),
      logFile: join(a, 'log.jsonl'),
      quiet: true,
    });
    const first = await trainBackbone(tf, cfg, ds, {
      checkpoint: join(b, 'ck.safetensors'),
      logFile: join(b, 'log.jsonl'),
      quiet: true,
      stopAfterEpoch: 1,
    });
    expect(first.history).toHaveLength(1);
    const resumed = await trainBackbone(tf, cfg, ds, {
      checkpoint: join(b, 'ck.safetensors'),
      logFile: join(b, 'log.jsonl'),
      quiet: true,
    });
    expect(resumed.resumedFrom).toBe(1);
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(flat(resumed.net.weights())).toEqual(flat(full.net.weights()));
  });

  it('exit classifiers: stopped after epoch 1 and resumed = uninterrupted', async () => {
    const cfg = resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', ['--epochs=2', '--batchSize=8']);
    const rand = mulberry32(5);
    const n = 24,
      shape = [4, 7, 7];
    const store = new FeatureStore(shape, n);
    store.push(Float32Array.from({ length: n * 196 }, () => rand()));
    const cache: FeatureCache = {
      features: [store],
      logits: Float32Array.from({ length: n * 10 }, () => rand() * 4),
      labels: Uint8Array.from({ length: n }, (_, i) => i % 10),
      count: n,
    };
    const dir = mkdtempSync(join(tmpdir(), 'resume-exits-'));
    const run = async (checkpoint: string, stopAfterEpoch?: number) => {
      const branches = makeBranches(tf, cfg.seed, [shape], 10, [8]);
      const r = await trainClassifiers(tf, cfg, branches, cache, 10, {
        quiet: true,
        checkpoint,
        configKey: 'k',
        stopAfterEpoch,
      });
      return { r, w: flat(branches[0]!.state()) };
    };
    const full = await run(join(dir, 'a.safetensors'));
    await run(join(dir, 'b.safetensors'), 1);
    const resumed = await run(join(dir, 'b.safetensors'));
    expect(resumed.r.resumedFrom).toBe(1);
    expect(resumed.w).toEqual(full.w);
  });
});
