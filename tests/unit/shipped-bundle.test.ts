/**
 * The committed default bundle: what the issue promises of it, checked from its files.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifest, runEvaluate } from '../../training/evaluate.js';
import { sha256 } from '../../training/attach.js';
import { initTf } from '../../training/tf.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import { normaliseImages } from '../../core/normalise.js';
import { fixedInput, maxAbsDiff, parity, runNode } from '../helpers/runtimes.js';

const DIR = 'models/fashion-resnet';
const m = loadManifest(DIR);
const file = (f: string) => new Uint8Array(readFileSync(join(DIR, f)));

beforeAll(async () => {
  await initTf({ backend: 'cpu', quiet: true });
});

describe('shipped bundle models/fashion-resnet', () => {
  it('backbone reaches at least 92.0 % test accuracy (manifest, measured through onnxruntime)', () => {
    expect(m.backbone.accuracy.test).toBeGreaterThanOrEqual(0.92);
    expect(m.provenance.counts.test).toBe(10_000);
  });

  it('has at least 3 exits before the final head, the first costing at most 15 % of the backbone MACs', () => {
    expect(m.exits.length).toBeGreaterThanOrEqual(3);
    expect(m.exits[0]!.costFraction).toBeLessThanOrEqual(0.15);
    for (const e of m.exits) expect(e.accuracy.test).toBeGreaterThan(0.5);
  });

  it('is small (well under 10 MB) and every file matches its sha256', () => {
    const files = ['manifest.json', m.backbone.file, ...m.segments.map((s) => s.file), ...m.exits.map((e) => e.file)];
    const total = files.reduce((a, f) => a + statSync(join(DIR, f)).size, 0);
    expect(total).toBeLessThan(10 * 1024 * 1024);
    expect(sha256(file(m.backbone.file))).toBe(m.backbone.sha256);
    for (const s of m.segments) expect(sha256(file(s.file))).toBe(s.sha256);
    for (const e of m.exits) expect(sha256(file(e.file))).toBe(e.sha256);
  });

  it('chained segments reproduce the backbone logits on real test images', async () => {
    const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 2 } });
    const x = normaliseImages(ds.test.images, ds.test.count, ds.shape, m.input.normalisation.mean, m.input.normalisation.std, 'NCHW');
    const ref = (await runNode(file(m.backbone.file), x, [ds.test.count, ...m.input.shape]))[m.backbone.output]!;
    let cur = x;
    for (const s of m.segments) cur = (await runNode(file(s.file), cur, [ds.test.count, ...s.inputShape]))[s.output]!;
    expect(maxAbsDiff(cur, ref)).toBeLessThan(1e-4);
  });

  it('every segment and exit agrees across tfjs, onnxruntime-node and onnxruntime-web within 1e-4', async () => {
    let cur = fixedInput(2 * 784, 7);
    for (const [i, s] of m.segments.entries()) {
      const p = await parity(file(s.file), cur, [2, ...s.inputShape]);
      expect(p.tfjs, `segment ${i} tfjs`).toBeLessThan(1e-4);
      expect(p.web, `segment ${i} web`).toBeLessThan(1e-4);
      cur = p.outputs[s.output]!;
      const e = m.exits[i];
      if (!e) continue;
      const pe = await parity(file(e.file), cur, [2, ...e.inputShape]);
      expect(pe.tfjs, `exit ${i} tfjs`).toBeLessThan(1e-4);
      expect(pe.web, `exit ${i} web`).toBeLessThan(1e-4);
    }
  });

  it('evaluate reproduces the manifest accuracies on all 10,000 test images', async () => {
    const table = await runEvaluate(DIR);
    expect(table).toContain('10000 test images');
    expect(table).toContain(`| final head (backbone) | 100.00 % |`);
  });
});
