/**
 * EENet's scheduler (training/calibrate/scheduler.ts): the logistic fit, the per-exit fit in cascade
 * order, and the exported `score_<i>.onnx` graphs equal to the cascade rule's `schedulerScore`.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type SchedulerExit, schedulerScore, sigmoid } from '../../core/cascade-rule.js';
import { mulberry32 } from '../../core/random.js';
import type { SplitOutputs } from '../../training/calibrate/frontier.js';
import {
  exportSchedulerOnnx,
  fitLogistic,
  fitScheduler,
  SCORE_INPUTS,
  SCORE_OUTPUT,
} from '../../training/calibrate/scheduler.js';

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Samples from a logistic model with known weights. */
function logisticData(w: number[], b: number, n: number, seed: number): { X: number[][]; y: number[] } {
  const rand = mulberry32(seed),
    g = gaussian(rand);
  const X: number[][] = [],
    y: number[] = [];
  for (let k = 0; k < n; k++) {
    const x = w.map(() => g());
    X.push(x);
    y.push(rand() < sigmoid(b + x.reduce((a, v, j) => a + v * w[j]!, 0)) ? 1 : 0);
  }
  return { X, y };
}

/** Three exits, K classes; later exits are right more often, and their confidence is informative. */
function splitOutputs(count: number, K: number, seed: number): SplitOutputs {
  const rand = mulberry32(seed),
    g = gaussian(rand);
  const labels = Uint8Array.from({ length: count }, () => Math.floor(rand() * K));
  const exits = [0.5, 1.0, 1.6].map((strength) => {
    const logits = new Float32Array(count * K),
      confidence = new Float32Array(count);
    for (let n = 0; n < count; n++) {
      for (let c = 0; c < K; c++) logits[n * K + c] = g() + (c === labels[n] ? strength * (1 + rand()) : 0);
      confidence[n] = sigmoid(logits[n * K + labels[n]!]! - 1 + 0.5 * g());
    }
    return { logits, confidence };
  });
  const finalLogits = Float32Array.from(
    { length: count * K },
    (_, i) => g() + (i % K === labels[Math.floor(i / K)] ? 4 : 0),
  );
  return { count, classes: K, labels, exits, finalLogits };
}

describe('fitLogistic', () => {
  it('recovers known weights (signs and rough magnitude)', () => {
    const w = [2, -1, 0.5],
      b = 0.5;
    const { X, y } = logisticData(w, b, 4000, 11);
    const fit = fitLogistic(X, y, 1e-3);
    expect(fit.weights).toHaveLength(3);
    fit.weights.forEach((v, j) => {
      expect(Math.sign(v)).toBe(Math.sign(w[j]!));
      expect(Math.abs(v - w[j]!)).toBeLessThan(0.25);
    });
    expect(Math.abs(fit.bias - b)).toBeLessThan(0.25);
  });

  it('L2 keeps the weights finite on separable data and shrinks them as it grows', () => {
    // y = [x0 > 0.3]: perfectly separable, the unregularised optimum is at infinity.
    const rand = mulberry32(3);
    const X = Array.from({ length: 500 }, () => [rand() * 2 - 1, rand() * 2 - 1]);
    const y = X.map((x) => (x[0]! > 0.3 ? 1 : 0));
    const weak = fitLogistic(X, y, 0.1),
      strong = fitLogistic(X, y, 100);
    for (const f of [weak, strong]) {
      expect(f.weights.every(Number.isFinite) && Number.isFinite(f.bias)).toBe(true);
      expect(f.weights[0]!).toBeGreaterThan(0);
      expect(Math.abs(f.weights[0]!)).toBeGreaterThan(Math.abs(f.weights[1]!));
      expect(f.bias).toBeLessThan(0); // the boundary sits at x0 = 0.3 > 0
    }
    expect(Math.abs(strong.weights[0]!)).toBeLessThan(Math.abs(weak.weights[0]!));
    // The decision boundary −b/w0 is near 0.3 with little regularisation.
    expect(Math.abs(-weak.bias / weak.weights[0]! - 0.3)).toBeLessThan(0.1);
  });
});

describe('fitScheduler', () => {
  it('fits one scheduler per exit with 3 + i weights that rank right answers above wrong ones', () => {
    const val = splitOutputs(1500, 5, 21);
    const sched = fitScheduler(val);
    expect(sched).toHaveLength(3);
    sched.forEach((s, i) => {
      expect(s.weights).toHaveLength(3 + i);
      expect(s.weights.every(Number.isFinite) && Number.isFinite(s.bias)).toBe(true);
    });
    // Each exit's chained score is, on average, higher on the samples that exit gets right.
    const K = val.classes;
    const prev: number[][] = Array.from({ length: val.count }, () => []);
    sched.forEach((s, i) => {
      const e = val.exits[i]!;
      let sr = 0,
        nr = 0,
        sw = 0,
        nw = 0;
      for (let n = 0; n < val.count; n++) {
        const z = e.logits.subarray(n * K, (n + 1) * K);
        const v = schedulerScore(s, z, e.confidence[n]!, prev[n]!);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        prev[n]!.push(v);
        let am = 0;
        for (let c = 1; c < K; c++) if (z[c]! > z[am]!) am = c;
        if (am === val.labels[n]) {
          sr += v;
          nr++;
        } else {
          sw += v;
          nw++;
        }
      }
      expect(nr).toBeGreaterThan(50);
      expect(nw).toBeGreaterThan(50);
      expect(sr / nr).toBeGreaterThan(sw / nw + 0.1);
    });
  });
});

