/**
 * What attach decides before writing anything (training/attach-plan.ts) and where its feature
 * caches live (training/branches/features.ts): f16 and disk stores give back what was pushed (to
 * half precision), the disk file goes away, the plan picks a mode that fits or refuses naming the
 * options; the calibration plan's splits are disjoint and stratified; layouts resolve from shapes.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-error.js';
import { fromHalf, toHalf } from '../../core/feature-codec.js';
import {
  calibrationPlan,
  halves,
  optimisticCalibration,
  planCache,
  resolveLayout,
} from '../../training/attach-plan.js';
import { mulberry32 } from '../../training/backbone/resnet.js';
import { blockShuffle, FeatureStore } from '../../training/branches/features.js';
import type { Dataset, Split } from '../../training/data/dataset.js';

const rand = mulberry32(3);
const shape = [3, 4, 4],
  per = 48,
  chunk = 5,
  n = 23;
const data = Array.from({ length: Math.ceil(n / chunk) }, (_, c) =>
  Float32Array.from({ length: Math.min(chunk, n - c * chunk) * per }, () => (rand() - 0.5) * 20),
);
const row = (i: number) => data[Math.floor(i / chunk)]!.subarray((i % chunk) * per, ((i % chunk) + 1) * per);

describe('feature stores', () => {
  for (const mode of ['f32', 'f16', 'disk'] as const) {
    it(`${mode}: gather and chunk give back what was pushed${mode === 'f32' ? '' : ', rounded to half precision'}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'feature-store-'));
      const s = new FeatureStore(shape, chunk, mode, join(dir, 'x.f16'), 2);
      for (const d of data) s.push(d);
      expect(s.chunkCount).toBe(data.length);
      const idx = Int32Array.from([22, 0, 7, 7, 13, 4, 21]);
      const got = s.gather(idx);
      const want = (i: number) =>
        mode === 'f32' ? Array.from(row(i)) : Array.from(row(i), (v) => fromHalf(toHalf(v)));
      idx.forEach((i, b) => {
        expect(Array.from(got.subarray(b * per, (b + 1) * per))).toEqual(want(i));
      });
      // Chunks read back in any order (the disk store keeps only 2 decoded).
      for (const c of [4, 0, 2, 0, 3])
        expect(Array.from(s.chunk(c))).toEqual(
          Array.from({ length: data[c]!.length / per }, (_, k) => want(c * chunk + k)).flat(),
        );
      s.close();
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('blockShuffle is a permutation that stays within blocks', () => {
    const o = blockShuffle(1000, 64, mulberry32(9));
    expect([...o].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...o]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // Every run of 64 consecutive positions that starts a block holds one block's samples.
    let start = 0;
    while (start < 1000) {
      const b = Math.floor(o[start]! / 64),
        size = Math.min(64, 1000 - b * 64);
      for (let k = start; k < start + size; k++) expect(Math.floor(o[k]! / 64)).toBe(b);
      start += size;
    }
  });
});

describe('cache plan', () => {
  const cands = [
    { tensor: 'wide', values: 1_000_000 },
    { tensor: 'narrow', values: 1000 },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'cache-plan-'));
  it('auto takes f32, then f16, then disk, by what fits', () => {
    // 1,001,010 values × 1000 images: 4.0 GB f32, 2.0 GB f16.
    expect(planCache({ cache: 'auto', maxMemoryGiB: 8 }, 1_001_010, 1000, dir, cands).mode).toBe('f32');
    expect(planCache({ cache: 'auto', maxMemoryGiB: 3 }, 1_001_010, 1000, dir, cands).mode).toBe('f16');
    const disk = planCache({ cache: 'auto', maxMemoryGiB: 1 }, 1_001_010, 1000, dir, cands);
    expect(disk.mode).toBe('disk');
    expect(disk.summary).toMatch(
      /f32 3\.73 GiB, f16 1\.86 GiB in memory \(budget 1\.00 GiB, --maxMemoryGiB\), or 1\.86 GiB on disk/,
    );
  });
  it('refuses, before any work, with the options that would fit', () => {
    expect(() => planCache({ cache: 'f32', maxMemoryGiB: 3 }, 1_001_010, 1000, dir, cands)).toThrow(
      /--cache=f32 does not fit\. Use --cache=f16, or --cache=disk, or --maxCandidates=<fewer>, or --cuts=<tensor,…> \(the widest: wide 1000000 values\/image/,
    );
    // More than any disk holds.
    expect(() => planCache({ cache: 'auto', maxMemoryGiB: 1 }, 1e9, 1e6, dir, cands)).toThrow(ConfigError);
    expect(() => planCache({ cache: 'auto', maxMemoryGiB: 1 }, 1e9, 1e6, dir, cands)).toThrow(
      /none fits\. Use --maxCandidates/,
    );
    expect(() => planCache({ cache: 'f64' as never, maxMemoryGiB: 1 }, 10, 10, dir, cands)).toThrow(
      /--cache=f64: expected auto, f32, f16, disk/,
    );
  });
});

function split(labels: number[], pixels: number): Split {
  return {
    images: Uint8Array.from({ length: labels.length * pixels }, (_, i) => Math.floor(i / pixels) % 256),
    labels: Uint8Array.from(labels),
    count: labels.length,
  };
}

describe('calibration plan', () => {
  const shapeOf = { channels: 1, height: 2, width: 2 };
  const ds: Dataset = {
    name: 'toy',
    shape: shapeOf,
    classes: ['a', 'b', 'c'],
    split: 'toy',
    train: split([0, 1, 2, 0, 1, 2], 4),
    val: split([0, 1, 2], 4),
    test: split([0, 0, 0, 1, 1, 2, 2, 2, 2, 1], 4),
  };
  it('val: the validation split calibrates, the test split evaluates', () => {
    const p = calibrationPlan({ calibration: 'val', valPerClass: 1 }, ds, undefined);
    expect([p.mode, p.exitTrain.split.count, p.calibrate.split.count, p.evaluate.split.count]).toEqual([
      'val',
      6,
      3,
      10,
    ]);
  });
  it('test-half: alternate images of each class calibrate and evaluate, disjoint; the exits train on train + val', () => {
    const p = calibrationPlan({ calibration: 'test-half', valPerClass: 1 }, ds, undefined);
    expect(p.exitTrain.split.count).toBe(9);
    expect(Array.from(p.calibrate.split.labels)).toEqual([0, 0, 1, 2, 2, 1]);
    expect(Array.from(p.evaluate.split.labels)).toEqual([0, 1, 2, 2]);
    // The images' first pixel is their index in the test split: disjoint, together all of it.
    const first = (s: Split) => Array.from({ length: s.count }, (_, i) => s.images[i * 4]!);
    expect([...first(p.calibrate.split), ...first(p.evaluate.split)].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 10 }, (_, i) => i),
    );
    const [a, b] = halves(ds.test, 4);
    expect(a.count + b.count).toBe(10);
  });
  it('auto: val only when the training record says the backbone never saw it', () => {
    expect(
      calibrationPlan({ calibration: 'auto', valPerClass: 1 }, ds, {
        dataset: { name: 'toy' },
        config: { valPerClass: 1 },
      }).mode,
    ).toBe('val');
    expect(
      calibrationPlan({ calibration: 'auto', valPerClass: 1 }, ds, {
        dataset: { name: 'toy' },
        config: { valPerClass: 2 },
      }).mode,
    ).toBe('test-half');
    expect(calibrationPlan({ calibration: 'auto', valPerClass: 1 }, ds, undefined).reason).toMatch(
      /no training record/,
    );
    expect(() => calibrationPlan({ calibration: 'train' as never, valPerClass: 1 }, ds, undefined)).toThrow(
      /expected auto, val or test-half/,
    );
  });
  it('warns when the backbone is clearly better on the calibration images', () => {
    // The case: 96.8 % on the validation split a ResNet trained on, 94.96 % on test.
    expect(optimisticCalibration(0.968, 5000, 0.9496, 10000)).toMatch(/\+1\.84 pp.*--calibration=test-half/);
    expect(optimisticCalibration(0.951, 5000, 0.9496, 10000)).toBeUndefined();
    expect(optimisticCalibration(0.98, 50, 0.95, 50)).toBeUndefined(); // within noise
  });
});

describe('input layout', () => {
  const img = { channels: 1, height: 28, width: 28 };
  it('auto reads NCHW or NHWC off the input shape; a named one must match', () => {
    expect(resolveLayout('auto', [1, 1, 28, 28], img)).toBe('NCHW');
    expect(resolveLayout('auto', [1, 28, 28, 1], img)).toBe('NHWC');
    expect(resolveLayout('NHWC', [1, 28, 28, 1], img)).toBe('NHWC');
    expect(() => resolveLayout('NCHW', [1, 28, 28, 1], img)).toThrow(/try --inputLayout=NHWC/);
    expect(() => resolveLayout('auto', [1, 3, 32, 32], img)).toThrow(/does not fit the dataset's images/);
    expect(() => resolveLayout('CHW', [1, 1, 28, 28], img)).toThrow(/expected auto, NCHW or NHWC/);
  });
});
