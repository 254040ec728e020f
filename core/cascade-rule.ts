/**
 * The one cascade rule: score → decide → answer, for one sample at one exit. Calibration
 * (training/calibrate/frontier.ts), the edge (workers/edge/src/cascade/run-edge.ts) and the backend
 * (gpu-backend/src/batcher.ts) all call `stepExit`, so the exit a calibrated operating point predicts
 * is the exit serving takes (tests/unit/cascade-rule.test.ts runs the same inputs through all three).
 *
 * Scores (higher = more confident), one per policy:
 *   - `confidence`: the exit's learned confidence head (PTEENet), a sigmoid output;
 *   - `max-softmax`: the largest class probability (BranchyNet);
 *   - `entropy`: certainty 1 − H(softmax)/log K;
 *   - `eenet`: EENet's scheduler, a logistic score per exit over that exit's softmax statistics, its
 *     confidence head and the scores of the exits before it (see `schedulerFeatures`), fitted on
 *     validation outputs to predict "this exit is right". Each exit's function is also exported as
 *     `score_<i>.onnx` (training/calibrate/scheduler.ts), tested equal to this one.
 *
 * Decision: exit i answers when its score reaches threshold i and its logits are finite (a NaN score
 * never passes; non-finite logits never answer). Every score lives in [0, 1], so a threshold above 1
 * turns an exit off, and an exit that is off is not run at all (`exitRuns`): it costs nothing, which
 * makes "backbone only" (every exit off) an operating point costing exactly the backbone. Under
 * `eenet` an off exit still runs while a later exit is on, since the later scheduler reads its score. The state carried from exit to exit is the list of
 * earlier scores, which the edge forwards to the backend with the features.
 *
 * @example
 * const prev: number[] = [];
 * const r = stepExit(rule, 0, logits, confidence, prev); // { score, exit, classIndex }
 * prev.push(r.score);
 */
export const POLICIES = ['confidence', 'max-softmax', 'entropy', 'eenet'] as const;
export type Policy = (typeof POLICIES)[number];

/** Logistic weights of one exit's scheduler: `weights` pairs with `schedulerFeatures(…)` in order. */
export interface SchedulerExit {
  weights: number[];
  bias: number;
}

export interface CascadeRule {
  policy: Policy;
  /** One threshold per exit the rule may be asked about (exit index → threshold). */
  thresholds: ArrayLike<number>;
  /** Per exit, required for `eenet`. */
  scheduler?: readonly SchedulerExit[];
}

/** Names of the scheduler's inputs at exit i, in weight order. */
export function schedulerFeatureNames(i: number): string[] {
  return ['maxProb', 'certainty', 'confidence', ...Array.from({ length: i }, (_, j) => `score_${j}`)];
}

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** Largest class probability and certainty 1 − H/log K of one exit's logits. */
export function softmaxStats(logits: ArrayLike<number>): { maxProb: number; certainty: number } {
  const p = softmax(logits);
  let h = 0,
    m = 0;
  for (const v of p) {
    if (v > 0) h -= v * Math.log(v);
    if (v > m) m = v;
  }
  return { maxProb: m, certainty: 1 - h / Math.log(p.length) };
}

