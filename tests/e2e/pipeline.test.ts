/**
 * The whole training pipeline at smoke scale, on real Fashion-MNIST images: backbone training →
 * ONNX export → attach (cut, cache, train exits, export, calibrate) → manifest → evaluate.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { imageShape, type Manifest } from '../../core/manifest.js';
import { readManifest, sha256Hex } from '../../core/node/bundle.js';
import { runAttach } from '../../training/attach.js';
import { runBackbone } from '../../training/backbone/command.js';
import {
  ATTACH_CONFIGS,
  ATTACH_DEFAULTS,
  BACKBONE_CONFIGS,
  BACKBONE_DEFAULTS,
  resolveConfig,
} from '../../training/config.js';
import { runCuts } from '../../training/cuts.js';
import { runEvaluate } from '../../training/evaluate.js';
import { node, OnnxError, readOnnx, valueInfo, writeOnnx } from '../../training/onnx/proto.js';
import { initTf } from '../../training/tf.js';
import { foreignMobileNet, foreignResNet, foreignVgg } from '../helpers/foreign-backbones.js';
import { fixedInput, maxAbsDiff, parity, runNode } from '../helpers/runtimes.js';

let dir: string;
let manifest: Manifest;
let backboneBefore: Uint8Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edge-cascade-smoke-'));
  await runBackbone(resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'smoke', [`--out=${dir}`]), { quiet: true });
  backboneBefore = new Uint8Array(readFileSync(join(dir, 'backbone.onnx')));
  manifest = await runAttach(
    resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [`--backbone=${join(dir, 'backbone.onnx')}`]),
    { quiet: true },
  );
  await initTf({ backend: 'cpu', quiet: true });
});

describe('smoke pipeline', () => {
  it('writes a bundle whose manifest validates on load', () => {
    const m = readManifest(dir);
    // The smoke backbone has five candidate cuts (stem and four of its six block outputs under 90 % of
    // the MACs); attach keeps the subset that pays, at least one.
    expect(m.provenance.candidates).toHaveLength(5);
    expect(m.exits.length).toBeGreaterThanOrEqual(1);
    expect(m.segments).toHaveLength(m.exits.length + 1);
    expect(m.provenance.candidates!.filter((c) => c.kept).map((c) => c.tensor)).toEqual(m.exits.map((e) => e.input));
    for (const [i, e] of m.exits.entries()) {
      expect(e.scheduler!.weights).toHaveLength(3 + i);
      expect(e.macs / m.backbone.macs).toBeLessThan(1);
    }
    expect(m.policies.defaultRule?.delta).toBe(0.05);
    expect(m.provenance.dataset).toBe('fashion-mnist');
    expect(m.provenance.backboneSha256).toBe(sha256Hex(backboneBefore));
    expect(m.provenance.config).toHaveProperty('attach');
    expect(m.provenance.config).toHaveProperty('backbone');
    for (const e of m.exits) expect(e.accuracy.test).toBeGreaterThanOrEqual(0);
    expect(Object.keys(m.policies.frontier).sort()).toEqual(['confidence', 'eenet', 'entropy', 'max-softmax']);
  });

  it('exit training leaves the backbone bytes unchanged', () => {
    const after = new Uint8Array(readFileSync(join(dir, 'backbone.onnx')));
    expect(Buffer.compare(Buffer.from(after), Buffer.from(backboneBefore))).toBe(0);
    expect(sha256Hex(after)).toBe(manifest.backbone.sha256);
  });

  it('chained segments reproduce the backbone logits', async () => {
    const x = fixedInput(3 * 784);
    const ref = (await runNode(backboneBefore, x, [3, 1, 28, 28])).logits!;
    let cur = x;
    for (const s of manifest.segments) {
      const out = await runNode(new Uint8Array(readFileSync(join(dir, s.file))), cur, [3, ...s.inputShape]);
      cur = out[s.output]!;
    }
    expect(maxAbsDiff(cur, ref)).toBeLessThan(1e-5);
  });

  it('every segment and exit agrees across tfjs, onnxruntime-node and onnxruntime-web within 1e-4', async () => {
    let cur = fixedInput(2 * 784, 3);
    for (const [i, s] of manifest.segments.entries()) {
      const p = await parity(new Uint8Array(readFileSync(join(dir, s.file))), cur, [2, ...s.inputShape]);
      expect(p.tfjs, `segment ${i} tfjs`).toBeLessThan(1e-4);
      expect(p.web, `segment ${i} web`).toBeLessThan(1e-4);
      cur = p.outputs[s.output]!;
      const e = manifest.exits[i];
      if (!e) continue;
      const pe = await parity(new Uint8Array(readFileSync(join(dir, e.file))), cur, [2, ...e.inputShape]);
      expect(pe.tfjs, `exit ${i} tfjs`).toBeLessThan(1e-4);
      expect(pe.web, `exit ${i} web`).toBeLessThan(1e-4);
      for (const c of pe.outputs[e.outputs.confidence]!) expect(c).toBeGreaterThan(0);
    }
  });

  it('evaluate re-measures the bundle from its files and prints the README table', async () => {
    const table = await runEvaluate(dir);
    expect(table).toMatch(/\| exit 0 \(after [^)]+\) \| \d+\.\d\d % \|/);
    expect(table).toMatch(/final head \(backbone\)/);
  });

  it('evaluate refuses a bundle whose files no longer match the manifest', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'edge-cascade-tamper-'));
    for (const f of [
      'manifest.json',
      'backbone.onnx',
      ...manifest.segments.map((s) => s.file),
      ...manifest.exits.map((e) => e.file),
      ...manifest.exits.map((e) => e.scheduler!.file),
    ]) {
      writeFileSync(join(copy, f), readFileSync(join(dir, f)));
    }
    const exit = readFileSync(join(copy, 'exit_0.onnx'));
    exit[exit.length - 5] ^= 0xff;
    writeFileSync(join(copy, 'exit_0.onnx'), exit);
    await expect(runEvaluate(copy)).rejects.toThrow(/exit_0\.onnx: sha256 differs/);
  });
});

describe('attach on a backbone made by another tool', () => {
  it('cuts, trains and exports exits for a VGG-shaped graph with BatchNormalization nodes', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-foreign-'));
    const bytes = foreignVgg({ batchNorm: true, opset: 13 });
    writeFileSync(join(d, 'vgg.onnx'), bytes);
    // Random weights: the sanity check (off in the smoke config) would rightly stop at chance; see the next test.
    const m = await runAttach(
      resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [
        `--backbone=${join(d, 'vgg.onnx')}`,
        `--out=${join(d, 'bundle')}`,
      ]),
      { quiet: true },
    );
    expect(m.provenance.candidates!.length).toBeGreaterThanOrEqual(3);
    // No training record beside it: half the test set calibrates, the other half evaluates.
    expect(m.provenance.calibration).toMatchObject({
      mode: 'test-half',
      calibrate: { images: m.provenance.counts.val },
      evaluate: { images: m.provenance.counts.test },
    });
    expect(m.provenance.calibration!.reason).toMatch(/^auto: no training record/);
    // "Backbone only" (every exit off, cost exactly 1) is on every frontier unless a cheaper point is
    // at least as accurate; no default costs more than it.
    for (const points of Object.values(m.policies.frontier)) {
      expect(points.some((p) => p.cost <= 1 + 1e-12 && p.accuracy >= m.final.accuracy.val)).toBe(true);
      const off = points.find((p) => p.thresholds.every((t) => t > 1));
      if (off) expect(off.cost).toBeCloseTo(1, 12);
    }
    expect(m.policies.atDefault!.cost).toBeLessThanOrEqual(1);
    expect(m.exits.length).toBeGreaterThanOrEqual(1);
    expect(m.backbone.sha256).toBe(sha256Hex(bytes));
    expect(sha256Hex(new Uint8Array(readFileSync(join(d, 'vgg.onnx'))))).toBe(sha256Hex(bytes));
    expect(m.exits.map((e) => e.input)).toEqual(m.segments.slice(0, m.exits.length).map((s) => s.output));
    expect(readManifest(join(d, 'bundle')).name).toBe('bundle');
    // evaluate re-measures the "test" figures on the same evaluation half (it throws on a mismatch).
    expect(await runEvaluate(join(d, 'bundle'))).toMatch(new RegExp(`${m.provenance.counts.test} test images`));
  });

  it('attaches to a MobileNet-shaped export (ReLU6 as Clip, depthwise convs, HardSwish, squeeze-excite, the view pattern) with its features cached on disk', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-mobilenet-'));
    writeFileSync(join(d, 'mobilenet.onnx'), foreignMobileNet({ opset: 17 }));
    const m = await runAttach(
      resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [
        `--backbone=${join(d, 'mobilenet.onnx')}`,
        `--out=${join(d, 'bundle')}`,
        '--cache=disk',
      ]),
      { quiet: true },
    );
    expect(m.provenance.featureCache!.mode).toBe('disk');
    expect(m.exits.length).toBeGreaterThanOrEqual(1);
    // The disk cache is gone; the bundle re-measures from its files.
    expect(existsSync(join(d, 'bundle', '.feature-cache'))).toBe(false);
    await runEvaluate(join(d, 'bundle'));
  });

  it('reads an NHWC backbone (a Transpose to NCHW inside, as tf2onnx writes it) in its own layout', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-nhwc-'));
    const model = readOnnx(foreignVgg({ batchNorm: true, opset: 13 }));
    const g = model.graph!;
    g.node = [node('Transpose', ['input_nhwc'], ['input'], { perm: [0, 3, 1, 2] }, '/Transpose'), ...(g.node ?? [])];
    g.input = [valueInfo('input_nhwc', ['batch_size', 28, 28, 1])];
    writeFileSync(join(d, 'nhwc.onnx'), writeOnnx(model));
    const m = await runAttach(
      resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [
        `--backbone=${join(d, 'nhwc.onnx')}`,
        `--out=${join(d, 'bundle')}`,
      ]),
      { quiet: true },
    );
    expect(m.input).toMatchObject({ name: 'input_nhwc', shape: [28, 28, 1], layout: 'NHWC' });
    expect(imageShape(m)).toEqual({ channels: 1, height: 28, width: 28 });
    // The same backbone read as NCHW is refused with the way out.
    await expect(
      runAttach(
        resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [
          `--backbone=${join(d, 'nhwc.onnx')}`,
          `--out=${join(d, 'b2')}`,
          '--inputLayout=NCHW',
        ]),
        { quiet: true },
      ),
    ).rejects.toThrow(/--inputLayout=NCHW, but the backbone's input is \[28,28,1\].*try --inputLayout=NHWC/);
    await runEvaluate(join(d, 'bundle'));
  });

  it('reports every unsupported node at once and writes nothing', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-ops-'));
    const model = readOnnx(foreignVgg({ batchNorm: false, opset: 13 }));
    const relus = (model.graph!.node ?? []).filter((n) => n.opType === 'Relu');
    relus[0]!.opType = 'Selu';
    relus[2]!.opType = 'Elu';
    writeFileSync(join(d, 'vgg.onnx'), writeOnnx(model));
    const err = await runAttach(
      resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [
        `--backbone=${join(d, 'vgg.onnx')}`,
        `--out=${join(d, 'bundle')}`,
      ]),
      { quiet: true },
    ).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(OnnxError);
    expect((err as Error).message).toContain(relus[0]!.name!);
    expect((err as Error).message).toContain(relus[2]!.name!);
    expect(existsSync(join(d, 'bundle'))).toBe(false);
  });

  it('stops before writing anything when the backbone is at chance on the calibration data', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-chance-'));
    writeFileSync(join(d, 'vgg.onnx'), foreignVgg({ batchNorm: true, opset: 13 }));
    await expect(
      runAttach(
        resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [
          `--backbone=${join(d, 'vgg.onnx')}`,
          `--out=${join(d, 'bundle')}`,
          '--sanity=true',
        ]),
        { quiet: true },
      ),
    ).rejects.toThrow(/near chance \(10\.0 %\).*--sanity=false/);
    expect(existsSync(join(d, 'bundle'))).toBe(false);
  });

  it('stops on a trained backbone given the wrong normalisation, naming the one that works', async () => {
    // bench/byom/models/vgg.onnx: trained elsewhere (bench/byom/train-foreign.ts), ~92 % on test.
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-norm-'));
    await expect(
      runAttach(
        resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'default', [
          '--backbone=bench/byom/models/vgg.onnx',
          `--out=${join(d, 'bundle')}`,
          '--mean=0.5',
          '--std=0.1',
        ]),
        { quiet: true },
      ),
    ).rejects.toThrow(
      /scores \d+\.\d % on 1000 calibration images with --mean=0\.5 --std=0\.1, but 9\d\.\d % with .*--mean=0\.28\d+ --std=0\.35\d+/,
    );
    expect(existsSync(join(d, 'bundle'))).toBe(false);
  });

  it('takes user-given cut tensors and rejects invalid ones by name', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-cuts-'));
    writeFileSync(join(d, 'vgg.onnx'), foreignVgg({ batchNorm: false, opset: 11 }));
    const base = [`--backbone=${join(d, 'vgg.onnx')}`, '--limitPerClass=10'];
    await expect(
      runAttach(resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [...base, '--cuts=not-a-tensor']), {
        quiet: true,
      }),
    ).rejects.toThrow(
      /--cuts: "not-a-tensor" is not a valid 4-D cut point \(cut tensor "not-a-tensor" is not produced by any node.*npm run train -- cuts.*; valid: /,
    );
  });

  it('names the node that reads across a cut inside a residual block, and lists the valid cuts', async () => {
    const d = mkdtempSync(join(tmpdir(), 'edge-cascade-cuts-res-'));
    const file = join(d, 'resnet.onnx');
    writeFileSync(file, foreignResNet({ batchNorm: true, opset: 13 }));
    const table = await runCuts(file);
    expect(table).toMatch(
      /\| cut tensor \| MACs before it \| features per sample \| bytes per sample f32 \/ f16 \| default candidate \|/,
    );
    const rows = table.split('\n').filter((l) => /^\| (?!cut tensor|---)/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.some((r) => r.endsWith('| yes |'))).toBe(true);
    // A tensor inside a residual block (produced by a node, but the skip reads around it).
    const m = readOnnx(new Uint8Array(readFileSync(file)));
    const valid = new Set(rows.map((r) => r.split(' | ')[0]!.slice(2)));
    const inside = (m.graph!.node ?? [])
      .map((n) => n.output![0]!)
      .find((t) => !valid.has(t) && !(m.graph!.output ?? []).some((o) => o.name === t));
    expect(inside).toBeDefined();
    await expect(
      runAttach(resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [`--backbone=${file}`, `--cuts=${inside}`]), {
        quiet: true,
      }),
    ).rejects.toThrow(
      /is not a valid 4-D cut point \(cannot cut at ".*": node ".*\/Add" \(Add\) after the cut reads ".*", computed before it/,
    );
  });
});
