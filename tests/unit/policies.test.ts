import { describe, expect, it } from 'vitest';
import { decideExit, exitScore } from '../../core/policies.js';
import {
  evaluatePolicy,
  exitAccuracy,
  frontier,
  oracle,
  type SplitOutputs,
  scores,
} from '../../training/calibrate/frontier.js';

/** Two classes, two exits; exit 0 is right on samples 0-1 only, exit 1 on 0-2, the final head on all. */
function outputs(): SplitOutputs {
  const L = (c: number) => (c === 0 ? [4, 0] : [0, 4]);
  const labels = [0, 1, 0, 1];
  const wrong = (l: number) => 1 - l;
  const e0 = [L(0), L(1), L(wrong(0)), L(wrong(1))].flat();
  const e1 = [L(0), L(1), L(0), L(wrong(1))].flat();
  return {
    count: 4,
    classes: 2,
    labels,
    exits: [
      { logits: Float32Array.from(e0), confidence: Float32Array.from([0.95, 0.9, 0.2, 0.1]) },
      { logits: Float32Array.from(e1), confidence: Float32Array.from([0.9, 0.9, 0.8, 0.3]) },
    ],
    finalLogits: Float32Array.from(labels.flatMap(L)),
  };
}
const costs = { exits: [0.2, 0.6], final: 1.1 };

describe('exit policies', () => {
  it('scores: confidence head, max softmax, normalised entropy', () => {
    expect(exitScore('confidence', [0, 0], 0.7)).toBe(0.7);
    expect(exitScore('max-softmax', [Math.log(3), 0], 0)).toBeCloseTo(0.75, 10);
    expect(exitScore('entropy', [0, 0], 0)).toBeCloseTo(0, 10);
    expect(exitScore('entropy', [50, 0], 0)).toBeCloseTo(1, 6);
  });

  it('the first exit reaching its threshold answers', () => {
    expect(decideExit([0.5, 0.95], [0.9, 0.9])).toBe(1);
    expect(decideExit([0.5, 0.5], [0.9, 0.9])).toBe(-1);
  });

  it('evaluates accuracy, cost and exit rates of a threshold vector', () => {
    const o = outputs();
    const r = evaluatePolicy(o, scores('confidence', o), [0.85, 0.75], costs, 'confidence');
    // samples 0,1 leave at exit 0 (right); 2 at exit 1 (right); 3 at the final head (right)
    expect(r.exitRates).toEqual([0.5, 0.25, 0.25]);
    expect(r.accuracy).toBe(1);
    expect(r.cost).toBeCloseTo((0.2 * 2 + 0.6 + 1.1) / 4, 10);
    expect(exitAccuracy(o, 0)).toBe(0.5);
    expect(exitAccuracy(o, -1)).toBe(1);
  });

  it('the frontier is Pareto-optimal: cost and accuracy both rise along it', () => {
    const f = frontier('confidence', outputs(), costs, outputs());
    expect(f.length).toBeGreaterThan(1);
    for (let i = 1; i < f.length; i++) {
      expect(f[i]!.cost).toBeGreaterThan(f[i - 1]!.cost);
      expect(f[i]!.accuracy).toBeGreaterThan(f[i - 1]!.accuracy);
    }
    expect(f[f.length - 1]!.accuracy).toBe(1);
    expect(f[0]!.test).toBeDefined();
  });

  it('the oracle leaves at the earliest correct exit', () => {
    const r = oracle(outputs(), costs);
    expect(r.exitRates).toEqual([0.5, 0.25, 0.25]);
    expect(r.accuracy).toBe(1);
  });
});
