/**
 * The per-region controller's arithmetic (pure): a joint histogram of the edge exits' scores on a
 * region's own traffic, and the re-solve that picks thresholds whose realised forward rate on that
 * traffic meets the region's budget, never below the accuracy guard.
 *
 * Why joint and why explored: with thresholds applied, an input that answers at exit 0 never shows
 * its exit-1 score, so the scores the edge sees are censored by the thresholds in force and cannot
 * say what other thresholds would do. A small share of a region's requests (its `explore` share) is
 * therefore scored at every exit up to the split after its answer has gone out (workers/edge: under
 * `waitUntil`, off the answer's path); those full score vectors, binned, are what this module reads.
 * The forward rate of any thresholds is then the share of explored inputs no edge exit would answer.
 *
 * Bins: 512 per exit, uniform in logit(score) over [-12, 12], so resolution is finest near 0 and 1
 * where thresholds live (Δscore ≈ 0.0014 at 0.97, 0.012 at 0.5). A sample counts as passing threshold
 * t only when its whole bin lies at or above t: the estimate errs towards forwarding (within budget).
 * Exits that did not run (off) have bin -1 and never pass.
 *
 * Re-solve ("EENet's quantile rule" made continuous along the calibrated frontier): the policy's
 * frontier points, cheapest first, are joined by linear interpolation of their thresholds into one
 * path λ ∈ [0, n − 1] (λ = i is point i); the forward rate along it is evaluated on the histogram and
 * the largest λ (the most accurate side) whose rate is at most the budget is chosen. The guard is a
 * floor on λ (default: the cheapest point certified on validation), so a re-solve can forward less
 * only down to thresholds whose accuracy was certified; when the budget needs more than that, the
 * guard wins and the answer says the budget is not met.
 *
 * @example
 * const h = emptyHistogram(2); addScores(h, [0.91, 0.42]);
 * const r = solveForwardRate(h, frontier, { split: 2, maxForwardRate: 0.2, floor: 12 });
 * r.thresholds; r.forwardRate; r.met;
 */
import type { FrontierPoint } from './manifest.js';
import { type Interval, wilson } from './wilson.js';

export const SCORE_BINS = 512;
const Z_MAX = 12;

/** The bin of a score in [0, 1]; -1 for a score that does not exist (NaN: the exit did not run). */
export function scoreBin(s: number): number {
  if (!Number.isFinite(s)) return -1;
  const c = Math.min(1 - 1e-12, Math.max(1e-12, s));
  const z = Math.max(-Z_MAX, Math.min(Z_MAX, Math.log(c / (1 - c))));
  return Math.min(SCORE_BINS - 1, Math.floor(((z + Z_MAX) / (2 * Z_MAX)) * SCORE_BINS));
}

/** The lowest score in bin b (the bin's lower edge as a score). */
export function binLow(b: number): number {
  if (b <= 0) return b < 0 ? Number.NaN : 0;
  const z = (b / SCORE_BINS) * 2 * Z_MAX - Z_MAX;
  return 1 / (1 + Math.exp(-z));
}

/** Joint histogram of score vectors over the first `exits` exits: key = bins joined by ',', value = count. */
export interface ScoreHistogram {
  exits: number;
  total: number;
  counts: Record<string, number>;
}

/** A batch of explored samples an isolate reports to a region's Durable Object (workers/edge/src/controller/scores.ts). */
export interface ScoreReport extends ScoreHistogram {
  /** Unix minute the batch was sent in (its samples are counted in that minute). */
  minute: number;
}

export const emptyHistogram = (exits: number): ScoreHistogram => ({ exits, total: 0, counts: {} });

/** Adds one explored input's scores at exits 0 … exits − 1 (NaN where an exit did not run). */
export function addScores(h: ScoreHistogram, scores: readonly number[], n = 1): void {
  const key = Array.from({ length: h.exits }, (_, i) => scoreBin(scores[i] ?? Number.NaN)).join(',');
  h.counts[key] = (h.counts[key] ?? 0) + n;
  h.total += n;
}

/** Adds `b` into `a` (same exit count; `b`'s extra exits, if any, are marginalised away). */
export function mergeHistogram(a: ScoreHistogram, b: ScoreHistogram): void {
  for (const [key, n] of Object.entries(b.counts)) {
    const k = key.split(',').slice(0, a.exits);
    while (k.length < a.exits) k.push('-1');
    const kk = k.join(',');
    a.counts[kk] = (a.counts[kk] ?? 0) + n;
    a.total += n;
  }
}

/** Forwarded inputs of the histogram under `thresholds` at `split`: those no exit < split passes. */
export function forwardedCount(h: ScoreHistogram, thresholds: readonly number[], split: number): number {
  const n = Math.min(split, h.exits);
  let forwarded = 0;
  for (const [key, count] of Object.entries(h.counts)) {
    const bins = key.split(',');
    let answered = false;
    for (let i = 0; i < n && !answered; i++) {
      const b = Number(bins[i]);
      const t = thresholds[i] ?? 2;
      if (b >= 0 && t <= 1 && binLow(b) >= t) answered = true;
    }
    if (!answered) forwarded += count;
  }
  return forwarded;
}

