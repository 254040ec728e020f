/**
 * Calibration on the validation split: per-exit outputs → policy scores → an accuracy/cost frontier
 * per policy (per-exit threshold vectors; only Pareto-optimal points kept), evaluated again on
 * the test split so the manifest states what each operating point really achieves. The `oracle`
 * (earliest correct exit) is the unreachable bound, for reports only.
 *
 * @example
 * const f = frontier('confidence', valOutputs, costs);
 * f[0]; // { thresholds: [0.95, 0.9, 0.8], accuracy: 0.93, cost: 0.61, exitRates: [0.4, 0.1, 0.1, 0.4] }
 */
import {
  argmax,
  exitRuns,
  finite,
  OFF,
  type Policy,
  passes,
  type SchedulerExit,
  scoreChain,
} from '../../core/cascade-rule.js';
import type { Discordance } from './bound.js';

export interface SplitOutputs {
  count: number;
  classes: number;
  labels: ArrayLike<number>;
  /** Per exit: logits (count × classes) and confidence (count). */
  exits: { logits: Float32Array; confidence: Float32Array }[];
  finalLogits: Float32Array;
}

export interface Evaluation {
  accuracy: number;
  cost: number;
  exitRates: number[];
  /** Share of images where the cascade's answer equals the backbone's (measurable without labels). */
  fidelity: number;
  /** Correctness disagreements with the backbone (for the drop bound, ./bound.ts). */
  discordance: Discordance;
}

export interface FrontierPoint {
  thresholds: number[];
  accuracy: number;
  /** Expected MACs per sample as a fraction of the backbone's MACs (exit branches included). */
  cost: number;
  /** Fraction of samples answered by each exit, then the final head. */
  exitRates: number[];
  fidelity?: number;
  discordance?: Discordance;
  pValue?: number;
  certified?: boolean;
  test?: { accuracy: number; cost: number; exitRates: number[]; fidelity?: number };
}

/**
 * Cost of leaving at each exit and at the final head, in backbone-MAC fractions, with every exit
 * run; `branches` (each exit's own cost) lets an operating point's off exits cost nothing.
 */
export interface Costs {
  exits: number[];
  final: number;
  branches?: number[];
}

/** The costs of leaving at each exit and at the final head when only the exits the rule runs are run. */
export function costsFor(costs: Costs, policy: Policy, thresholds: number[]): { exits: number[]; final: number } {
  if (!costs.branches) return costs;
  const E = costs.exits.length;
  let saved = 0;
  const exits = costs.exits.map((c, i) => {
    if (!exitRuns({ policy, thresholds }, i, E)) saved += costs.branches![i]!;
    return c - saved;
  });
  return { exits, final: costs.final - saved };
}

/**
 * Every exit's score for every sample (exit-major), by the cascade rule's own scoring, chained so the
 * scheduler sees earlier scores exactly as serving computes them.
 */
export function scores(policy: Policy, out: SplitOutputs, scheduler?: readonly SchedulerExit[]): Float64Array[] {
  const E = out.exits.length,
    K = out.classes;
  const s = Array.from({ length: E }, () => new Float64Array(out.count));
  for (let n = 0; n < out.count; n++) {
    const chain = scoreChain(
      policy,
      out.exits.map((e) => ({ logits: e.logits.subarray(n * K, (n + 1) * K), confidence: e.confidence[n]! })),
      scheduler,
    );
    chain.forEach((v, i) => {
      s[i]![n] = v;
    });
  }
  return s;
}

export function exitAccuracy(out: SplitOutputs, exit: number): number {
  const logits = exit < 0 ? out.finalLogits : out.exits[exit]!.logits;
  let ok = 0;
  for (let n = 0; n < out.count; n++)
    if (argmax(logits.subarray(n * out.classes, (n + 1) * out.classes)) === out.labels[n]) ok++;
  return ok / out.count;
}

