/**
 * `npm run train -- attach --backbone=any.onnx [--key=value …]`: PTEENet on any ONNX backbone.
 * Cuts the frozen backbone into segments, caches their features with onnxruntime-node, trains the
 * exit branches on those features only, exports them, measures every exit through onnxruntime,
 * calibrates the policies' frontiers and writes the bundle + manifest. The backbone file is read,
 * never written (its sha256 is checked before and after).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { initTf, type TfBackendChoice } from './tf.js';
import type { AttachConfig } from './config.js';
import type { Dataset } from './data/dataset.js';
import { loadFashionMnist } from './data/fashion-mnist.js';
import { loadCifar10 } from './data/cifar10.js';
import { analyseBackbone, chooseCuts } from './onnx/analyse.js';
import { splitAt } from './onnx/surgery.js';
import { dimsOf, writeOnnx } from './onnx/proto.js';
import { cacheFeatures, SegmentRunner } from './branches/features.js';
import { trainBranches } from './branches/train.js';
import { exportBranchOnnx, EXIT_CONFIDENCE, EXIT_INPUT, EXIT_LOGITS } from './branches/export.js';
import { exitOutputs } from './calibrate/outputs.js';
import { evaluatePolicy, exitAccuracy, frontier, oracle, scores } from './calibrate/frontier.js';
import { POLICIES } from '../core/policies.js';
import { parseManifest, type Manifest } from '../core/manifest.js';

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function loadDataset(cfg: AttachConfig): Dataset {
  const lim = cfg.limitPerClass > 0
    ? { train: cfg.limitPerClass, val: Math.max(10, Math.round(cfg.limitPerClass / 5)), test: Math.max(10, Math.round(cfg.limitPerClass / 3)) }
    : undefined;
  if (cfg.dataset === 'fashion-mnist') return loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: lim });
  if (cfg.dataset === 'cifar10') return loadCifar10(cfg.datasetDir, { valPerClass: cfg.valPerClass });
  throw new Error(`unknown dataset "${cfg.dataset}"; known: fashion-mnist, cifar10`);
}

function toolVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const v = (p: string) => { try { return (require(`${p}/package.json`) as { version: string }).version; } catch { return 'missing'; } };
  return { node: process.version, '@tensorflow/tfjs': v('@tensorflow/tfjs'), 'onnxruntime-node': v('onnxruntime-node'), 'onnx-proto': v('onnx-proto') };
}

export async function runAttach(cfg: AttachConfig, opts: { quiet?: boolean; name?: string } = {}): Promise<Manifest> {
  const log = (m: string) => { if (!opts.quiet) console.error(`[attach] ${m}`); };
  if (!existsSync(cfg.backbone)) throw new Error(`backbone "${cfg.backbone}" not found`);
  const out = cfg.out || dirname(cfg.backbone);
  mkdirSync(out, { recursive: true });
  const backboneBytes = new Uint8Array(readFileSync(cfg.backbone));
  const hashBefore = sha256(backboneBytes);

  // 1. Analyse and cut.
  const a = await analyseBackbone(backboneBytes);
  const cuts = cfg.cuts.length
    ? cfg.cuts.map((t) => {
      const c = a.cuts.find((p) => p.tensor === t);
      if (!c) throw new Error(`--cuts: "${t}" is not a valid 4-D cut point; valid: ${a.cuts.map((p) => p.tensor).join(', ')}`);
      return c;
    })
    : chooseCuts(a.cuts, cfg.macFractions);
  if (!cuts.length) throw new Error('no valid cut point found in the backbone');
  log(`cuts: ${cuts.map((c) => `${c.tensor} (${(c.macFraction * 100).toFixed(1)} % MACs, [${c.shape}])`).join(', ')}`);
  const segments = splitAt(a.model, cuts.map((c) => c.tensor), a.shapes);
  const segmentBytes = segments.map(writeOnnx);
  segmentBytes.forEach((b, i) => writeFileSync(join(out, `segment_${i}.onnx`), b));
  if (resolve(join(out, 'backbone.onnx')) !== resolve(cfg.backbone)) copyFileSync(cfg.backbone, join(out, 'backbone.onnx'));

  // 2. Cache features with the frozen segments.
  const ds = loadDataset(cfg);
  const [C, H, W] = a.inputShape.slice(1);
  if (C !== ds.shape.channels || H !== ds.shape.height || W !== ds.shape.width) {
    throw new Error(`backbone input [${a.inputShape}] does not match dataset images [${ds.shape.channels}, ${ds.shape.height}, ${ds.shape.width}]`);
  }
  const norm = { mean: cfg.mean, std: cfg.std };
  const runner = await SegmentRunner.create(segmentBytes);
  const caches = {
    train: await cacheFeatures(runner, ds.train, ds, norm, 'cache train features', opts.quiet),
    val: await cacheFeatures(runner, ds.val, ds, norm, 'cache val features', opts.quiet),
    test: await cacheFeatures(runner, ds.test, ds, norm, 'cache test features', opts.quiet),
  };
  await runner.release();
  const classes = ds.classes.length;

  // 3. Train the branches (tfjs) on cached features only.
  const { tf, backend } = await initTf({ backend: cfg.tfBackend as TfBackendChoice, quiet: opts.quiet });
  const widths = cuts.map((c) => Math.max(c.shape[1]!, cfg.branchWidth));
  const costsOf = (branchMacs: number[]) => {
    let spent = 0;
    const exits = cuts.map((c, i) => { spent += branchMacs[i]!; return (c.macs + spent) / a.totalMacs; });
    return { exits, final: (a.totalMacs + spent) / a.totalMacs };
  };
  // The exits' training log, fresh each run (the backbone's own is train-log.jsonl).
  const attachLog = join(out, 'attach-log.jsonl');
  writeFileSync(attachLog, '');
  const trained = await trainBranches(tf, cfg, caches.train, classes, widths, (bs) => costsOf(bs.map((b) => b.macs)), { quiet: opts.quiet, logFile: attachLog });
  const costs = costsOf(trained.branches.map((b) => b.macs));
  const exitBytes = trained.branches.map(exportBranchOnnx);
  exitBytes.forEach((b, i) => writeFileSync(join(out, `exit_${i}.onnx`), b));

  // 4. Measure through onnxruntime and calibrate.
  const val = await exitOutputs(exitBytes, caches.val, classes);
  const test = await exitOutputs(exitBytes, caches.test, classes);
  const fronts = Object.fromEntries(POLICIES.map((p) => [p, frontier(p, val, costs, test)]));
  const finalVal = exitAccuracy(val, -1), finalTest = exitAccuracy(test, -1);
  // Default: across policies, the cheapest validation point within defaultMaxDrop of the backbone
  // (else the most accurate point of any policy). Which score ranks inputs best differs by bundle.
  const within = POLICIES.flatMap((policy) => fronts[policy]!.filter((p) => p.accuracy >= finalVal - cfg.defaultMaxDrop).map((point) => ({ policy, point })));
  const all = POLICIES.flatMap((policy) => fronts[policy]!.map((point) => ({ policy, point })));
  const chosen = within.length ? within.reduce((a, b) => (b.point.cost < a.point.cost ? b : a)) : all.reduce((a, b) => (b.point.accuracy > a.point.accuracy ? b : a));
  const dflt = chosen.point;
  const atDefault = evaluatePolicy(test, scores(chosen.policy, test), dflt.thresholds, costs);
  log(`backbone test ${(finalTest * 100).toFixed(2)} %; default ${chosen.policy} thresholds [${dflt.thresholds.map((t) => t.toFixed(3))}] → test ${(atDefault.accuracy * 100).toFixed(2)} % at ${(atDefault.cost * 100).toFixed(1)} % MACs, exit rates [${atDefault.exitRates.map((r) => r.toFixed(2))}]`);

  const hashAfter = sha256(new Uint8Array(readFileSync(cfg.backbone)));
  if (hashAfter !== hashBefore) throw new Error(`backbone ${cfg.backbone} changed during attach (sha256 ${hashBefore} → ${hashAfter})`);
  const backboneRecordPath = join(dirname(cfg.backbone), 'backbone.json');
  const backboneTraining = existsSync(backboneRecordPath) ? JSON.parse(readFileSync(backboneRecordPath, 'utf8')) as Record<string, unknown> : undefined;
  const segMacs = segments.map((s) => new Set((s.graph!.node ?? []).map((n) => n.name)));
  const g = a.model.graph!;
  const nodeMacByName = new Map((g.node ?? []).map((n, i) => [n.name, a.nodeMacs[i]!]));
  const params = (m: (typeof segments)[number]) => (m.graph!.initializer ?? []).reduce((acc, t) => acc + dimsOf(t).reduce((x, y) => x * y, 1), 0);
  const shapeOf = (t: string) => a.shapes.get(t)!.slice(1);
  const bytesOf = (t: string) => shapeOf(t).reduce((x, y) => x * y, 4);
  const segmentIo = segments.map((s) => ({ input: s.graph!.input![0]!.name!, output: s.graph!.output![0]!.name! }));

  const manifest = parseManifest({
    schemaVersion: 1,
    name: opts.name ?? basename(resolve(out)),
    createdAt: new Date().toISOString(),
    input: { name: a.input, shape: a.inputShape.slice(1), layout: 'NCHW', dtype: 'float32', normalisation: norm },
    classes: ds.classes,
    backbone: { file: 'backbone.onnx', sha256: hashBefore, macs: a.totalMacs, params: a.totalParams, output: a.outputs[0], accuracy: { val: finalVal, test: finalTest } },
    segments: segments.map((s, i) => ({
      index: i,
      file: `segment_${i}.onnx`,
      sha256: sha256(segmentBytes[i]!),
      input: segmentIo[i]!.input,
      output: segmentIo[i]!.output,
      inputShape: shapeOf(segmentIo[i]!.input),
      outputShape: shapeOf(segmentIo[i]!.output),
      macs: [...segMacs[i]!].reduce((acc, n) => acc + (nodeMacByName.get(n) ?? 0), 0),
      params: params(s),
      outputBytes: bytesOf(segmentIo[i]!.output),
    })),
    exits: trained.branches.map((b, i) => ({
      index: i,
      segment: i,
      file: `exit_${i}.onnx`,
      sha256: sha256(exitBytes[i]!),
      input: cuts[i]!.tensor,
      inputName: EXIT_INPUT,
      inputShape: cuts[i]!.shape.slice(1),
      outputs: { logits: EXIT_LOGITS, confidence: EXIT_CONFIDENCE },
      macs: b.macs,
      params: b.params(),
      costFraction: costs.exits[i]!,
      backboneFraction: cuts[i]!.macFraction,
      accuracy: { val: exitAccuracy(val, i), test: exitAccuracy(test, i) },
      defaultThreshold: dflt.thresholds[i]!,
    })),
    final: { costFraction: costs.final, accuracy: { val: finalVal, test: finalTest } },
    policies: { default: chosen.policy, frontier: fronts, oracle: { val: oracle(val, costs), test: oracle(test, costs) }, atDefault },
    provenance: {
      dataset: ds.name,
      split: ds.split,
      counts: { train: ds.train.count, val: ds.val.count, test: ds.test.count },
      seed: cfg.seed,
      config: { attach: cfg, ...(backboneTraining ? { backbone: backboneTraining.config } : {}) },
      backboneSha256: hashBefore,
      ...(backboneTraining ? { backboneTraining: { tfBackend: backboneTraining.tfBackend, bestEpoch: backboneTraining.bestEpoch, trainSeconds: backboneTraining.trainSeconds, valAccuracy: backboneTraining.valAccuracy, tfjsTestAccuracy: backboneTraining.tfjsTestAccuracy, history: backboneTraining.history } } : {}),
      exitTraining: { seconds: trained.seconds, samplesPerSec: trained.samplesPerSec, tfBackend: backend },
      tools: toolVersions(),
    },
  });
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  log(`wrote ${join(out, 'manifest.json')}`);
  return manifest;
}
