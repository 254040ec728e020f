/**
 * `npm run train -- evaluate [--bundle=models/fashion-resnet]`: re-measures a bundle from its files
 * alone (segments, exits and schedulers as deployed, in onnxruntime-node, on the evaluation images
 * recorded in the manifest) and prints the README table. Fails if a file's hash, a measured accuracy or the
 * scheduler's ONNX disagrees with the manifest.
 *
 * @example
 * console.log(await runEvaluate('models/fashion-resnet'));
 */
import * as ort from 'onnxruntime-node';
import { schedulerScore } from '../core/cascade-rule.js';
import { type Manifest, ruleOf } from '../core/manifest.js';
import { loadBundle } from '../core/node/bundle.js';
import { calibrationPlan } from './attach-plan.js';
import { cacheFeatures, SegmentRunner } from './branches/features.js';
import {
  type Costs,
  type Evaluation,
  evaluatePolicy,
  exitAccuracy,
  exitAurocs,
  type SplitOutputs,
  scores,
} from './calibrate/frontier.js';
import { exitOutputs } from './calibrate/outputs.js';
import { SCORE_INPUTS, SCORE_OUTPUT } from './calibrate/scheduler.js';
import { ATTACH_DEFAULTS, type AttachConfig } from './config.js';
import { loadFashionMnist } from './data/fashion-mnist.js';

/** Accuracies are recomputed on the same images with the same runtime: only float noise may differ. */
const TOLERANCE = 1e-3;

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

export interface Measured {
  m: Manifest;
  /** Every exit's outputs and the final logits on the test split, from the deployed files. */
  test: SplitOutputs;
  costs: Costs;
  /** Largest |ONNX scheduler − JS scheduler| over the test split (0 when the bundle has none). */
  schedulerMaxDiff: number;
}

/** Runs a bundle's deployed files on its test split (every file's hash checked, the backbone's too). */
export async function measureBundle(dir: string): Promise<Measured> {
  const { manifest: m, segments, exits, schedulers } = loadBundle(dir, { schedulers: true, backbone: true });
  if (m.provenance.dataset !== 'fashion-mnist')
    throw new Error(`evaluate supports fashion-mnist bundles; this one used ${m.provenance.dataset}`);
  const cfg = { ...ATTACH_DEFAULTS, ...(m.provenance.config.attach as Partial<AttachConfig>) };
  const lim =
    cfg.limitPerClass > 0
      ? { train: 1, val: 1, test: Math.max(10, Math.round(cfg.limitPerClass / 3)) }
      : { train: 1, val: 1 };
  const ds = loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: lim });
  // The images the manifest's "test" figures were measured on: the test split, or its evaluation
  // half when half the test set calibrated (provenance.calibration).
  const evaluation = calibrationPlan(
    { calibration: m.provenance.calibration?.mode ?? 'val', valPerClass: cfg.valPerClass },
    ds,
    undefined,
  ).evaluate.split;
  const runner = await SegmentRunner.create(segments);
  const cache = await cacheFeatures(runner, evaluation, ds, m.input.normalisation, 'evaluate test', true, [], {
    mode: 'f32',
    layout: m.input.layout,
  });
  await runner.release();
  const test = await exitOutputs(exits, cache, m.classes.length);
  const costs: Costs = {
    exits: m.exits.map((e) => e.costFraction),
    final: m.final.costFraction,
    branches: m.exits.map((e) => e.macs / m.backbone.macs),
  };
  // The schedulers as exported ONNX, against the JS function serving runs.
  let schedulerMaxDiff = 0;
  if (m.exits.every((e) => e.scheduler)) {
    const K = m.classes.length;
    const prev: number[][] = Array.from({ length: test.count }, () => []);
    for (const [i, e] of m.exits.entries()) {
      const s = await ort.InferenceSession.create(schedulers[i]!);
      const feeds: Record<string, ort.Tensor> = {
        [SCORE_INPUTS.logits]: new ort.Tensor('float32', test.exits[i]!.logits, [test.count, K]),
        [SCORE_INPUTS.confidence]: new ort.Tensor('float32', test.exits[i]!.confidence, [test.count, 1]),
      };
      if (i > 0)
        feeds[SCORE_INPUTS.previous] = new ort.Tensor('float32', Float32Array.from(prev.flat()), [test.count, i]);
      const onnx = (await s.run(feeds))[SCORE_OUTPUT]!.data as Float32Array;
      await s.release();
      for (let n = 0; n < test.count; n++) {
        const js = schedulerScore(
          e.scheduler!,
          test.exits[i]!.logits.subarray(n * K, (n + 1) * K),
          test.exits[i]!.confidence[n]!,
          prev[n]!,
        );
        schedulerMaxDiff = Math.max(schedulerMaxDiff, Math.abs(js - onnx[n]!));
        prev[n]!.push(js);
      }
    }
  }
  return { m, test, costs, schedulerMaxDiff };
}