/** Per exit and sample: are the exit's logits finite (the rule's second condition). */
function finiteFlags(out: SplitOutputs): Uint8Array[] {
  const K = out.classes;
  return out.exits.map((e) =>
    Uint8Array.from({ length: out.count }, (_, n) => (finite(e.logits.subarray(n * K, (n + 1) * K)) ? 1 : 0)),
  );
}
const flagCache = new WeakMap<SplitOutputs, { flags: Uint8Array[]; pred: Int32Array[]; finalPred: Int32Array }>();
function prepared(out: SplitOutputs) {
  let p = flagCache.get(out);
  if (!p) {
    const K = out.classes;
    const am = (l: Float32Array) =>
      Int32Array.from({ length: out.count }, (_, n) => argmax(l.subarray(n * K, (n + 1) * K)));
    p = { flags: finiteFlags(out), pred: out.exits.map((e) => am(e.logits)), finalPred: am(out.finalLogits) };
    flagCache.set(out, p);
  }
  return p;
}

/** Accuracy, cost, exit distribution and fidelity of one threshold vector (decisions by the cascade rule). */
export function evaluatePolicy(
  out: SplitOutputs,
  s: Float64Array[],
  thresholds: number[],
  all: Costs,
  policy: Policy,
): Evaluation {
  const E = out.exits.length;
  const costs = costsFor(all, policy, thresholds);
  const { flags, pred, finalPred } = prepared(out);
  const counts = new Array<number>(E + 1).fill(0);
  let ok = 0,
    cost = 0,
    same = 0,
    n10 = 0,
    n01 = 0;
  for (let n = 0; n < out.count; n++) {
    let e = -1;
    for (let i = 0; i < E; i++)
      if (passes(s[i]![n]!, thresholds[i], flags[i]![n] === 1)) {
        e = i;
        break;
      }
    const c = e < 0 ? finalPred[n]! : pred[e]![n]!;
    const right = c === out.labels[n],
      backboneRight = finalPred[n] === out.labels[n];
    if (right) ok++;
    if (c === finalPred[n]) same++;
    if (backboneRight && !right) n10++;
    if (!backboneRight && right) n01++;
    cost += e < 0 ? costs.final : costs.exits[e]!;
    counts[e < 0 ? E : e]!++;
  }
  return {
    accuracy: ok / out.count,
    cost: cost / out.count,
    exitRates: counts.map((c) => c / out.count),
    fidelity: same / out.count,
    discordance: { n10, n01, total: out.count },
  };
}

/** Candidate thresholds of one score vector: its quantiles, highest first, after "never exit". */
function candidates(s: ArrayLike<number>, steps: number): number[] {
  const sorted = Float64Array.from(s).sort();
  const out = new Set<number>();
  for (let k = 0; k < steps; k++)
    out.add(sorted[Math.min(sorted.length - 1, Math.floor((k / steps) * sorted.length))]!);
  return [Infinity, ...[...out].sort((a, b) => b - a)];
}

/**
 * Operating points of one policy, calibrated on `val`: per-exit thresholds (EENet's point: exits
 * differ, so one shared threshold wastes the cheap ones). A greedy path starts at "never exit early"
 * and lowers, one quantile at a time, the threshold of the exit that saves the most cost per
 * accuracy lost (free or accuracy-raising moves first); the shared-threshold sweep is added too, and
 * only Pareto-optimal points are kept (cost and accuracy both rise along the list).
 */
