/**
 * What `attach` decides before it writes anything: the backbone's input layout, which data trains
 * the exits, which calibrates them and which measures the result, whether the backbone is sane on
 * that data (normalisation, layout, labels), and where the feature caches can live. Every refusal
 * is a ConfigError naming the option that fixes it; nothing has been written when one is thrown.
 *
 * @example
 * const plan = calibrationPlan(cfg, ds, readBackboneRecord(cfg.backbone));
 * plan.calibrate.name; // 'half of the test split (500 per class)'
 * const cache = planCache(cfg, sizes, counts, out); // { mode: 'f16', bytes: 9.1e9, … }
 */
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { argmax } from '../core/cascade-rule.js';
import { ConfigError } from '../core/config-error.js';
import { normaliseImages } from '../core/normalise.js';
import { bytesPerValue, CACHE_MODES, type CacheMode } from './branches/features.js';
import type { AttachConfig } from './config.js';
import { type Dataset, pixelsPerImage, type Split } from './data/dataset.js';

export type Layout = 'NCHW' | 'NHWC';

/** The backbone's input layout: the named one, checked against the images, or read off the input shape. */
export function resolveLayout(option: string, inputShape: number[], image: Dataset['shape']): Layout {
  if (!['auto', 'NCHW', 'NHWC'].includes(option))
    throw new ConfigError(`--inputLayout=${option}: expected auto, NCHW or NHWC`);
  const [, a, b, c] = inputShape;
  const nchw = a === image.channels && b === image.height && c === image.width;
  const nhwc = a === image.height && b === image.width && c === image.channels;
  const want = `[${image.channels}, ${image.height}, ${image.width}] (NCHW) or [${image.height}, ${image.width}, ${image.channels}] (NHWC)`;
  if (option === 'NCHW' && !nchw)
    throw new ConfigError(
      `--inputLayout=NCHW, but the backbone's input is [${inputShape.slice(1)}]; the images need ${want}${nhwc ? '; try --inputLayout=NHWC' : ''}`,
    );
  if (option === 'NHWC' && !nhwc)
    throw new ConfigError(
      `--inputLayout=NHWC, but the backbone's input is [${inputShape.slice(1)}]; the images need ${want}${nchw ? '; try --inputLayout=NCHW' : ''}`,
    );
  if (option !== 'auto') return option as Layout;
  if (nchw) return 'NCHW';
  if (nhwc) return 'NHWC';
  throw new ConfigError(
    `the backbone's input [${inputShape.slice(1)}] does not fit the dataset's images: it needs ${want}`,
  );
}

