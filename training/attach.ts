/**
 * `npm run train -- attach --backbone=any.onnx [--key=value …]`: PTEENet on any ONNX backbone.
 *
 *   1. every valid single-tensor cut (up to `maxCutFraction` of the MACs) is a candidate exit;
 *   2. the frozen backbone's features at every candidate are cached with onnxruntime-node;
 *   3. a cheap branch per candidate (width chosen per position under `branchBudget`) trains its
 *      classifier on the training images minus a holdout, then its confidence head on the holdout
 *      (branches/train.ts);
 *   4. every candidate is measured through onnxruntime on validation, and the subset of exits that
 *      pays is kept (an exit whose branch costs more than it saves is dropped, as Apparate does with
 *      its ramps): backward elimination on the certified cost at the default's accuracy target;
 *   5. the backbone is cut at the kept exits only; the EENet scheduler is fitted on validation;
 *      every policy's frontier is calibrated on validation, each point's drop is tested
 *      (calibrate/bound.ts), the default is the cheapest certified point, and the test split is
 *      evaluated for the manifest's record.
 *
 * The backbone file is read, never written (its sha256 is checked before and after).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { POLICIES, type Policy, schedulerFeatureNames } from '../core/cascade-rule.js';
import { ConfigError } from '../core/config-error.js';
import { type Manifest, parseManifest } from '../core/manifest.js';
import { graphFile, removeGraphFiles, sha256Hex, writeBundleFile, writeManifest } from '../core/node/bundle.js';
import {
  type CachePlan,
  type CalibrationPlan,
  calibrationPlan,
  type Layout,
  optimisticCalibration,
  planCache,
  readBackboneRecord,
  resolveLayout,
  sanityCheck,
} from './attach-plan.js';
import { chooseWidth, poolFactor } from './branches/branch.js';
import { EXIT_CONFIDENCE, EXIT_INPUT, EXIT_LOGITS, exportBranchOnnx } from './branches/export.js';
import { cacheFeatures, type FeatureCache, SegmentRunner } from './branches/features.js';
import { makeBranches, trainClassifiers, trainConfidenceHeads } from './branches/train.js';
import { dropPValue, fixedSequence } from './calibrate/bound.js';
import {
  type Costs,
  evaluatePolicy,
  exitAccuracy,
  exitAurocs,
  type FrontierPoint,
  frontier,
  oracle,
  type SplitOutputs,
  scores,
} from './calibrate/frontier.js';
import { exitOutputs } from './calibrate/outputs.js';
import { exportSchedulerOnnx, fitScheduler } from './calibrate/scheduler.js';
import type { AttachConfig } from './config.js';
import { loadCifar10 } from './data/cifar10.js';
import type { Dataset, Split } from './data/dataset.js';
import { pixelsPerImage } from './data/dataset.js';
import { loadFashionMnist } from './data/fashion-mnist.js';
import { analyseBackbone, type CutPoint, chooseCuts } from './onnx/analyse.js';
import { GraphIndex } from './onnx/graph.js';
import { dimsOf, writeOnnx } from './onnx/proto.js';
import { checkCut, splitAt } from './onnx/surgery.js';
import { initTf, type TfBackendChoice } from './tf.js';

function loadDataset(cfg: AttachConfig): Dataset {
  const lim =
    cfg.limitPerClass > 0
      ? {
          train: cfg.limitPerClass,
          val: Math.max(10, Math.round(cfg.limitPerClass / 5)),
          test: Math.max(10, Math.round(cfg.limitPerClass / 3)),
        }
      : undefined;
  if (cfg.dataset === 'fashion-mnist') return loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: lim });
  if (cfg.dataset === 'cifar10') return loadCifar10(cfg.datasetDir, { valPerClass: cfg.valPerClass });
  throw new Error(`unknown dataset "${cfg.dataset}"; known: fashion-mnist, cifar10`);
}

function toolVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const v = (p: string) => {
    try {
      return (require(`${p}/package.json`) as { version: string }).version;
    } catch {
      return 'missing';
    }
  };
  return {
    node: process.version,
    '@tensorflow/tfjs': v('@tensorflow/tfjs'),
    'onnxruntime-node': v('onnxruntime-node'),
    'onnx-proto': v('onnx-proto'),
  };
}

/** Dedupes cuts with equal MACs (keeping the later, post-activation one) and keeps at most `max`, spread by MAC share. */
export function candidateCuts(cuts: CutPoint[], maxFraction: number, max: number): CutPoint[] {
  const byMacs = new Map<number, CutPoint>();
  for (const c of cuts) if (c.macFraction > 0 && c.macFraction <= maxFraction) byMacs.set(c.macs, c);
  const all = [...byMacs.values()].sort((a, b) => a.macs - b.macs);
  if (all.length <= max) return all;
  const lo = all[0]!.macFraction,
    hi = all[all.length - 1]!.macFraction;
  return chooseCuts(
    all,
    Array.from({ length: max }, (_, i) => lo + ((hi - lo) * i) / (max - 1)),
  );
}