/** The scheduler's input vector at exit `prev.length`. */
export function schedulerFeatures(logits: ArrayLike<number>, confidence: number, prev: ArrayLike<number>): number[] {
  const s = softmaxStats(logits);
  return [s.maxProb, s.certainty, confidence, ...Array.from(prev)];
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function schedulerScore(
  s: SchedulerExit,
  logits: ArrayLike<number>,
  confidence: number,
  prev: ArrayLike<number>,
): number {
  const f = schedulerFeatures(logits, confidence, prev);
  if (f.length !== s.weights.length) throw new Error(`scheduler expects ${s.weights.length} inputs, got ${f.length}`);
  let z = s.bias;
  for (let k = 0; k < f.length; k++) z += s.weights[k]! * f[k]!;
  return sigmoid(z);
}

/** The policy's score for one sample at exit `i` (`prev`: the scores of exits 0 … i−1). */
export function exitScore(
  policy: Policy,
  logits: ArrayLike<number>,
  confidence: number,
  prev: ArrayLike<number> = [],
  scheduler?: readonly SchedulerExit[],
): number {
  switch (policy) {
    case 'confidence':
      return confidence;
    case 'max-softmax':
      return softmaxStats(logits).maxProb;
    case 'entropy':
      return softmaxStats(logits).certainty;
    case 'eenet': {
      const s = scheduler?.[prev.length];
      if (!s) throw new Error(`policy eenet needs a scheduler for exit ${prev.length}`);
      return schedulerScore(s, logits, confidence, prev);
    }
  }
}

export function finite(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return false;
  return true;
}

/** The threshold written for an exit that is off (JSON has no Infinity; anything above 1 is off). */
export const OFF = 1e9;

/** Is exit i on (its threshold can be reached)? A missing or above-1 threshold turns it off. */
export function exitOn(thresholds: ArrayLike<number>, i: number): boolean {
  const t = thresholds[i];
  return t !== undefined && t <= 1;
}

/**
 * Must exit i be run, among `exits` exits? When it is on, or, under `eenet`, when any later exit is
 * on (its scheduler reads every earlier score). Calibration's costs, the edge and the backend all
 * skip exactly the exits this says no to.
 */
export function exitRuns(rule: Pick<CascadeRule, 'policy' | 'thresholds'>, i: number, exits: number): boolean {
  if (rule.policy !== 'eenet') return exitOn(rule.thresholds, i);
  for (let j = i; j < exits; j++) if (exitOn(rule.thresholds, j)) return true;
  return false;
}

/** The decision itself: a score reaching its threshold answers, if the exit's logits are finite. */
export function passes(score: number, threshold: number | undefined, logitsFinite: boolean): boolean {
  return threshold !== undefined && score >= threshold && logitsFinite;
}

/** Every exit's score for one sample, in cascade order (what `stepExit` computes exit by exit). */
export function scoreChain(
  policy: Policy,
  exits: { logits: ArrayLike<number>; confidence: number }[],
  scheduler?: readonly SchedulerExit[],
): number[] {
  const out: number[] = [];
  for (const e of exits) out.push(exitScore(policy, e.logits, e.confidence, out, scheduler));
  return out;
}

/**
 * Scores exit `i` and decides. `prev` must hold the scores of exits 0 … i−1 under the same rule
 * (every policy's scores are carried; only `eenet` reads them).
 */
export function stepExit(
  rule: CascadeRule,
  i: number,
  logits: ArrayLike<number>,
  confidence: number,
  prev: ArrayLike<number>,
): { score: number; exit: boolean; classIndex: number } {
  if (prev.length !== i) throw new Error(`exit ${i} needs the ${i} earlier scores, got ${prev.length}`);
  const score = exitScore(rule.policy, logits, confidence, prev, rule.scheduler);
  const exit = passes(score, rule.thresholds[i], finite(logits));
  return { score, exit, classIndex: argmax(logits) };
}

/** The exit a sample leaves at, given every exit's outputs (−1 = the final head): the rule run to the end. */
export function decideSample(
  rule: CascadeRule,
  exits: { logits: ArrayLike<number>; confidence: number }[],
): { exit: number; scores: number[] } {
  const scores: number[] = [];
  for (let i = 0; i < exits.length; i++) {
    // An exit that is not run has no score (only non-eenet rules skip one that a later exit follows).
    if (!exitRuns(rule, i, exits.length)) {
      scores.push(NaN);
      continue;
    }
    const r = stepExit(rule, i, exits[i]!.logits, exits[i]!.confidence, scores);
    scores.push(r.score);
    if (r.exit) return { exit: i, scores };
  }
  return { exit: -1, scores };
}