export function frontier(
  policy: Policy,
  val: SplitOutputs,
  costs: Costs,
  test?: SplitOutputs,
  steps = 100,
  scheduler?: readonly SchedulerExit[],
): FrontierPoint[] {
  const sv = scores(policy, val, scheduler);
  const E = val.exits.length;
  const cands = sv.map((s) => candidates(s, steps));
  const at = (idx: number[]) => idx.map((k, i) => cands[i]![k]!);
  const points: FrontierPoint[] = [];
  // The path is walked with every exit's branch paid (lowering a threshold must save cost for the
  // greedy step to rank it); each point is then costed with its off exits skipped.
  const allRun: Costs = { exits: costs.exits, final: costs.final };
  const add = (thresholds: number[]) => {
    const r = { thresholds, ...evaluatePolicy(val, sv, thresholds, allRun, policy) };
    points.push(r);
    return r;
  };
  // Greedy per-exit path.
  const idx = new Array<number>(E).fill(0);
  let cur: FrontierPoint = add(at(idx));
  for (;;) {
    let best: { i: number; r: FrontierPoint; key: number } | undefined;
    for (let i = 0; i < E; i++) {
      if (idx[i]! + 1 >= cands[i]!.length) continue;
      const next = [...idx];
      next[i]!++;
      const thresholds = at(next);
      const r = { thresholds, ...evaluatePolicy(val, sv, thresholds, allRun, policy) };
      const saved = cur.cost - r.cost,
        lost = cur.accuracy - r.accuracy;
      // Lower is better: accuracy gained or nothing lost first, then accuracy lost per cost saved.
      const key = lost <= 0 ? -1e9 - saved - (lost < 0 ? 1e9 : 0) : saved <= 0 ? Infinity : lost / saved;
      if (!best || key < best.key) best = { i, r, key };
    }
    if (!best) break;
    idx[best.i]!++;
    points.push(best.r);
    cur = best.r;
  }
  // Shared-threshold sweep.
  const shared = candidates(Float64Array.from(sv.flatMap((a) => Array.from(a))), steps * 2);
  for (const t of shared) add(val.exits.map(() => t));
  // Every point costed as served, with its off exits skipped ("backbone only", every exit off,
  // is the path's first point); then Pareto: sort by cost, keep points that improve accuracy on
  // every cheaper point.
  if (costs.branches)
    points.forEach((p, i) => {
      points[i] = { thresholds: p.thresholds, ...evaluatePolicy(val, sv, p.thresholds, costs, policy) };
    });
  points.sort((a, b) => a.cost - b.cost || b.accuracy - a.accuracy);
  const kept: FrontierPoint[] = [];
  for (const p of points) if (!kept.length || p.accuracy > kept[kept.length - 1]!.accuracy) kept.push(p);
  const st = test ? scores(policy, test, scheduler) : undefined;
  if (test && st)
    for (const p of kept) {
      const r = evaluatePolicy(test, st, p.thresholds, costs, policy);
      p.test = { accuracy: r.accuracy, cost: r.cost, exitRates: r.exitRates, fidelity: r.fidelity };
    }
  return kept.map((p) => ({ ...p, thresholds: p.thresholds.map((t) => (Number.isFinite(t) ? t : OFF)) }));
}

/** Rank AUROC of `score` for separating `positive` from the rest (ties count one half). */
export function auroc(score: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const idx = Array.from({ length: score.length }, (_, i) => i).sort((a, b) => score[a]! - score[b]!);
  let rankSum = 0,
    pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]!] === score[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (positive[idx[k]!]) {
        rankSum += rank;
        pos++;
      }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (!pos || !neg) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Per exit: rank AUROC of the confidence head, max-softmax and (with a scheduler) the EENet score for "this exit is right". */
export function exitAurocs(
  o: SplitOutputs,
  scheduler?: readonly SchedulerExit[],
): { confidence: number; maxSoftmax: number; eenet?: number }[] {
  const K = o.classes;
  const ms = scores('max-softmax', o);
  const ee = scheduler ? scores('eenet', o, scheduler) : undefined;
  return o.exits.map((e, i) => {
    const right = Array.from(
      { length: o.count },
      (_, n) => argmax(e.logits.subarray(n * K, (n + 1) * K)) === o.labels[n],
    );
    return {
      confidence: auroc(e.confidence, right),
      maxSoftmax: auroc(ms[i]!, right),
      ...(ee ? { eenet: auroc(ee[i]!, right) } : {}),
    };
  });
}

/** The oracle: each sample leaves at the earliest exit that classifies it correctly. */
export function oracle(out: SplitOutputs, costs: Costs): { accuracy: number; cost: number; exitRates: number[] } {
  const E = out.exits.length;
  const counts = new Array<number>(E + 1).fill(0);
  let ok = 0,
    cost = 0;
  for (let n = 0; n < out.count; n++) {
    let e = -1;
    for (let i = 0; i < E && e < 0; i++)
      if (argmax(out.exits[i]!.logits.subarray(n * out.classes, (n + 1) * out.classes)) === out.labels[n]) e = i;
    const finalOk = argmax(out.finalLogits.subarray(n * out.classes, (n + 1) * out.classes)) === out.labels[n];
    if (e >= 0 || finalOk) ok++;
    cost += e < 0 ? costs.final : costs.exits[e]!;
    counts[e < 0 ? E : e]!++;
  }
  return { accuracy: ok / out.count, cost: cost / out.count, exitRates: counts.map((c) => c / out.count) };
}