/** Thresholds at position λ of the frontier path (linear between neighbouring points). */
export function pathThresholds(points: readonly FrontierPoint[], lambda: number): number[] {
  const i = Math.max(0, Math.min(points.length - 1, Math.floor(lambda)));
  const j = Math.min(points.length - 1, i + 1);
  const f = Math.max(0, Math.min(1, lambda - i));
  const a = points[i]!.thresholds;
  const b = points[j]!.thresholds;
  return a.map((t, k) => t + f * ((b[k] ?? t) - t));
}

/** Linear interpolation of a point's figure along the path. */
function along(points: readonly FrontierPoint[], lambda: number, get: (p: FrontierPoint) => number): number {
  const i = Math.max(0, Math.min(points.length - 1, Math.floor(lambda)));
  const j = Math.min(points.length - 1, i + 1);
  const f = Math.max(0, Math.min(1, lambda - i));
  return get(points[i]!) + f * (get(points[j]!) - get(points[i]!));
}

export interface SolveOptions {
  split: number;
  maxForwardRate: number;
  /** Lowest λ allowed (the accuracy guard); default 0. */
  floor?: number;
  /** Per-exit threshold floors a broken shadow guard set (core/regions.ts `guarded`): thresholds along the path are raised to them. */
  thresholdFloors?: readonly number[];
  /** Steps evaluated between neighbouring points (default 20). */
  steps?: number;
  /** Fewest explored samples to solve on (default 200). */
  minSamples?: number;
  /** z of the stated interval (default 1.96: 95 %). */
  z?: number;
}

export interface Solution {
  /** The thresholds chosen (per exit; the exits past the split keep the path's values). */
  thresholds: number[];
  lambda: number;
  /** Forward rate of `thresholds` on the histogram, with its Wilson interval. */
  forwardRate: number;
  interval: Interval;
  samples: number;
  /** Whether the rate meets the budget; false when the guard stopped the solve first. */
  met: boolean;
  /** Validation accuracy and cost (fraction of the backbone's MACs) interpolated along the path. */
  expectedAccuracy: number;
  expectedCost: number;
}

export class NotEnoughSamples extends Error {}

/**
 * The most accurate thresholds on the policy's frontier path whose forward rate on `h` is at most
 * `maxForwardRate`, no lower on the path than `floor`.
 */
export function solveForwardRate(h: ScoreHistogram, points: readonly FrontierPoint[], o: SolveOptions): Solution {
  const minSamples = o.minSamples ?? 200;
  if (h.total < minSamples)
    throw new NotEnoughSamples(`${h.total} explored samples, at least ${minSamples} are needed to re-solve`);
  if (!points.length) throw new RangeError('no frontier points');
  const steps = o.steps ?? 20;
  const floor = Math.max(0, Math.min(points.length - 1, o.floor ?? 0));
  const at = (lambda: number) => {
    const t = pathThresholds(points, lambda);
    return o.thresholdFloors ? t.map((v, i) => Math.max(v, o.thresholdFloors![i] ?? 0)) : t;
  };
  let best: { lambda: number; forwarded: number } | null = null;
  let lowest: { lambda: number; forwarded: number } | null = null;
  for (let s = Math.ceil(floor * steps); s <= (points.length - 1) * steps; s++) {
    const lambda = s / steps;
    const forwarded = forwardedCount(h, at(lambda), o.split);
    if (!lowest || forwarded < lowest.forwarded) lowest = { lambda, forwarded };
    if (forwarded / h.total <= o.maxForwardRate) best = { lambda, forwarded };
  }
  // Refine between the chosen grid step and the next one (whose rate exceeded the budget): bisection.
  if (best) {
    let lo = best.lambda;
    let hi = Math.min(points.length - 1, best.lambda + 1 / steps);
    for (let i = 0; i < 16 && hi > lo; i++) {
      const mid = (lo + hi) / 2;
      const forwarded = forwardedCount(h, at(mid), o.split);
      if (forwarded / h.total <= o.maxForwardRate) {
        lo = mid;
        best = { lambda: mid, forwarded };
      } else hi = mid;
    }
  }
  const pick = best ?? lowest!;
  return {
    thresholds: at(pick.lambda),
    lambda: pick.lambda,
    forwardRate: pick.forwarded / h.total,
    interval: wilson(pick.forwarded, h.total, o.z ?? 1.96),
    samples: h.total,
    met: best !== null,
    expectedAccuracy: along(points, pick.lambda, (p) => p.accuracy),
    expectedCost: along(points, pick.lambda, (p) => p.cost),
  };
}

/** The default guard: the cheapest point certified on validation (0 when none is). */
export function certifiedFloor(points: readonly FrontierPoint[]): number {
  const i = points.findIndex((p) => p.certified);
  return Math.max(i, 0);
}