/** Splits off the last `perClass` images of every class (the confidence heads' holdout). */
export function holdoutSplit(split: Split, pixels: number, perClass: number): { rest: Split; holdout: Split } {
  const taken = new Map<number, number>();
  const hold: number[] = [];
  for (let i = split.count - 1; i >= 0; i--) {
    const c = split.labels[i]!;
    if ((taken.get(c) ?? 0) < perClass) {
      taken.set(c, (taken.get(c) ?? 0) + 1);
      hold.push(i);
    }
  }
  const inHold = new Uint8Array(split.count);
  for (const i of hold) inHold[i] = 1;
  const pick = (keep: (i: number) => boolean): Split => {
    const idx = Array.from({ length: split.count }, (_, i) => i).filter(keep);
    const images = new Uint8Array(idx.length * pixels);
    idx.forEach((i, k) => {
      images.set(split.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
    });
    return { images, labels: Uint8Array.from(idx, (i) => split.labels[i]!), count: idx.length };
  };
  return { rest: pick((i) => !inHold[i]), holdout: pick((i) => inHold[i] === 1) };
}

/** Costs (backbone-MAC fractions) of leaving at each kept candidate and at the final head. */
export function subsetCosts(cutMacs: number[], branchMacs: number[], total: number, keep: number[]): Costs {
  let spent = 0;
  const exits = keep.map((k) => {
    spent += branchMacs[k]!;
    return (cutMacs[k]! + spent) / total;
  });
  return { exits, final: (total + spent) / total, branches: keep.map((k) => branchMacs[k]! / total) };
}

export function subsetOutputs(o: SplitOutputs, keep: number[]): SplitOutputs {
  return { ...o, exits: keep.map((k) => o.exits[k]!) };
}

/** At most `max` frontier points, evenly spread by cost (the cheapest and dearest always kept). */
export function thin(points: FrontierPoint[], max: number): FrontierPoint[] {
  if (points.length <= max) return points;
  const lo = points[0]!.cost,
    hi = points[points.length - 1]!.cost;
  const keep = new Set<number>([0, points.length - 1]);
  for (let k = 1; k < max - 1; k++) {
    const target = lo + ((hi - lo) * k) / (max - 1);
    let best = 0;
    points.forEach((p, i) => {
      if (Math.abs(p.cost - target) < Math.abs(points[best]!.cost - target)) best = i;
    });
    keep.add(best);
  }
  return points.filter((_, i) => keep.has(i));
}

/** Marks each point's p-value and certification (fixed sequence, calibrate/bound.ts). */
export function certify(points: FrontierPoint[], maxDrop: number, delta: number): FrontierPoint[] {
  for (const p of points) p.pValue = p.discordance ? dropPValue(p.discordance, maxDrop) : 1;
  const ok = new Set(fixedSequence(points, (p) => p.pValue!, delta));
  points.forEach((p, i) => {
    p.certified = ok.has(i);
  });
  return points;
}

/** The cheapest certified point of a frontier (undefined if none). */
function cheapestCertified(points: FrontierPoint[]): FrontierPoint | undefined {
  return points
    .filter((p) => p.certified)
    .reduce<FrontierPoint | undefined>((a, b) => (!a || b.cost < a.cost ? b : a), undefined);
}

/**
 * Backward elimination over candidate exits: starting from all, repeatedly drop the exit whose
 * removal lowers the cheapest certified validation cost most (max-softmax and confidence policies),
 * until no removal helps.
 */
export function selectExits(
  val: SplitOutputs,
  cutMacs: number[],
  branchMacs: number[],
  total: number,
  cfg: Pick<AttachConfig, 'defaultMaxDrop' | 'delta'>,
  log: (m: string) => void,
): number[] {
  const costAt = (keep: number[]) => {
    if (!keep.length) return 1;
    const o = subsetOutputs(val, keep);
    const costs = subsetCosts(cutMacs, branchMacs, total, keep);
    let best = Infinity;
    for (const policy of ['confidence', 'max-softmax'] as const) {
      const c = cheapestCertified(
        certify(thin(frontier(policy, o, costs, undefined, 40), 200), cfg.defaultMaxDrop, cfg.delta),
      );
      if (c) best = Math.min(best, c.cost);
    }
    return best;
  };
  let keep = cutMacs.map((_, i) => i);
  let cur = costAt(keep);
  log(`exit selection: all ${keep.length} candidates → certified cost ${(cur * 100).toFixed(2)} %`);
  // A bundle keeps at least one exit (the manifest's cascade needs one), even if none pays.
  while (keep.length > 1) {
    let best: { keep: number[]; cost: number; dropped: number } | undefined;
    for (const k of keep) {
      const next = keep.filter((x) => x !== k);
      const c = costAt(next);
      if (!best || c < best.cost) best = { keep: next, cost: c, dropped: k };
    }
    if (!best || best.cost >= cur - 1e-4) break;
    log(`exit selection: drop candidate ${best.dropped} → certified cost ${(best.cost * 100).toFixed(2)} %`);
    keep = best.keep;
    cur = best.cost;
  }
  if (cur >= 1)
    log(
      `WARNING: no subset of exits beats the backbone alone at the accuracy target (certified cost ${(cur * 100).toFixed(1)} %); the bundle keeps one exit, and its default is "backbone only" (that exit off)`,
    );
  return keep;
}

export async function runAttach(cfg: AttachConfig, opts: { quiet?: boolean; name?: string } = {}): Promise<Manifest> {
  const log = (m: string) => {
    if (!opts.quiet) console.error(`[attach] ${m}`);
  };
  if (!existsSync(cfg.backbone)) throw new ConfigError(`backbone "${cfg.backbone}" not found`);
  const out = cfg.out || dirname(cfg.backbone);
  const backboneBytes = new Uint8Array(readFileSync(cfg.backbone));
  const hashBefore = sha256Hex(backboneBytes);

  // 1. Analyse (every unsupported node is reported at once, as an OnnxError); every valid cut (or
  //    the named ones) is a candidate. Nothing is written until the checks below have passed.
  const a = await analyseBackbone(backboneBytes);
  const cands = cfg.cuts.length
    ? cfg.cuts.map((t) => {
        const c = a.cuts.find((p) => p.tensor === t);
        if (!c) {
          // Why not: the surgery's own check names the node that reads across the cut.
          let why = 'it is not a 4-D feature map';
          try {
            checkCut(new GraphIndex(a.model), t);
          } catch (e) {
            why = (e as Error).message;
          }
          throw new ConfigError(
            `--cuts: "${t}" is not a valid 4-D cut point (${why}); list the valid ones with \`npm run train -- cuts --backbone=${cfg.backbone}\`; valid: ${a.cuts.map((p) => p.tensor).join(', ')}`,
          );
        }
        return c;
      })
    : candidateCuts(a.cuts, cfg.maxCutFraction, cfg.maxCandidates);
  if (!cands.length)
    throw new ConfigError('no valid cut point found in the backbone (list them with `npm run train -- cuts`)');
  log(
    `candidates: ${cands.map((c) => `${c.tensor} (${(c.macFraction * 100).toFixed(1)} % MACs, [${c.shape}])`).join(', ')}`,
  );

  // 2. Data: which split trains the exits, which calibrates, which evaluates; the backbone's sanity on it.
  const ds = loadDataset(cfg);
  const layout = resolveLayout(cfg.inputLayout, a.inputShape, ds.shape);
  const plan = calibrationPlan(cfg, ds, readBackboneRecord(cfg.backbone));
  log(
    `calibration: ${plan.calibrate.name} (${plan.calibrate.split.count} images); evaluation: ${plan.evaluate.name} (${plan.evaluate.split.count}); exits train on the ${plan.exitTrain.name} (${plan.exitTrain.split.count}) [${plan.reason}]`,
  );
  const norm = { mean: cfg.mean, std: cfg.std };
  if (cfg.sanity) {
    const r = await sanityCheck(backboneBytes, plan.calibrate.split, ds, layout, norm);
    log(
      `sanity: the backbone scores ${(r.accuracy * 100).toFixed(1)} % on ${r.images} calibration images (chance ${(r.chance * 100).toFixed(0)} %), layout ${layout}`,
    );
  }
  const shapes = cands.map((c) => ({ channels: c.shape[1]!, height: c.shape[2]!, width: c.shape[3]! }));
  const pools = shapes.map(poolFactor);
  const perCandidate = cands.map((c, i) => ({
    tensor: c.tensor,
    values: shapes[i]!.channels * (shapes[i]!.height / pools[i]!) * (shapes[i]!.width / pools[i]!),
  }));
  const images = plan.exitTrain.split.count + plan.calibrate.split.count + plan.evaluate.split.count;
  const cachePlan = planCache(
    cfg,
    perCandidate.reduce((x, c) => x + c.values, ds.classes.length),
    images,
    out,
    perCandidate,
  );
  log(cachePlan.summary);

  // 3. Cache features at every candidate (pooled as each branch pools) with the frozen segments.
  mkdirSync(out, { recursive: true });
  if (resolve(join(out, 'backbone.onnx')) !== resolve(cfg.backbone))
    copyFileSync(cfg.backbone, join(out, 'backbone.onnx'));
  const { rest: exitTrain, holdout } = holdoutSplit(plan.exitTrain.split, pixelsPerImage(ds), cfg.confHoldoutPerClass);
  const candSegments = splitAt(
    a.model,
    cands.map((c) => c.tensor),
    a.shapes,
  ).map(writeOnnx);
  const runner = await SegmentRunner.create(candSegments);
  const cacheDir = join(out, '.feature-cache');
  const cache = (split: Split, title: string) =>
    cacheFeatures(runner, split, ds, norm, title, opts.quiet, pools, { mode: cachePlan.mode, dir: cacheDir, layout });
  const caches: Record<'train' | 'holdout' | 'val' | 'test', FeatureCache> = {
    train: await cache(exitTrain, 'cache train features'),
    holdout: await cache(holdout, 'cache holdout features'),
    val: await cache(plan.calibrate.split, 'cache calibration features'),
    test: await cache(plan.evaluate.split, 'cache evaluation features'),
  };
  await runner.release();
  try {
    return await attachOnCaches(cfg, opts, {
      a,
      cands,
      ds,
      plan,
      layout,
      norm,
      shapes,
      pools,
      caches,
      cachePlan,
      hashBefore,
      out,
      log,
    });
  } finally {
    for (const c of Object.values(caches)) for (const f of c.features) f.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

interface Prepared {
  a: Awaited<ReturnType<typeof analyseBackbone>>;
  cands: CutPoint[];
  ds: Dataset;
  plan: CalibrationPlan;
  layout: Layout;
  norm: { mean: number[]; std: number[] };
  shapes: { channels: number; height: number; width: number }[];
  pools: number[];
  caches: Record<'train' | 'holdout' | 'val' | 'test', FeatureCache>;
  cachePlan: CachePlan;
  hashBefore: string;
  out: string;
  log: (m: string) => void;
}

async function attachOnCaches(
  cfg: AttachConfig,
  opts: { quiet?: boolean; name?: string },
  p: Prepared,
): Promise<Manifest> {
  const { a, cands, ds, plan, layout, norm, shapes, pools, caches, hashBefore, out, log } = p;
  const classes = ds.classes.length;
  const calibBackbone = exitAccuracy(
    { count: caches.val.count, classes, labels: caches.val.labels, exits: [], finalLogits: caches.val.logits },
    -1,
  );
  const evalBackbone = exitAccuracy(
    { count: caches.test.count, classes, labels: caches.test.labels, exits: [], finalLogits: caches.test.logits },
    -1,
  );
  const calibrationWarning = optimisticCalibration(calibBackbone, caches.val.count, evalBackbone, caches.test.count);
  if (calibrationWarning) log(`WARNING: ${calibrationWarning}`);

  // 4. Train every candidate branch: classifiers on the training images, confidence heads on the holdout.
  const { tf, backend } = await initTf({ backend: cfg.tfBackend as TfBackendChoice, quiet: opts.quiet });
  const widths = shapes.map((s) => chooseWidth(s, classes, cfg.branchBudget * a.totalMacs, cfg.branchMaxWidth));
  const attachLog = join(out, 'attach-log.jsonl');
  if (!existsSync(join(out, 'attach-checkpoint.safetensors'))) writeFileSync(attachLog, '');
  const branches = makeBranches(
    tf,
    cfg.seed,
    shapes.map((s) => [s.channels, s.height, s.width]),
    classes,
    widths,
  );
  // Resumable: the classifiers' last finished epoch is kept beside the bundle, keyed by what shapes it.
  const trainingKey = JSON.stringify({
    backbone: hashBefore,
    cuts: cands.map((c) => c.tensor),
    widths,
    seed: cfg.seed,
    lr: cfg.lr,
    epochs: cfg.epochs,
    batchSize: cfg.batchSize,
    distill: cfg.distill,
    distillTemperature: cfg.distillTemperature,
    confHoldoutPerClass: cfg.confHoldoutPerClass,
    limitPerClass: cfg.limitPerClass,
    valPerClass: cfg.valPerClass,
    dataset: cfg.dataset,
    calibration: plan.mode,
    cache: p.cachePlan.mode === 'f32' ? 'f32' : 'f16',
    layout,
  });
  const checkpoint = join(out, 'attach-checkpoint.safetensors');
  const phase1 = await trainClassifiers(tf, cfg, branches, caches.train, classes, {
    quiet: opts.quiet,
    logFile: attachLog,
    checkpoint,
    configKey: trainingKey,
  });
  const finalTrainAcc = exitAccuracy(
    { count: caches.train.count, classes, labels: caches.train.labels, exits: [], finalLogits: caches.train.logits },
    -1,
  );
  log(
    `classifiers: training accuracy ${phase1.trainAccuracy.map((v) => (v * 100).toFixed(1)).join(' / ')} %; the backbone's final head on the same images: ${(finalTrainAcc * 100).toFixed(2)} %`,
  );
  const phase2 = await trainConfidenceHeads(tf, cfg, branches, caches.holdout, { quiet: opts.quiet });
  const candBytes = branches.map((b) => exportBranchOnnx(b));
  // Measured through onnxruntime on the cached (pooled) features: the same graphs without their leading pooling.
  const onPooled = branches.map((b) => exportBranchOnnx(b, { pooledInput: true }));
  const candVal = await exitOutputs(onPooled, caches.val, classes);
  const candTest = await exitOutputs(onPooled, caches.test, classes);
  const candAurocVal = exitAurocs(candVal),
    candAurocTest = exitAurocs(candTest);

  // 5. Keep the exits that pay.
  const cutMacs = cands.map((c) => c.macs),
    branchMacs = branches.map((b) => b.macs);
  const keep = selectExits(candVal, cutMacs, branchMacs, a.totalMacs, cfg, log);
  const cuts = keep.map((k) => cands[k]!);
  log(`kept exits at: ${cuts.map((c) => c.tensor).join(', ')}`);

  // 6. Cut at the kept exits, fit the scheduler, calibrate, certify, choose the default.
  const segments = splitAt(
    a.model,
    cuts.map((c) => c.tensor),
    a.shapes,
  );
  const segmentBytes = segments.map(writeOnnx);
  // A rerun that keeps fewer exits must not leave the earlier run's files beside the new manifest.
  removeGraphFiles(out);
  const segmentFiles = segmentBytes.map((b, i) => writeBundleFile(out, graphFile('segment', i), b));
  const exitFiles = keep.map((k, i) => writeBundleFile(out, graphFile('exit', i), candBytes[k]!));
  const val = subsetOutputs(candVal, keep),
    test = subsetOutputs(candTest, keep);
  const costs = subsetCosts(cutMacs, branchMacs, a.totalMacs, keep);
  const scheduler = fitScheduler(val);
  const schedulerBytes = scheduler.map((s, i) => exportSchedulerOnnx(s, i, classes));
  const schedulerFiles = schedulerBytes.map((b, i) => writeBundleFile(out, graphFile('score', i), b));
  const fronts = Object.fromEntries(
    POLICIES.map((p) => [
      p,
      certify(thin(frontier(p, val, costs, test, 100, scheduler), 80), cfg.defaultMaxDrop, cfg.delta),
    ]),
  ) as Record<Policy, FrontierPoint[]>;
  const finalVal = exitAccuracy(val, -1),
    finalTest = exitAccuracy(test, -1);
  const certified = POLICIES.flatMap((policy) =>
    fronts[policy].filter((p) => p.certified).map((point) => ({ policy, point })),
  );
  const all = POLICIES.flatMap((policy) => fronts[policy].map((point) => ({ policy, point })));
  // "Backbone only" (every exit off: cost exactly 1, the backbone's accuracy) is every frontier's
  // first point, so the default never costs more than the backbone alone.
  const backboneOnly = all.find((x) => x.point.thresholds.every((t) => t > 1));
  const cheapest = certified.length
    ? certified.reduce((x, y) => (y.point.cost < x.point.cost ? y : x))
    : (backboneOnly ?? all.reduce((x, y) => (y.point.accuracy > x.point.accuracy ? y : x)));
  const chosen = backboneOnly && cheapest.point.cost > backboneOnly.point.cost ? backboneOnly : cheapest;
  const dflt = chosen.point;
  const atDefault = evaluatePolicy(test, scores(chosen.policy, test, scheduler), dflt.thresholds, costs, chosen.policy);
  if (dflt.thresholds.every((t) => t > 1))
    log(
      'WARNING: no operating point with exits beats the backbone alone at the accuracy target on the calibration data: the default is "backbone only" (every exit off, cost 100 %); the bundle serves, but saves nothing until an operator picks another point',
    );
  const exitAurocVal = exitAurocs(val, scheduler),
    exitAurocTest = exitAurocs(test, scheduler);
  log(
    `backbone test ${(finalTest * 100).toFixed(2)} %; default ${chosen.policy} (val drop ${((finalVal - dflt.accuracy) * 100).toFixed(2)} pp, p = ${dflt.pValue?.toFixed(3)}) → test ${(atDefault.accuracy * 100).toFixed(2)} % (drop ${((finalTest - atDefault.accuracy) * 100).toFixed(2)} pp, fidelity ${(atDefault.fidelity * 100).toFixed(2)} %) at ${(atDefault.cost * 100).toFixed(1)} % MACs, exit rates [${atDefault.exitRates.map((r) => r.toFixed(3))}]`,
  );
  log(
    `AUROC on test (confidence / max-softmax / eenet): ${exitAurocTest.map((x) => `${x.confidence.toFixed(3)}/${x.maxSoftmax.toFixed(3)}/${x.eenet?.toFixed(3)}`).join(', ')}`,
  );

  const hashAfter = sha256Hex(new Uint8Array(readFileSync(cfg.backbone)));
  if (hashAfter !== hashBefore)
    throw new Error(`backbone ${cfg.backbone} changed during attach (sha256 ${hashBefore} → ${hashAfter})`);
  const backboneRecordPath = join(dirname(cfg.backbone), 'backbone.json');
  const backboneTraining = existsSync(backboneRecordPath)
    ? (JSON.parse(readFileSync(backboneRecordPath, 'utf8')) as Record<string, unknown>)
    : undefined;
  const segMacs = segments.map((s) => new Set((s.graph!.node ?? []).map((n) => n.name)));
  const g = a.model.graph!;
  const nodeMacByName = new Map((g.node ?? []).map((n, i) => [n.name, a.nodeMacs[i]!]));
  const params = (m: (typeof segments)[number]) =>
    (m.graph!.initializer ?? []).reduce((acc, t) => acc + dimsOf(t).reduce((x, y) => x * y, 1), 0);
  const shapeOf = (t: string) => a.shapes.get(t)!.slice(1);
  const bytesOf = (t: string) => shapeOf(t).reduce((x, y) => x * y, 4);
  const segmentIo = segments.map((s) => ({ input: s.graph!.input![0]!.name!, output: s.graph!.output![0]!.name! }));
  const point = (p: FrontierPoint) => ({ ...p, discordance: undefined });

  const manifest = parseManifest({
    schemaVersion: 1,
    name: opts.name ?? basename(resolve(out)),
    createdAt: new Date().toISOString(),
    input: { name: a.input, shape: a.inputShape.slice(1), layout, dtype: 'float32', normalisation: norm },
    classes: ds.classes,
    backbone: {
      file: 'backbone.onnx',
      sha256: hashBefore,
      macs: a.totalMacs,
      params: a.totalParams,
      output: a.outputs[0],
      accuracy: { val: finalVal, test: finalTest },
    },
    segments: segments.map((s, i) => ({
      index: i,
      ...segmentFiles[i]!,
      input: segmentIo[i]!.input,
      output: segmentIo[i]!.output,
      inputShape: shapeOf(segmentIo[i]!.input),
      outputShape: shapeOf(segmentIo[i]!.output),
      macs: [...segMacs[i]!].reduce((acc, n) => acc + (nodeMacByName.get(n) ?? 0), 0),
      params: params(s),
      outputBytes: bytesOf(segmentIo[i]!.output),
    })),
    exits: keep.map((k, i) => ({
      index: i,
      segment: i,
      ...exitFiles[i]!,
      input: cuts[i]!.tensor,
      inputName: EXIT_INPUT,
      inputShape: cuts[i]!.shape.slice(1),
      outputs: { logits: EXIT_LOGITS, confidence: EXIT_CONFIDENCE },
      macs: branches[k]!.macs,
      params: branches[k]!.params(),
      costFraction: costs.exits[i]!,
      backboneFraction: cuts[i]!.macFraction,
      accuracy: { val: exitAccuracy(val, i), test: exitAccuracy(test, i) },
      defaultThreshold: dflt.thresholds[i]!,
      width: widths[k]!,
      pool: pools[k]!,
      auroc: { val: exitAurocVal[i]!, test: exitAurocTest[i]! },
      scheduler: {
        ...schedulerFiles[i]!,
        inputs: schedulerFeatureNames(i),
        weights: scheduler[i]!.weights,
        bias: scheduler[i]!.bias,
      },
    })),
    final: { costFraction: costs.final, accuracy: { val: finalVal, test: finalTest } },
    policies: {
      default: chosen.policy,
      defaultRule: {
        maxDrop: cfg.defaultMaxDrop,
        delta: cfg.delta,
        method: `cheapest frontier point, over all policies, whose accuracy drop against the backbone is below ${cfg.defaultMaxDrop * 100} pp at confidence ${1 - cfg.delta}: exact binomial (McNemar) test on the ${caches.val.count} calibration images (${plan.calibrate.name}), points tested in fixed sequence from the most accurate down (Learn then Test)`,
      },
      frontier: Object.fromEntries(Object.entries(fronts).map(([k, v]) => [k, v.map(point)])),
      oracle: { val: oracle(val, costs), test: oracle(test, costs) },
      atDefault: {
        accuracy: atDefault.accuracy,
        cost: atDefault.cost,
        exitRates: atDefault.exitRates,
        fidelity: atDefault.fidelity,
      },
    },
    provenance: {
      dataset: ds.name,
      split: `${ds.split}. Exits train on the ${plan.exitTrain.name}, less its last ${cfg.confHoldoutPerClass} images per class, held out to fit the confidence heads; "val" figures in this manifest are on the ${plan.calibrate.name}, "test" figures on the ${plan.evaluate.name}`,
      counts: { train: caches.train.count + caches.holdout.count, val: caches.val.count, test: caches.test.count },
      calibration: {
        mode: plan.mode,
        reason: plan.reason,
        exitTraining: { split: plan.exitTrain.name, images: plan.exitTrain.split.count },
        calibrate: { split: plan.calibrate.name, images: caches.val.count, backboneAccuracy: calibBackbone },
        evaluate: { split: plan.evaluate.name, images: caches.test.count, backboneAccuracy: evalBackbone },
        ...(calibrationWarning ? { warning: calibrationWarning } : {}),
      },
      featureCache: { mode: p.cachePlan.mode, bytes: p.cachePlan.bytes },
      seed: cfg.seed,
      config: { attach: cfg, ...(backboneTraining ? { backbone: backboneTraining.config } : {}) },
      backboneSha256: hashBefore,
      ...(backboneTraining
        ? {
            backboneTraining: {
              tfBackend: backboneTraining.tfBackend,
              bestEpoch: backboneTraining.bestEpoch,
              trainSeconds: backboneTraining.trainSeconds,
              valAccuracy: backboneTraining.valAccuracy,
              tfjsTestAccuracy: backboneTraining.tfjsTestAccuracy,
              history: backboneTraining.history,
              ...(backboneTraining.warmStart ? { warmStart: backboneTraining.warmStart } : {}),
            },
          }
        : {}),
      exitTraining: {
        seconds: phase1.seconds + phase2.seconds,
        samplesPerSec: phase1.samplesPerSec,
        tfBackend: backend,
        classifierTrainAccuracy: phase1.trainAccuracy,
        backboneTrainAccuracy: finalTrainAcc,
        confidenceHoldout: {
          images: caches.holdout.count,
          accuracy: phase2.holdoutAccuracy,
          auroc: phase2.holdoutAuroc,
        },
      },
      candidates: cands.map((c, k) => ({
        tensor: c.tensor,
        backboneFraction: c.macFraction,
        width: widths[k]!,
        branchFraction: branchMacs[k]! / a.totalMacs,
        kept: keep.includes(k),
        accuracy: { val: exitAccuracy(candVal, k), test: exitAccuracy(candTest, k) },
        auroc: { val: candAurocVal[k]!, test: candAurocTest[k]! },
      })),
      tools: toolVersions(),
    },
  });
  log(`wrote ${writeManifest(out, manifest)}`);
  return manifest;
}
