/**
 * EENet's scheduler (Ilhan et al. 2024), as the `eenet` policy: per exit a logistic score over that
 * exit's softmax statistics, its confidence head and the scores of the exits before it
 * (core/cascade-rule.ts `schedulerFeatures`), fitted exit by exit on validation outputs to predict
 * "this exit is right". Exit i's inputs include the fitted scores of exits 0 … i−1, so exits are
 * fitted in order. L2-regularised logistic regression by Newton's method (a handful of weights per
 * exit; 5,000 validation images).
 *
 * Each exit's function is exported as `score_<i>.onnx` (inputs `logits` [N, K], `confidence`
 * [N, 1] and, from exit 1 on, `previous` [N, i]; output `score` [N, 1]), the same function the
 * cascade rule computes in JS (tests/unit/scheduler.test.ts compares them).
 *
 * @example
 * const sched = fitScheduler(valOutputs);        // SchedulerExit[]
 * writeFileSync('score_0.onnx', exportSchedulerOnnx(sched[0], 0, 10));
 */
import {
  argmax,
  type SchedulerExit,
  schedulerFeatureNames,
  schedulerFeatures,
  schedulerScore,
} from '../../core/cascade-rule.js';
import { softmaxStatsOnnx } from '../branches/export.js';
import { floatTensor, makeModel, type Node, node, valueInfo, writeOnnx } from '../onnx/proto.js';
import type { SplitOutputs } from './frontier.js';

export const SCORE_INPUTS = { logits: 'logits', confidence: 'confidence', previous: 'previous' } as const;
export const SCORE_OUTPUT = 'score';

/** Solves the small dense system A x = b (Gaussian elimination with partial pivoting). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const d = M[c]![c]!;
    if (Math.abs(d) < 1e-12) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / d;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  return M.map((row, i) => (Math.abs(row[i]!) < 1e-12 ? 0 : row[n]! / row[i]!));
}

/**
 * L2-regularised logistic regression (bias unpenalised) by Newton's method: minimises
 * Σ BCE(σ(w·x + b), y) + (l2/2)·|w|².
 */
export function fitLogistic(X: number[][], y: ArrayLike<number>, l2 = 1, iterations = 30): SchedulerExit {
  const d = X[0]?.length ?? 0;
  let w = new Array<number>(d + 1).fill(0); // last = bias
  for (let it = 0; it < iterations; it++) {
    const g = new Array<number>(d + 1).fill(0);
    const H = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    for (let n = 0; n < X.length; n++) {
      const x = [...X[n]!, 1];
      let z = 0;
      for (let k = 0; k <= d; k++) z += w[k]! * x[k]!;
      const p = 1 / (1 + Math.exp(-z));
      const r = p - y[n]!,
        s = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a <= d; a++) {
        g[a]! += r * x[a]!;
        for (let b = 0; b <= d; b++) H[a]![b]! += s * x[a]! * x[b]!;
      }
    }
    for (let a = 0; a < d; a++) {
      g[a]! += l2 * w[a]!;
      H[a]![a]! += l2;
    }
    const step = solve(H, g);
    w = w.map((v, k) => v - step[k]!);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { weights: w.slice(0, d), bias: w[d]! };
}

/** Fits every exit's scheduler in cascade order on `val` (targets: that exit's correctness). */
export function fitScheduler(val: SplitOutputs, l2 = 1): SchedulerExit[] {
  const K = val.classes;
  const out: SchedulerExit[] = [];
  const prev: number[][] = Array.from({ length: val.count }, () => []);
  for (let i = 0; i < val.exits.length; i++) {
    const e = val.exits[i]!;
    const X: number[][] = [],
      y: number[] = [];
    for (let n = 0; n < val.count; n++) {
      const z = e.logits.subarray(n * K, (n + 1) * K);
      X.push(schedulerFeatures(z, e.confidence[n]!, prev[n]!));
      y.push(argmax(z) === val.labels[n] ? 1 : 0);
    }
    const s = fitLogistic(X, y, l2);
    out.push(s);
    for (let n = 0; n < val.count; n++)
      prev[n]!.push(schedulerScore(s, e.logits.subarray(n * K, (n + 1) * K), e.confidence[n]!, prev[n]!));
  }
  return out;
}

/** Exit `i`'s scheduler as a standalone ONNX graph (see the module comment for its signature). */
export function exportSchedulerOnnx(s: SchedulerExit, i: number, classes: number): Uint8Array {
  const names = schedulerFeatureNames(i);
  if (names.length !== s.weights.length)
    throw new Error(`scheduler ${i} has ${s.weights.length} weights for ${names.length} inputs`);
  const stats = softmaxStatsOnnx(SCORE_INPUTS.logits, classes);
  const nodes: Node[] = [
    ...stats.nodes,
    node(
      'Concat',
      [stats.maxP, stats.certainty, SCORE_INPUTS.confidence, ...(i > 0 ? [SCORE_INPUTS.previous] : [])],
      ['features'],
      { axis: 1 },
    ),
    node('Gemm', ['features', 'W', 'B'], ['z']),
    node('Sigmoid', ['z'], [SCORE_OUTPUT]),
  ];
  const initializer = [
    ...stats.initializers,
    floatTensor('W', [names.length, 1], Float32Array.from(s.weights)),
    floatTensor('B', [1], Float32Array.of(s.bias)),
  ];
  return writeOnnx(
    makeModel({
      name: `score_${i}`,
      node: nodes,
      initializer,
      input: [
        valueInfo(SCORE_INPUTS.logits, ['N', classes]),
        valueInfo(SCORE_INPUTS.confidence, ['N', 1]),
        ...(i > 0 ? [valueInfo(SCORE_INPUTS.previous, ['N', i])] : []),
      ],
      output: [valueInfo(SCORE_OUTPUT, ['N', 1])],
    }),
  );
}
