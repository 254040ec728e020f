/**
 * The edge half of the cascade, independent of HTTP and of the runtime: run segment i, then its
 * exit, decide; stop at the first confident exit (no wasted segments). If no exit up to the split
 * point is confident, hand back the features to forward (and the best edge answer so far, used if
 * the backend cannot answer).
 *
 * @example
 * const r = await runEdge(runner, manifest, x, { policy: 'confidence', thresholds: [0.9, 0.9, 0.9], split: 2 });
 * if (r.kind === 'answer') … else forward(r.features, r.resumeAt)
 */

import { argmax, exitRuns, type Policy, softmax, stepExit } from '../../../../core/cascade-rule.js';
import { type Manifest, ruleOf } from '../../../../core/manifest.js';

export interface EdgeRunner {
  segment(i: number, x: Float32Array): Promise<Float32Array>;
  exit(i: number, x: Float32Array): Promise<{ logits: Float32Array; confidence: number }>;
}

export interface Answer {
  exit: number;
  classIndex: number;
  confidence: number;
}

export type EdgeResult =
  | { kind: 'answer'; answer: Answer; segmentsRun: number }
  | {
      kind: 'forward';
      features: Float32Array;
      featureShape: number[];
      resumeAt: number;
      best: Answer | null;
      segmentsRun: number;
      scores: number[];
    };

export async function runEdge(
  runner: EdgeRunner,
  m: Manifest,
  input: Float32Array,
  s: { policy: Policy; thresholds: number[]; split: number },
): Promise<EdgeResult> {
  let x = input;
  let best: Answer | null = null;
  const rule = ruleOf(m, s.policy, s.thresholds);
  const scores: number[] = [];
  for (let i = 0; i < s.split; i++) {
    x = await runner.segment(i, x);
    if (i === m.segments.length - 1) {
      // The whole backbone ran at the edge: the final head answers.
      const p = softmax(x);
      const k = argmax(p);
      return { kind: 'answer', answer: { exit: m.exits.length, classIndex: k, confidence: p[k]! }, segmentsRun: i + 1 };
    }
    // An exit that is off is not run (core/cascade-rule.ts): its branch costs nothing, and it has no score.
    if (!exitRuns(rule, i, m.exits.length)) {
      scores.push(NaN);
      continue;
    }
    const e = await runner.exit(i, x);
    const r = stepExit(rule, i, e.logits, e.confidence, scores);
    scores.push(r.score);
    const answer = { exit: i, classIndex: argmax(e.logits), confidence: r.score };
    if (r.exit) return { kind: 'answer', answer, segmentsRun: i + 1 };
    if (!best || r.score > best.confidence) best = answer;
  }
  const out = m.segments[s.split - 1]!;
  return {
    kind: 'forward',
    features: x,
    featureShape: [1, ...out.outputShape],
    resumeAt: s.split,
    best,
    segmentsRun: s.split,
    scores,
  };
}

/**
 * Every edge exit's score for one input, as if no exit answered: segments 0 … split − 1 and their
 * exits all run (thresholds play no part in a score; under `eenet` each exit's scheduler reads the
 * scores before it). For the controller's explored inputs (core/live-solve.ts), run after the
 * answer. Stops before the final head when the split covers the whole backbone.
 */
export async function scoreEdgeExits(
  runner: EdgeRunner,
  m: Manifest,
  input: Float32Array,
  policy: Policy,
  split: number,
): Promise<number[]> {
  const n = Math.min(split, m.exits.length);
  const rule = ruleOf(m, policy, new Array<number>(m.exits.length).fill(0.5));
  const scores: number[] = [];
  let x = input;
  for (let i = 0; i < n; i++) {
    x = await runner.segment(i, x);
    const e = await runner.exit(i, x);
    scores.push(stepExit(rule, i, e.logits, e.confidence, scores).score);
  }
  return scores;
}