/** The training record a backbone trained by this repository has beside it (backbone.json), if any. */
export interface BackboneRecord {
  config?: { valPerClass?: number };
  dataset?: { name?: string };
}
export function readBackboneRecord(backbone: string): BackboneRecord | undefined {
  const p = join(dirname(backbone), 'backbone.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as BackboneRecord) : undefined;
}

export interface NamedSplit {
  name: string;
  split: Split;
}

export interface CalibrationPlan {
  mode: 'val' | 'test-half';
  reason: string;
  /** The exit classifiers' training images (the confidence heads' holdout is taken from these). */
  exitTrain: NamedSplit;
  calibrate: NamedSplit;
  evaluate: NamedSplit;
}

function concat(a: Split, b: Split, pixels: number): Split {
  const images = new Uint8Array((a.count + b.count) * pixels);
  images.set(a.images.subarray(0, a.count * pixels));
  images.set(b.images.subarray(0, b.count * pixels), a.count * pixels);
  const labels = new Uint8Array(a.count + b.count);
  labels.set(a.labels.subarray(0, a.count));
  labels.set(b.labels.subarray(0, b.count), a.count);
  return { images, labels, count: a.count + b.count };
}

function pick(s: Split, idx: number[], pixels: number): Split {
  const images = new Uint8Array(idx.length * pixels);
  idx.forEach((i, k) => {
    images.set(s.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
  });
  return { images, labels: Uint8Array.from(idx, (i) => s.labels[i]!), count: idx.length };
}

/** Splits `s` in two halves with every class split evenly (alternate images of each class). */
export function halves(s: Split, pixels: number): [Split, Split] {
  const seen = new Map<number, number>();
  const a: number[] = [],
    b: number[] = [];
  for (let i = 0; i < s.count; i++) {
    const k = seen.get(s.labels[i]!) ?? 0;
    seen.set(s.labels[i]!, k + 1);
    (k % 2 === 0 ? a : b).push(i);
  }
  return [pick(s, a, pixels), pick(s, b, pixels)];
}

/**
 * Which split trains, calibrates and evaluates. A backbone trained elsewhere has usually seen the
 * whole standard training set, this repository's validation split included, so calibrating on it
 * is optimistic: 'auto' calibrates on half the test set unless the backbone's own training record
 * says it never saw the validation split.
 */
export function calibrationPlan(
  cfg: Pick<AttachConfig, 'calibration' | 'valPerClass'>,
  ds: Dataset,
  record: BackboneRecord | undefined,
): CalibrationPlan {
  if (!['auto', 'val', 'test-half'].includes(cfg.calibration))
    throw new ConfigError(`--calibration=${cfg.calibration}: expected auto, val or test-half`);
  const pixels = pixelsPerImage(ds);
  const trainedHere = !!record && record.dataset?.name === ds.name && record.config?.valPerClass === cfg.valPerClass;
  const mode =
    cfg.calibration === 'auto' ? (trainedHere ? 'val' : 'test-half') : (cfg.calibration as 'val' | 'test-half');
  const reason =
    cfg.calibration !== 'auto'
      ? `--calibration=${mode}`
      : trainedHere
        ? `auto: backbone.json beside the backbone records training on ${ds.name} with the same ${cfg.valPerClass} validation images per class held out`
        : 'auto: no training record says the backbone never saw the validation split (part of the standard training set), so half the test set calibrates instead';
  if (mode === 'val') {
    return {
      mode,
      reason,
      exitTrain: { name: 'train split', split: ds.train },
      calibrate: { name: 'validation split', split: ds.val },
      evaluate: { name: 'test split', split: ds.test },
    };
  }
  const [calib, evaluation] = halves(ds.test, pixels);
  return {
    mode,
    reason,
    exitTrain: {
      name: 'train + validation splits (the standard training set)',
      split: concat(ds.train, ds.val, pixels),
    },
    calibrate: { name: 'test split, even-numbered images of each class', split: calib },
    evaluate: { name: 'test split, odd-numbered images of each class (never seen by calibration)', split: evaluation },
  };
}

/** Backbone accuracy on `split` (every `stride`-th image) with one normalisation. */
async function accuracyWith(
  session: ort.InferenceSession,
  split: Split,
  ds: Dataset,
  layout: Layout,
  mean: number[],
  std: number[],
  idx: number[],
): Promise<{ accuracy: number; confusion: number[][] }> {
  const { channels: C, height: H, width: W } = ds.shape;
  const per = pixelsPerImage(ds),
    K = ds.classes.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  let ok = 0;
  for (let s = 0; s < idx.length; s += 256) {
    const part = idx.slice(s, s + 256);
    const u8 = new Uint8Array(part.length * per);
    part.forEach((i, k) => {
      u8.set(split.images.subarray(i * per, (i + 1) * per), k * per);
    });
    const x = normaliseImages(u8, part.length, ds.shape, mean, std, layout);
    const out = await session.run({
      [session.inputNames[0]!]: new ort.Tensor(
        'float32',
        x,
        layout === 'NHWC' ? [part.length, H, W, C] : [part.length, C, H, W],
      ),
    });
    const logits = out[session.outputNames[0]!]!.data as Float32Array;
    const k = logits.length / part.length;
    part.forEach((i, b) => {
      const p = argmax(logits.subarray(b * k, (b + 1) * k)),
        y = split.labels[i]!;
      if (p === y) ok++;
      if (p < K) confusion[y]![p]!++;
    });
  }
  return { accuracy: ok / idx.length, confusion };
}

export interface SanityResult {
  images: number;
  accuracy: number;
  chance: number;
}

/**
 * Runs the backbone on up to `n` calibration images (spread over the split) and stops with a clear
 * message when it is near chance or another common normalisation is far better: the mistakes that
 * otherwise yield a bundle calibrated on a broken backbone.
 */
export async function sanityCheck(
  backbone: Uint8Array,
  split: Split,
  ds: Dataset,
  layout: Layout,
  norm: { mean: number[]; std: number[] },
  n = 1000,
): Promise<SanityResult> {
  const session = await ort.InferenceSession.create(backbone);
  try {
    const stride = Math.max(1, Math.floor(split.count / n));
    const idx = Array.from({ length: Math.min(n, split.count) }, (_, i) => i * stride).filter((i) => i < split.count);
    const K = ds.classes.length,
      chance = 1 / K;
    const given = await accuracyWith(session, split, ds, layout, norm.mean, norm.std, idx);
    const fmt = (v: number) => `${(v * 100).toFixed(1)} %`;
    const C = ds.shape.channels;
    const dsStats = channelStats(split, ds, idx);
    const alternatives: { label: string; mean: number[]; std: number[] }[] = [
      { label: 'pixels in [0, 1]', mean: new Array(C).fill(0), std: new Array(C).fill(1) },
      { label: 'pixels in [-1, 1]', mean: new Array(C).fill(0.5), std: new Array(C).fill(0.5) },
      { label: "the data's own mean/std", ...dsStats },
      ...(C === 3 ? [{ label: 'ImageNet mean/std', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }] : []),
    ];
    let best: { label: string; mean: number[]; std: number[]; accuracy: number } | undefined;
    for (const alt of alternatives) {
      const r = await accuracyWith(session, split, ds, layout, alt.mean, alt.std, idx);
      if (!best || r.accuracy > best.accuracy) best = { ...alt, accuracy: r.accuracy };
    }
    const opt = (v: number[]) => v.map((x) => Number(x.toFixed(4))).join(',');
    const skip = 'pass --sanity=false to attach anyway';
    if (best && best.accuracy > given.accuracy + 0.1) {
      throw new ConfigError(
        `the backbone scores ${fmt(given.accuracy)} on ${idx.length} calibration images with --mean=${opt(norm.mean)} --std=${opt(norm.std)}, but ${fmt(best.accuracy)} with ${best.label} (--mean=${opt(best.mean)} --std=${opt(best.std)}): pass the normalisation it was trained with; ${skip}`,
      );
    }
    if (given.accuracy < Math.min(0.5, 2 * chance)) {
      // Labels in another order show as a confusion matrix whose rows peak off the diagonal.
      const rowPeak = given.confusion.map((row) => argmax(row));
      const permuted = new Set(rowPeak).size === K && rowPeak.some((p, y) => p !== y);
      const peakAcc = given.confusion.reduce((a, row, y) => a + row[rowPeak[y]!]!, 0) / idx.length;
      const hint =
        permuted && peakAcc > given.accuracy + 0.3
          ? `its predictions match the labels under a reordering of the classes (${fmt(peakAcc)}): the backbone's class order differs from ${ds.name}'s [${ds.classes.join(', ')}]`
          : 'check --mean/--std, --inputLayout, and that it was trained on this dataset with its class order';
      throw new ConfigError(
        `the backbone scores ${fmt(given.accuracy)} on ${idx.length} calibration images, near chance (${fmt(chance)}): ${hint}; ${skip}`,
      );
    }
    return { images: idx.length, accuracy: given.accuracy, chance };
  } finally {
    await session.release();
  }
}

function channelStats(split: Split, ds: Dataset, idx: number[]): { mean: number[]; std: number[] } {
  const C = ds.shape.channels,
    per = pixelsPerImage(ds);
  const sum = new Array<number>(C).fill(0),
    sq = new Array<number>(C).fill(0);
  let n = 0;
  for (const i of idx) {
    for (let p = 0; p < per; p++) {
      const v = split.images[i * per + p]! / 255,
        c = p % C; // HWC
      sum[c]! += v;
      sq[c]! += v * v;
    }
    n += per / C;
  }
  const mean = sum.map((s) => s / n);
  return { mean, std: sq.map((s, c) => Math.sqrt(Math.max(1e-6, s / n - mean[c]! ** 2))) };
}

export interface CachePlan {
  mode: CacheMode;
  bytes: number;
  budget: number;
  diskBytes: number;
  summary: string;
}

const GiB = 1024 ** 3;

/**
 * Where the feature caches go. `values` is the number of cached values per image (every candidate's
 * pooled features plus the logits), `images` the images cached over all splits. 'auto' takes the
 * first of f32, f16 (in memory, within the budget) and disk (f16 in files beside the bundle, within
 * the free disk space) that fits; a named mode that does not fit, or nothing fitting, is refused
 * with the options that would fit.
 */
export function planCache(
  cfg: Pick<AttachConfig, 'cache' | 'maxMemoryGiB'>,
  values: number,
  images: number,
  dir: string,
  perCandidate: { tensor: string; values: number }[],
): CachePlan {
  if (cfg.cache !== 'auto' && !(CACHE_MODES as readonly string[]).includes(cfg.cache))
    throw new ConfigError(`--cache=${cfg.cache}: expected auto, ${CACHE_MODES.join(', ')}`);
  const budget = cfg.maxMemoryGiB > 0 ? cfg.maxMemoryGiB * GiB : 0.6 * totalmem();
  const need = (mode: CacheMode) => values * images * bytesPerValue(mode);
  const diskBytes = values * images * 2;
  const diskFree = freeBytes(dir);
  const fits = (mode: CacheMode) => (mode === 'disk' ? diskBytes <= diskFree - GiB : need(mode) <= budget);
  const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;
  const table = `f32 ${gib(need('f32'))}, f16 ${gib(need('f16'))} in memory (budget ${gib(budget)}, --maxMemoryGiB), or ${gib(diskBytes)} on disk (${gib(Math.max(0, diskFree))} free)`;
  const mode =
    cfg.cache === 'auto' ? CACHE_MODES.find(fits) : fits(cfg.cache as CacheMode) ? (cfg.cache as CacheMode) : undefined;
  if (!mode) {
    const widest = [...perCandidate]
      .sort((a, b) => b.values - a.values)
      .slice(0, 3)
      .map((c) => `${c.tensor} ${c.values} values/image`)
      .join(', ');
    const alternatives = CACHE_MODES.filter(fits).map((m) => `--cache=${m}`);
    throw new ConfigError(
      `the feature caches for ${images} images need ${table}: ${cfg.cache === 'auto' ? 'none fits' : `--cache=${cfg.cache} does not fit`}. Use ${[...alternatives, '--maxCandidates=<fewer>', `--cuts=<tensor,…> (the widest: ${widest})`, '--limitPerClass=<n>'].join(', or ')}`,
    );
  }
  return {
    mode,
    bytes: mode === 'disk' ? diskBytes : need(mode),
    budget,
    diskBytes,
    summary: `feature caches: ${table} → ${mode}`,
  };
}

function freeBytes(dir: string): number {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const s = statfsSync(d);
  return s.bavail * s.bsize;
}

/**
 * A warning when the backbone is clearly more accurate on the calibration images than on the
 * evaluation ones (more than 1 pp and 3 standard errors): it has probably trained on them, and the
 * operating points calibrated there are optimistic.
 */
export function optimisticCalibration(
  calib: number,
  nCalib: number,
  evaluation: number,
  nEval: number,
): string | undefined {
  const diff = calib - evaluation;
  const p = (calib * nCalib + evaluation * nEval) / (nCalib + nEval);
  const se = Math.sqrt(Math.max(1e-12, p * (1 - p) * (1 / nCalib + 1 / nEval)));
  if (diff <= 0.01 || diff <= 3 * se) return undefined;
  const pct = (v: number) => `${(v * 100).toFixed(2)} %`;
  return `the backbone scores ${pct(calib)} on the calibration images but ${pct(evaluation)} on the evaluation images (+${(diff * 100).toFixed(2)} pp, ${(diff / se).toFixed(1)} standard errors): it has probably trained on the calibration images, so the calibrated drops are optimistic; calibrate on data it never saw (--calibration=test-half)`;
}
