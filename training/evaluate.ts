/**
 * `npm run train -- evaluate [--bundle=models/fashion-resnet]`: re-measures a bundle from its files
 * alone (segments and exits in onnxruntime-node, on the test split recorded in the manifest) and
 * prints the README table. Fails if a file's hash or a measured accuracy disagrees with the manifest.
 *
 * @example
 * console.log(await runEvaluate('models/fashion-resnet'));
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { ATTACH_DEFAULTS, type AttachConfig } from './config.js';
import { loadFashionMnist } from './data/fashion-mnist.js';
import { cacheFeatures, SegmentRunner } from './branches/features.js';
import { exitOutputs } from './calibrate/outputs.js';
import { evaluatePolicy, exitAccuracy, scores } from './calibrate/frontier.js';
import { sha256 } from './attach.js';

/** Accuracies are recomputed on the same images with the same runtime: only float noise may differ. */
const TOLERANCE = 1e-3;

export function loadManifest(dir: string): Manifest {
  return parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

export async function runEvaluate(dir: string): Promise<string> {
  const m = loadManifest(dir);
  const read = (file: string, hash: string) => {
    const b = new Uint8Array(readFileSync(join(dir, file)));
    if (sha256(b) !== hash) throw new Error(`${file}: sha256 differs from the manifest`);
    return b;
  };
  const segments = m.segments.map((s) => read(s.file, s.sha256));
  const exits = m.exits.map((e) => read(e.file, e.sha256));
  read(m.backbone.file, m.backbone.sha256);
  if (m.provenance.dataset !== 'fashion-mnist') throw new Error(`evaluate supports fashion-mnist bundles; this one used ${m.provenance.dataset}`);
  const cfg = { ...ATTACH_DEFAULTS, ...(m.provenance.config.attach as Partial<AttachConfig>) };
  const lim = cfg.limitPerClass > 0 ? { train: 1, val: 1, test: Math.max(10, Math.round(cfg.limitPerClass / 3)) } : { train: 1, val: 1 };
  const ds = loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: lim });
  const runner = await SegmentRunner.create(segments);
  const cache = await cacheFeatures(runner, ds.test, ds, m.input.normalisation, 'evaluate test', true);
  await runner.release();
  const test = await exitOutputs(exits, cache, m.classes.length);
  const costs = { exits: m.exits.map((e) => e.costFraction), final: m.final.costFraction };
  const cascade = evaluatePolicy(test, scores(m.policies.default, test), m.exits.map((e) => e.defaultThreshold), costs);
  const rows = m.exits.map((e, i) => ({ name: `exit ${i} (after ${e.input})`, share: e.backboneFraction, cost: e.costFraction, acc: exitAccuracy(test, i), want: e.accuracy.test, rate: cascade.exitRates[i]! }));
  rows.push({ name: 'final head (backbone)', share: 1, cost: m.final.costFraction, acc: exitAccuracy(test, -1), want: m.final.accuracy.test, rate: cascade.exitRates[m.exits.length]! });
  const bad = rows.filter((r) => Math.abs(r.acc - r.want) > TOLERANCE);
  if (bad.length) throw new Error(`measured accuracy differs from the manifest: ${bad.map((r) => `${r.name}: ${pct(r.acc)} vs ${pct(r.want)}`).join('; ')}`);
  const lines = [
    `Bundle ${m.name}: ${test.count} test images, onnxruntime-node ${m.provenance.tools['onnxruntime-node'] ?? ''}`,
    '',
    '| exit | backbone MAC share | cost if it answers (MACs incl. branches) | test accuracy | share answered at default thresholds |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${pct(r.share)} | ${pct(r.cost)} | ${pct(r.acc)} | ${pct(r.rate)} |`),
    '',
    `Cascade at the default thresholds [${m.exits.map((e) => e.defaultThreshold.toFixed(3)).join(', ')}] (${m.policies.default} policy, calibrated on validation): test accuracy ${pct(cascade.accuracy)}, mean cost ${pct(cascade.cost)} of the backbone's MACs.`,
  ];
  return lines.join('\n');
}