describe('exportSchedulerOnnx', () => {
  async function runScore(
    bytes: Uint8Array,
    logits: Float32Array,
    confidence: Float32Array,
    previous: Float32Array | null,
    N: number,
    K: number,
    i: number,
  ): Promise<Float32Array> {
    const s = await ort.InferenceSession.create(bytes);
    try {
      expect([...s.inputNames].sort()).toEqual(
        [SCORE_INPUTS.confidence, SCORE_INPUTS.logits, ...(i > 0 ? [SCORE_INPUTS.previous] : [])].sort(),
      );
      expect(s.outputNames).toEqual([SCORE_OUTPUT]);
      const feeds: Record<string, ort.Tensor> = {
        [SCORE_INPUTS.logits]: new ort.Tensor('float32', logits, [N, K]),
        [SCORE_INPUTS.confidence]: new ort.Tensor('float32', confidence, [N, 1]),
      };
      if (previous) feeds[SCORE_INPUTS.previous] = new ort.Tensor('float32', previous, [N, i]);
      const out = await s.run(feeds);
      expect(out[SCORE_OUTPUT]!.dims).toEqual([N, 1]);
      return out[SCORE_OUTPUT]!.data as Float32Array;
    } finally {
      await s.release();
    }
  }

  it.each([0, 1, 2])('score_%i.onnx equals schedulerScore (random and extreme logits)', async (i) => {
    const K = 10,
      rand = mulberry32(100 + i),
      g = gaussian(rand);
    // Weights large enough that every input matters, as f32 (the graph stores f32).
    const s: SchedulerExit = {
      weights: Array.from({ length: 3 + i }, () => Math.fround(g() * 3)),
      bias: Math.fround(g()),
    };
    const rows: number[][] = [];
    for (let n = 0; n < 64; n++) rows.push(Array.from({ length: K }, () => g() * (n % 4 === 0 ? 8 : 2)));
    // Extreme and degenerate rows: ±30, one-hot at 30, all equal, a single huge gap.
    rows.push(Array.from({ length: K }, (_, c) => (c % 2 ? 30 : -30)));
    rows.push(Array.from({ length: K }, (_, c) => (c === 3 ? 30 : 0)));
    rows.push(Array.from({ length: K }, (_, c) => (c === 0 ? -30 : 30)));
    rows.push(new Array<number>(K).fill(0));
    rows.push(new Array<number>(K).fill(-30));
    rows.push(Array.from({ length: K }, (_, c) => (c === 7 ? 30 : -30)));
    const N = rows.length;
    const logits = Float32Array.from(rows.flat());
    const confidence = Float32Array.from({ length: N }, (_, n) => (n % 7 === 0 ? (n % 2 ? 1 : 0) : rand()));
    const previous = i > 0 ? Float32Array.from({ length: N * i }, (_, k) => (k % 11 === 0 ? 1 : rand())) : null;
    const got = await runScore(exportSchedulerOnnx(s, i, K), logits, confidence, previous, N, K, i);
    let worst = 0;
    for (let n = 0; n < N; n++) {
      const want = schedulerScore(
        s,
        logits.subarray(n * K, (n + 1) * K),
        confidence[n]!,
        previous ? previous.subarray(n * i, (n + 1) * i) : [],
      );
      expect(Number.isFinite(got[n]!)).toBe(true);
      worst = Math.max(worst, Math.abs(got[n]! - want));
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('scores a fitted scheduler identically, and refuses a weight count that does not match the exit', async () => {
    const val = splitOutputs(600, 4, 5);
    const sched = fitScheduler(val);
    const K = 4,
      N = val.count;
    const prev: number[][] = Array.from({ length: N }, () => []);
    for (let i = 0; i < sched.length; i++) {
      const e = val.exits[i]!;
      const previous = i > 0 ? Float32Array.from(prev.flatMap((p) => p.map(Math.fround))) : null;
      const got = await runScore(exportSchedulerOnnx(sched[i]!, i, K), e.logits, e.confidence, previous, N, K, i);
      let worst = 0;
      for (let n = 0; n < N; n++) {
        // The graph sees f32 previous scores; compare on the same inputs.
        const want = schedulerScore(
          sched[i]!,
          e.logits.subarray(n * K, (n + 1) * K),
          e.confidence[n]!,
          prev[n]!.map(Math.fround),
        );
        worst = Math.max(worst, Math.abs(got[n]! - want));
        prev[n]!.push(schedulerScore(sched[i]!, e.logits.subarray(n * K, (n + 1) * K), e.confidence[n]!, prev[n]!));
      }
      expect(worst).toBeLessThan(1e-5);
    }
    expect(() => exportSchedulerOnnx({ weights: [1, 2, 3], bias: 0 }, 1, K)).toThrow(/weights/);
    expect(() => exportSchedulerOnnx({ weights: [1, 2, 3, 4], bias: 0 }, 0, K)).toThrow(/weights/);
  });
});
