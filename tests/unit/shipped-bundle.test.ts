/**
 * The committed default bundle: what the issue promises of it, checked from its files.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest, sha256Hex } from '../../core/node/bundle.js';
import { normaliseImages } from '../../core/normalise.js';
import { defaultSplit } from '../../core/regions.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import { runEvaluate } from '../../training/evaluate.js';
import { initTf } from '../../training/tf.js';
import { fixedInput, maxAbsDiff, parity, runNode } from '../helpers/runtimes.js';

const DIR = 'models/fashion-resnet';
const m = readManifest(DIR);
const file = (f: string) => new Uint8Array(readFileSync(join(DIR, f)));

beforeAll(async () => {
  await initTf({ backend: 'cpu', quiet: true });
});

describe('shipped bundle models/fashion-resnet', () => {
  it('backbone reaches at least 92.0 % test accuracy (manifest, measured through onnxruntime)', () => {
    expect(m.backbone.accuracy.test).toBeGreaterThanOrEqual(0.92);
    expect(m.provenance.counts.test).toBe(10_000);
  });

  it('searched at least 6 exit positions and kept the ones that pay; every branch costs at most 4 % of the backbone', () => {
    const cands = m.provenance.candidates ?? [];
    expect(cands.length).toBeGreaterThanOrEqual(6);
    expect(cands.filter((c) => c.kept).map((c) => c.tensor)).toEqual(m.exits.map((e) => e.input));
    for (const c of cands) expect(c.branchFraction).toBeLessThanOrEqual(0.04);
    for (const e of m.exits) {
      expect(e.macs / m.backbone.macs).toBeLessThanOrEqual(0.04);
      expect(e.accuracy.test).toBeGreaterThan(0.5);
    }
  });

  it('confidence heads rank "this exit is right" with test AUROC >= 0.85 at every exit', () => {
    for (const e of m.exits) expect(e.auroc!.test.confidence).toBeGreaterThanOrEqual(0.85);
  });

  it('the default point was certified on validation and holds on test: drop within 0.5 pp', () => {
    expect(m.policies.defaultRule).toBeDefined();
    const point = m.policies.frontier[m.policies.default]!.find((p) =>
      p.thresholds.every((t, i) => t === m.exits[i]!.defaultThreshold),
    );
    expect(point?.certified).toBe(true);
    expect(m.backbone.accuracy.test - m.policies.atDefault.accuracy).toBeLessThanOrEqual(0.005);
  });

  it('the default costs at most 25 % of the backbone and answers at least 85 % of test images at the edge (default split)', () => {
    expect(m.policies.atDefault.cost).toBeLessThanOrEqual(0.25);
    const split = defaultSplit(m);
    expect(m.policies.atDefault.exitRates.slice(0, split).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.85);
  });

  it('ships an EENet scheduler per exit (its ONNX is checked against the weights by evaluate, below)', () => {
    for (const [i, e] of m.exits.entries()) {
      expect(e.scheduler!.weights).toHaveLength(3 + i);
      expect(sha256Hex(file(e.scheduler!.file))).toBe(e.scheduler!.sha256);
    }
  });

  it('is small (well under 10 MB) and every file matches its sha256', () => {
    const files = [
      'manifest.json',
      m.backbone.file,
      ...m.segments.map((s) => s.file),
      ...m.exits.map((e) => e.file),
      ...m.exits.map((e) => e.scheduler!.file),
    ];
    const total = files.reduce((a, f) => a + statSync(join(DIR, f)).size, 0);
    expect(total).toBeLessThan(10 * 1024 * 1024);
    expect(sha256Hex(file(m.backbone.file))).toBe(m.backbone.sha256);
    for (const s of m.segments) expect(sha256Hex(file(s.file))).toBe(s.sha256);
    for (const e of m.exits) expect(sha256Hex(file(e.file))).toBe(e.sha256);
  });

  it('chained segments reproduce the backbone logits on real test images', async () => {
    const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 2 } });
    const x = normaliseImages(
      ds.test.images,
      ds.test.count,
      ds.shape,
      m.input.normalisation.mean,
      m.input.normalisation.std,
      m.input.layout,
    );
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