/** Per exit, rank AUROC of each score for "this exit is right" on `o` (the EENet score where the bundle has schedulers). */
export function bundleAurocs(m: Manifest, o: SplitOutputs): ReturnType<typeof exitAurocs> {
  return exitAurocs(o, m.exits.every((e) => e.scheduler) ? ruleOf(m, 'eenet', []).scheduler : undefined);
}

/** The default operating point on the measured test split. */
export function atDefault(x: Measured): Evaluation {
  const { m, test, costs } = x;
  const rule = ruleOf(
    m,
    m.policies.default,
    m.exits.map((e) => e.defaultThreshold),
  );
  return evaluatePolicy(
    test,
    scores(m.policies.default, test, rule.scheduler),
    m.exits.map((e) => e.defaultThreshold),
    costs,
    m.policies.default,
  );
}

export async function runEvaluate(dir: string): Promise<string> {
  const x = await measureBundle(dir);
  const { m, test } = x;
  if (x.schedulerMaxDiff > 1e-4)
    throw new Error(`score_<i>.onnx disagrees with the manifest's scheduler weights by ${x.schedulerMaxDiff}`);
  const cascade = atDefault(x);
  const au = bundleAurocs(m, test);
  type Row = {
    name: string;
    share: number;
    branch: number;
    cost: number;
    acc: number;
    want: number;
    rate: number;
    au: (typeof au)[number] | undefined;
  };
  const rows: Row[] = m.exits.map((e, i) => ({
    name: `exit ${i} (after ${e.input})`,
    share: e.backboneFraction,
    branch: e.macs / m.backbone.macs,
    cost: e.costFraction,
    acc: exitAccuracy(test, i),
    want: e.accuracy.test,
    rate: cascade.exitRates[i]!,
    au: au[i],
  }));
  rows.push({
    name: 'final head (backbone)',
    share: 1,
    branch: 0,
    cost: m.final.costFraction,
    acc: exitAccuracy(test, -1),
    want: m.final.accuracy.test,
    rate: cascade.exitRates[m.exits.length]!,
    au: undefined,
  });
  const bad = rows.filter((r) => Math.abs(r.acc - r.want) > TOLERANCE);
  if (bad.length)
    throw new Error(
      `measured accuracy differs from the manifest: ${bad.map((r) => `${r.name}: ${pct(r.acc)} vs ${pct(r.want)}`).join('; ')}`,
    );
  const f = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(3));
  const backboneAcc = exitAccuracy(test, -1);
  const lines = [
    `Bundle ${m.name}: ${test.count} test images, onnxruntime-node ${m.provenance.tools['onnxruntime-node'] ?? ''}`,
    '',
    '| exit | backbone MAC share at the cut | branch cost (share of backbone) | cost if it answers | test accuracy | AUROC "exit is right": confidence head / max-softmax / EENet score | share answered at the default |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${pct(r.share)} | ${r.branch ? pct(r.branch) : '—'} | ${pct(r.cost)} | ${pct(r.acc)} | ${r.au ? `${f(r.au.confidence)} / ${f(r.au.maxSoftmax)} / ${f(r.au.eenet)}` : '—'} | ${pct(r.rate)} |`,
    ),
    '',
    `Cascade at the default (${m.policies.default} policy, thresholds [${m.exits.map((e) => e.defaultThreshold.toFixed(3)).join(', ')}], chosen on validation${m.policies.defaultRule ? `: ${m.policies.defaultRule.method}` : ''}): test accuracy ${pct(cascade.accuracy)} (backbone ${pct(backboneAcc)}, drop ${((backboneAcc - cascade.accuracy) * 100).toFixed(2)} pp), fidelity to the backbone's answers ${pct(cascade.fidelity)}, mean cost ${pct(cascade.cost)} of the backbone's MACs, ${pct(1 - cascade.exitRates[m.exits.length]!)} answered by an exit.`,
  ];
  return lines.join('\n');
}
