/**
 * The one cascade rule (core/cascade-rule.ts): hand-made cases for every policy's score and the
 * decision, then AGREEMENT: the same per-exit outputs, run through calibration
 * (training/calibrate/frontier.ts), the edge (workers/edge/src/cascade/run-edge.ts) and the backend
 * (gpu-backend/src/batcher.ts, resumed after an edge forward), leave every sample at the same exit
 * with the same class, for every policy (eenet included) and several threshold vectors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  argmax,
  type CascadeRule,
  decideSample,
  exitRuns,
  exitScore,
  finite,
  POLICIES,
  type Policy,
  passes,
  type SchedulerExit,
  schedulerFeatureNames,
  schedulerFeatures,
  schedulerScore,
  scoreChain,
  sigmoid,
  softmax,
  softmaxStats,
  stepExit,
} from '../../core/cascade-rule.js';
import { type Manifest, ManifestError, parseManifest, ruleOf } from '../../core/manifest.js';
import { decideExit } from '../../core/policies.js';
import { mulberry32 } from '../../core/random.js';
import { Batcher, type ResumeRequest, type ResumeResult } from '../../gpu-backend/src/batcher.js';
import type { Executor } from '../../gpu-backend/src/executors/executor.js';
import { evaluatePolicy, type SplitOutputs, scores } from '../../training/calibrate/frontier.js';
import { type EdgeRunner, runEdge } from '../../workers/edge/src/cascade/run-edge.js';

const SHA = 'a'.repeat(64);

// ---------------------------------------------------------------------------------------------
// (a) Hand-made cases
// ---------------------------------------------------------------------------------------------

describe('cascade rule: scores', () => {
  it("confidence: the head's output as is", () => {
    expect(exitScore('confidence', [0, 0, 9], 0.7)).toBe(0.7);
    expect(exitScore('confidence', [5, 0], 0)).toBe(0);
  });

  it('max-softmax: the largest class probability', () => {
    expect(exitScore('max-softmax', [Math.log(3), 0], 0)).toBeCloseTo(0.75, 12);
    expect(exitScore('max-softmax', [0, 0, 0, 0], 0.9)).toBeCloseTo(0.25, 12);
    // Shifting every logit changes nothing; huge logits stay finite.
    expect(exitScore('max-softmax', [1000 + Math.log(3), 1000], 0)).toBeCloseTo(0.75, 12);
  });

  it('entropy: certainty 1 − H/log K', () => {
    expect(exitScore('entropy', [0, 0, 0], 0)).toBeCloseTo(0, 12);
    const h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    expect(exitScore('entropy', [Math.log(3), 0], 0)).toBeCloseTo(1 - h / Math.log(2), 12);
    expect(exitScore('entropy', [60, 0, 0, 0], 0)).toBeCloseTo(1, 12);
    expect(softmaxStats([Math.log(3), 0])).toEqual({
      maxProb: expect.closeTo(0.75, 12),
      certainty: expect.closeTo(1 - h / Math.log(2), 12),
    });
  });

  it('eenet: σ(w · [maxProb, certainty, confidence, earlier scores] + b), per exit', () => {
    const sched: SchedulerExit[] = [
      { weights: [1, 2, 3], bias: -1 },
      { weights: [1, 0, 0, 2], bias: 0 },
    ];
    // Exit 0, logits [0, 0]: maxProb 0.5, certainty 0, confidence 0.4 → z = 0.5 + 1.2 − 1.
    expect(exitScore('eenet', [0, 0], 0.4, [], sched)).toBeCloseTo(1 / (1 + Math.exp(-0.7)), 12);
    // Exit 1 (prev has one score): z = 0.75 + 2 · 0.25.
    expect(exitScore('eenet', [Math.log(3), 0], 0.9, [0.25], sched)).toBeCloseTo(1 / (1 + Math.exp(-1.25)), 12);
    expect(schedulerFeatures([Math.log(3), 0], 0.9, [0.25, 0.5])).toEqual([
      expect.closeTo(0.75, 12),
      expect.any(Number),
      0.9,
      0.25,
      0.5,
    ]);
    expect(schedulerFeatureNames(2)).toEqual(['maxProb', 'certainty', 'confidence', 'score_0', 'score_1']);
    expect(
      scoreChain(
        'eenet',
        [
          { logits: [0, 0], confidence: 0.4 },
          { logits: [Math.log(3), 0], confidence: 0.9 },
        ],
        sched,
      ),
    ).toEqual([expect.closeTo(1 / (1 + Math.exp(-0.7)), 12), expect.closeTo(sigmoid(0.75 + 2 * sigmoid(0.7)), 12)]);
  });

  it('eenet without a scheduler (or with the wrong number of weights) throws', () => {
    expect(() => exitScore('eenet', [0, 1], 0.5)).toThrow(/scheduler/);
    expect(() => exitScore('eenet', [0, 1], 0.5, [0.3], [{ weights: [1, 1, 1], bias: 0 }])).toThrow(
      /scheduler for exit 1/,
    );
    expect(() => schedulerScore({ weights: [1, 1, 1], bias: 0 }, [0, 1], 0.5, [0.3])).toThrow(
      /expects 3 inputs, got 4/,
    );
    expect(() => stepExit({ policy: 'eenet', thresholds: [0.5] }, 0, [0, 1], 0.5, [])).toThrow(/scheduler/);
    // Other policies ignore a missing scheduler and earlier scores.
    expect(exitScore('confidence', [0, 1], 0.5, [0.1, 0.2])).toBe(0.5);
  });

  it('sigmoid and softmax are stable at extremes', () => {
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(0)).toBe(0.5);
    expect(Array.from(softmax([1000, 0]))).toEqual([1, 0]);
    expect(Array.from(softmax([-1000, -1000]))).toEqual([0.5, 0.5]);
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });
});

describe('cascade rule: decision', () => {
  const rule: CascadeRule = { policy: 'confidence', thresholds: [0.9, 0.5] };

  it('a score reaching its threshold exits (≥, not >); below it goes deeper', () => {
    expect(stepExit(rule, 0, [0, 2, 1], 0.9, [])).toEqual({ score: 0.9, exit: true, classIndex: 1 });
    expect(stepExit(rule, 0, [0, 2, 1], 0.8999, []).exit).toBe(false);
    expect(stepExit(rule, 1, [3, 2, 1], 0.5, [0.1])).toEqual({ score: 0.5, exit: true, classIndex: 0 });
    // No threshold for an exit: never answers there.
    expect(stepExit(rule, 2, [3, 2, 1], 1, [0.1, 0.2]).exit).toBe(false);
    expect(passes(1, undefined, true)).toBe(false);
  });

  it('a NaN score never passes, not even against −∞', () => {
    expect(passes(NaN, -Infinity, true)).toBe(false);
    expect(stepExit({ policy: 'confidence', thresholds: [-Infinity] }, 0, [0, 1], NaN, []).exit).toBe(false);
    // A NaN earlier score makes the eenet score NaN.
    const sched = [
      { weights: [1, 1, 1], bias: 0 },
      { weights: [1, 1, 1, 1], bias: 0 },
    ];
    const r = stepExit({ policy: 'eenet', thresholds: [0, 0], scheduler: sched }, 1, [0, 1], 0.5, [NaN]);
    expect(r.score).toBeNaN();
    expect(r.exit).toBe(false);
  });

  it('non-finite logits never answer, whatever the score', () => {
    const low: CascadeRule = { policy: 'confidence', thresholds: [0] };
    expect(stepExit(low, 0, [NaN, 1], 0.99, []).exit).toBe(false);
    expect(stepExit(low, 0, [Infinity, 1], 0.99, []).exit).toBe(false);
    // −∞ leaves softmax finite (max-softmax scores 1) but the logits are still not finite.
    const ms = stepExit({ policy: 'max-softmax', thresholds: [0.5] }, 0, [-Infinity, 5], 0, []);
    expect(ms.score).toBe(1);
    expect(ms.exit).toBe(false);
    expect(finite([0, -Infinity])).toBe(false);
    expect(finite(Float32Array.of(1, 2))).toBe(true);
    expect(passes(1, 0.5, false)).toBe(false);
  });

  it("prev must hold exactly the earlier exits' scores", () => {
    expect(() => stepExit(rule, 1, [0, 1], 0.5, [])).toThrow(/exit 1 needs the 1 earlier scores, got 0/);
    expect(() => stepExit(rule, 0, [0, 1], 0.5, [0.2])).toThrow(/earlier scores/);
    expect(() => stepExit(rule, 1, [0, 1], 0.5, [0.2, 0.3])).toThrow(/earlier scores/);
  });

  it('decideSample: the first exit that passes, with the scores computed so far; −1 = final head', () => {
    const exits = [
      { logits: [0, 1], confidence: 0.3 },
      { logits: [1, 0], confidence: 0.95 },
      { logits: [1, 0], confidence: 0.99 },
    ];
    expect(decideSample({ policy: 'confidence', thresholds: [0.9, 0.9, 0.9] }, exits)).toEqual({
      exit: 1,
      scores: [0.3, 0.95],
    });
    expect(decideSample({ policy: 'confidence', thresholds: [0.99, 0.99, 1] }, exits)).toEqual({
      exit: -1,
      scores: [0.3, 0.95, 0.99],
    });
    expect(decideExit([0.3, 0.95, 0.99], [0.9, 0.9, 0.9])).toBe(1);
    expect(decideExit([0.3, 0.95, 0.99], [0.9, 0.9, 0.9], [true, false, true])).toBe(2);
    expect(decideExit([NaN, NaN], [0, 0])).toBe(-1);
  });

  it('ruleOf: the scheduler comes from the manifest, for eenet only', () => {
    const m = syntheticManifest();
    const r = ruleOf(m, 'eenet', [0.5, 0.5, 0.5]);
    expect(r.scheduler).toEqual(SCHEDULER);
    expect(ruleOf(m, 'entropy', [0.5]).scheduler).toBeUndefined();
    const bare = structuredClone(m);
    for (const e of bare.exits) delete e.scheduler;
    expect(() => ruleOf(bare, 'eenet', [0.5, 0.5, 0.5])).toThrow(ManifestError);
    expect(ruleOf(bare, 'confidence', [0.5, 0.5, 0.5]).policy).toBe('confidence');
    // The schema refuses an eenet bundle whose scheduler has the wrong width.
    const json = manifestJson();
    (json.exits as { scheduler: { weights: number[] } }[])[1]!.scheduler.weights.push(0);
    expect(() => parseManifest(json)).toThrow(/exits\.1\.scheduler\.weights/);
  });
});

// ---------------------------------------------------------------------------------------------
// (b) Agreement across calibration, edge and backend
// ---------------------------------------------------------------------------------------------

const K = 4;
const E = 3;
/** Per-sample shapes: segment i reads SHAPES[i] and writes SHAPES[i + 1] (the last is the final head's logits). */
const SHAPES = [[1, 2, 2], [3, 1, 1], [2, 1, 2], [4, 1, 1], [K]];
/** Hand-picked scheduler, every input weighted so the earlier scores matter. */
const SCHEDULER: SchedulerExit[] = [
  { weights: [3, 2, 2], bias: -4 },
  { weights: [2, 1, 1.5, -3], bias: -0.5 },
  { weights: [1.5, 1, 1, 2, -2.5], bias: -1 },
];
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

function manifestJson(): Record<string, unknown> {
  const names = ['input', 'cut0', 'cut1', 'cut2', 'logits'];
  const acc = { val: 0.8, test: 0.8 };
  return {
    schemaVersion: 1,
    name: 'synthetic',
    createdAt: '2025-01-01T00:00:00Z',
    input: {
      name: 'input',
      shape: SHAPES[0],
      layout: 'NCHW',
      dtype: 'float32',
      normalisation: { mean: [0], std: [1] },
    },
    classes: ['a', 'b', 'c', 'd'],
    backbone: { file: 'backbone.onnx', sha256: SHA, macs: 1000, params: 10, output: 'logits', accuracy: acc },
    segments: [0, 1, 2, 3].map((i) => ({
      index: i,
      file: `segment_${i}.onnx`,
      sha256: SHA,
      input: names[i],
      output: names[i + 1],
      inputShape: SHAPES[i],
      outputShape: SHAPES[i + 1],
      macs: 250,
      params: 1,
      outputBytes: 4 * prod(SHAPES[i + 1]!),
    })),
    exits: [0, 1, 2].map((i) => ({
      index: i,
      segment: i,
      file: `exit_${i}.onnx`,
      sha256: SHA,
      input: names[i + 1],
      inputName: 'features',
      inputShape: SHAPES[i + 1],
      outputs: { logits: 'logits', confidence: 'confidence' },
      macs: 10,
      params: 1,
      costFraction: 0.25 * (i + 1) + 0.01 * (i + 1),
      backboneFraction: 0.25 * (i + 1),
      accuracy: acc,
      defaultThreshold: 0.9,
      scheduler: {
        file: `score_${i}.onnx`,
        sha256: SHA,
        inputs: schedulerFeatureNames(i),
        weights: [...SCHEDULER[i]!.weights],
        bias: SCHEDULER[i]!.bias,
      },
    })),
    final: { costFraction: 1.03, accuracy: acc },
    policies: {
      default: 'eenet',
      frontier: {
        eenet: [{ thresholds: [0.9, 0.9, 0.9], accuracy: 0.8, cost: 0.5, exitRates: [0.25, 0.25, 0.25, 0.25] }],
      },
      oracle: {
        val: { accuracy: 0.9, cost: 0.4, exitRates: [0.25, 0.25, 0.25, 0.25] },
        test: { accuracy: 0.9, cost: 0.4, exitRates: [0.25, 0.25, 0.25, 0.25] },
      },
      atDefault: { accuracy: 0.8, cost: 0.5, exitRates: [0.25, 0.25, 0.25, 0.25] },
    },
    provenance: {
      dataset: 'synthetic',
      split: 'none',
      counts: { train: 0, val: 0, test: 0 },
      seed: 1,
      config: {},
      backboneSha256: SHA,
      exitTraining: { seconds: 0, samplesPerSec: 0, tfBackend: 'none' },
      tools: {},
    },
  };
}

function syntheticManifest(): Manifest {
  return parseManifest(manifestJson());
}

interface Sample {
  label: number;
  exits: { logits: Float32Array; confidence: number }[];
  final: Float32Array;
}

/** Seeded per-exit outputs; later exits are better. A few samples carry non-finite logits or a NaN confidence. */
function samples(count: number, seed: number): Sample[] {
  const rand = mulberry32(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const out: Sample[] = [];
  for (let n = 0; n < count; n++) {
    const label = Math.floor(rand() * K);
    const exits = [0.6, 1.2, 2.0].map((strength) => {
      const logits = Float32Array.from(
        { length: K },
        (_, c) => 1.2 * g() + (c === label ? strength * (0.5 + rand()) : 0),
      );
      const others = Math.max(...Array.from(logits).filter((_, c) => c !== label));
      return { logits, confidence: Math.fround(sigmoid(1.5 * (logits[label]! - others) + 0.7 * g())) };
    });
    out.push({ label, exits, final: Float32Array.from({ length: K }, (_, c) => g() + (c === label ? 3 : 0)) });
  }
  out[7]!.exits[0]!.logits[1] = NaN;
  out[13]!.exits[1]!.logits[0] = Infinity;
  out[21]!.exits[2]!.logits[3] = -Infinity; // softmax stays finite: only the finiteness check stops it
  out[21]!.exits[2]!.logits[0] = 40;
  out[30]!.exits[1]!.confidence = NaN;
  out[31]!.exits[0]!.confidence = 1;
  return out;
}

function splitOutputs(data: Sample[]): SplitOutputs {
  return {
    count: data.length,
    classes: K,
    labels: data.map((d) => d.label),
    exits: [0, 1, 2].map((i) => ({
      logits: Float32Array.from(data.flatMap((d) => Array.from(d.exits[i]!.logits))),
      confidence: Float32Array.from(data.map((d) => d.exits[i]!.confidence)),
    })),
    finalLogits: Float32Array.from(data.flatMap((d) => Array.from(d.final))),
  };
}

/**
 * Fake graphs: every tensor carries the sample id in element 0 and the number of segments run in
 * element 1 (checked, so the chain must run in order); exits and the final segment look up that
 * sample's precomputed outputs.
 */
class FakeGraphs {
  segmentCalls = 0;
  exitCalls = 0;
  /** Exit indices called since the last reset (the edge test resets it per sample). */
  called: number[] = [];
  constructor(private readonly data: Sample[]) {}

  segment(i: number, x: Float32Array, n: number): Float32Array {
    this.segmentCalls++;
    const pin = prod(SHAPES[i]!),
      pout = prod(SHAPES[i + 1]!);
    if (x.length !== n * pin) throw new Error(`segment ${i}: ${x.length} values for ${n} samples`);
    const out = new Float32Array(n * pout);
    for (let k = 0; k < n; k++) {
      const id = x[k * pin]!,
        tag = x[k * pin + 1]!;
      if (tag !== i) throw new Error(`segment ${i} got features of stage ${tag}`);
      if (i === SHAPES.length - 2) out.set(this.data[id]!.final, k * pout);
      else {
        out[k * pout] = id;
        out[k * pout + 1] = i + 1;
        for (let j = 2; j < pout; j++) out[k * pout + j] = id * 0.5 + j;
      }
    }
    return out;
  }

  exit(i: number, x: Float32Array, n: number): { logits: Float32Array; confidence: Float32Array } {
    this.exitCalls++;
    this.called.push(i);
    const per = prod(SHAPES[i + 1]!);
    if (x.length !== n * per) throw new Error(`exit ${i}: ${x.length} values for ${n} samples`);
    const logits = new Float32Array(n * K),
      confidence = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const id = x[k * per]!,
        tag = x[k * per + 1]!;
      if (tag !== i + 1) throw new Error(`exit ${i} got features of stage ${tag}`);
      logits.set(this.data[id]!.exits[i]!.logits, k * K);
      confidence[k] = this.data[id]!.exits[i]!.confidence;
    }
    return { logits, confidence };
  }

  edgeRunner(): EdgeRunner {
    return {
      segment: async (i, x) => this.segment(i, x, 1),
      exit: async (i, x) => {
        const r = this.exit(i, x, 1);
        return { logits: r.logits, confidence: r.confidence[0]! };
      },
    };
  }

  executor(m: Manifest): Executor {
    return {
      name: 'cpu',
      run: async (kind, index, input, dims) => {
        await new Promise((r) => setImmediate(r)); // asynchronous, like a real executor: lets requests gather
        const n = dims[0]!;
        if (kind === 'segment') {
          if (prod(dims.slice(1)) !== prod(m.segments[index]!.inputShape))
            throw new Error(`segment ${index}: dims ${dims}`);
          return { [m.segments[index]!.output]: this.segment(index, input, n) };
        }
        const e = m.exits[index]!;
        if (prod(dims.slice(1)) !== prod(e.inputShape)) throw new Error(`exit ${index}: dims ${dims}`);
        const r = this.exit(index, input, n);
        return { [e.outputs.logits]: r.logits, [e.outputs.confidence]: r.confidence };
      },
      release: async () => {},
    };
  }
}

const inputOf = (id: number) => Float32Array.of(id, 0, 0.25, -0.25);

/** The q-quantile of the finite values (an actual score, so some samples sit exactly on the threshold). */
function quantile(v: ArrayLike<number>, q: number): number {
  const s = Array.from(v)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** A few threshold vectors per policy, from that policy's own scores: per-exit quantiles, shared, "exit 0 off" and "every exit off". */
function thresholdVectors(s: Float64Array[]): number[][] {
  const all = s.flatMap((a) => Array.from(a));
  return [
    [quantile(s[0]!, 0.8), quantile(s[1]!, 0.7), quantile(s[2]!, 0.5)],
    [quantile(s[0]!, 0.95), quantile(s[1]!, 0.4), quantile(s[2]!, 0.9)],
    [0, 1, 2].map(() => quantile(all, 0.6)),
    [1e9, quantile(s[1]!, 0.3), quantile(s[2]!, 0.6)],
    // "Backbone only": every exit off, none run.
    [1e9, 1e9, 1e9],
  ];
}

interface Decision {
  exit: number;
  classIndex: number;
  confidence?: number;
}

describe('cascade rule: calibration, edge and backend agree', () => {
  const N = 200;
  const data = samples(N, 12345);
  const out = splitOutputs(data);
  const m = syntheticManifest();
  // Each exit's own branch cost: an exit that is off costs nothing (the edge test below checks the
  // calibrated cost against the exits the edge actually runs).
  const costs = {
    exits: m.exits.map((e) => e.costFraction),
    final: m.final.costFraction,
    branches: m.exits.map((e) => e.macs / m.backbone.macs),
  };
  const schedulerOf = (p: Policy) => (p === 'eenet' ? ruleOf(m, p, []).scheduler : undefined);

  /** Calibration's decision per sample, from the very scores evaluatePolicy reads; checked against its aggregates. */
  function calibration(policy: Policy, thresholds: number[]): { decisions: Decision[]; cost: number } {
    const s = scores(policy, out, schedulerOf(policy));
    const ev = evaluatePolicy(out, s, thresholds, costs, policy);
    const rule = ruleOf(m, policy, thresholds);
    const counts = new Array<number>(E + 1).fill(0);
    let ok = 0;
    const d = data.map((smp, n) => {
      let e = E;
      for (let i = 0; i < E; i++)
        if (passes(s[i]![n]!, thresholds[i], finite(smp.exits[i]!.logits))) {
          e = i;
          break;
        }
      // The same decision by the rule run to the end, with the same chained scores.
      const ds = decideSample(rule, smp.exits);
      expect(ds.exit < 0 ? E : ds.exit).toBe(e);
      expect(ds.scores).toEqual(s.slice(0, ds.scores.length).map((a, i) => (exitRuns(rule, i, E) ? a[n] : NaN)));
      const classIndex = argmax(e < E ? smp.exits[e]!.logits : smp.final);
      counts[e]!++;
      if (classIndex === smp.label) ok++;
      return { exit: e, classIndex };
    });
    expect(ev.exitRates).toEqual(counts.map((c) => c / N));
    expect(ev.accuracy).toBeCloseTo(ok / N, 12);
    return { decisions: d, cost: ev.cost };
  }

  interface Combo {
    policy: Policy;
    thresholds: number[];
    calib: Decision[];
    cost: number;
  }
  // Built (and checked against evaluatePolicy's aggregates) before the tests run.
  let combos: Combo[] = [];
  beforeAll(() => {
    combos = POLICIES.flatMap((policy) =>
      thresholdVectors(scores(policy, out, schedulerOf(policy))).map((thresholds) => {
        const c = calibration(policy, thresholds);
        return { policy, thresholds, calib: c.decisions, cost: c.cost };
      }),
    );
  });

  const name = (c: Combo) => `${c.policy} [${c.thresholds.map((t) => t.toFixed(4)).join(', ')}]`;
  const diff = (c: Combo, got: Decision[], where: string) =>
    c.calib.flatMap((want, n) =>
      want.exit !== got[n]!.exit || want.classIndex !== got[n]!.classIndex
        ? [
            `${name(c)} sample ${n}: calibration exit ${want.exit}/class ${want.classIndex}, ${where} ${got[n]!.exit}/${got[n]!.classIndex}`,
          ]
        : [],
    );

  /** Edge with split = E: forward after the last exit means the final head answers (exit E). */
  async function edgeAll(c: Combo, g: FakeGraphs): Promise<Decision[]> {
    const s = scores(c.policy, out, schedulerOf(c.policy));
    const rule = ruleOf(m, c.policy, c.thresholds);
    const res: Decision[] = [];
    // What the edge really ran, in backbone-MAC fractions: segments up to the exit taken (all of them
    // for the final head) and the branch of every exit it called.
    let served = 0;
    const segFraction = (upTo: number) =>
      m.segments.slice(0, upTo + 1).reduce((a, sg) => a + sg.macs, 0) / m.backbone.macs;
    for (let n = 0; n < N; n++) {
      g.called = [];
      const r = await runEdge(g.edgeRunner(), m, inputOf(n), { policy: c.policy, thresholds: c.thresholds, split: E });
      served +=
        (r.kind === 'answer' ? segFraction(r.answer.exit) : 1) +
        g.called.reduce((a, i) => a + m.exits[i]!.macs, 0) / m.backbone.macs;
      if (r.kind === 'answer') {
        expect(r.segmentsRun).toBe(r.answer.exit + 1); // no wasted segments
        res.push(r.answer);
      } else {
        expect(r.resumeAt).toBe(E);
        expect(r.featureShape).toEqual([1, ...SHAPES[E]!]);
        // The state it would forward: exactly calibration's chained scores (none for an exit not run).
        expect(r.scores).toEqual(s.map((a, i) => (exitRuns(rule, i, E) ? a[n] : NaN)));
        res.push({ exit: E, classIndex: argmax(data[n]!.final) });
      }
    }
    expect(served / N, `${name(c)}: calibrated cost vs what the edge ran`).toBeCloseTo(c.cost, 12);
    if (c.thresholds.every((t) => t > 1)) expect(g.called).toEqual([]);
    return res;
  }

  /** Edge with split = 1, then the backend resumes at segment 1 with the forwarded scores. */
  async function edgeThenBackend(
    cs: Combo[],
    g: FakeGraphs,
    tamper?: (r: ResumeRequest, c: Combo) => ResumeRequest,
  ): Promise<{ decisions: Decision[][]; forwarded: number }> {
    const b = new Batcher(g.executor(m), m, { maxBatch: 48, maxWaitMs: 1, maxQueue: 100_000 });
    const pending: Promise<unknown>[] = [];
    const decisions: Decision[][] = cs.map(() => new Array<Decision>(N));
    let forwarded = 0;
    for (const [ci, c] of cs.entries()) {
      for (let n = 0; n < N; n++) {
        const r = await runEdge(g.edgeRunner(), m, inputOf(n), {
          policy: c.policy,
          thresholds: c.thresholds,
          split: 1,
        });
        if (r.kind === 'answer') {
          decisions[ci]![n] = r.answer;
          continue;
        }
        expect(r.resumeAt).toBe(1);
        expect(r.scores).toHaveLength(1);
        forwarded++;
        let req: ResumeRequest = {
          segment: r.resumeAt,
          features: r.features,
          policy: c.policy,
          thresholds: c.thresholds.slice(r.resumeAt),
          scores: r.scores,
        };
        if (tamper) req = tamper(req, c);
        // Every combo's requests go to one batcher at once: batches mix policies and thresholds.
        pending.push(
          b.submit(req).then((res: ResumeResult) => {
            decisions[ci]![n] = res;
          }),
        );
      }
    }
    await Promise.all(pending);
    await b.drain();
    return { decisions, forwarded };
  }

  it('the synthetic cases exercise every exit under every policy', () => {
    expect(combos).toHaveLength(POLICIES.length * 5);
    for (const p of POLICIES) {
      const counts = new Array<number>(E + 1).fill(0);
      for (const c of combos.filter((c) => c.policy === p)) for (const d of c.calib) counts[d.exit]!++;
      for (const k of counts) expect(k, `${p}: exits ${counts}`).toBeGreaterThan(20);
    }
    // Some samples sit exactly on a threshold (≥ must be applied the same everywhere).
    const s = scores('max-softmax', out);
    expect(s[0]!.some((v) => v === combos.find((c) => c.policy === 'max-softmax')!.thresholds[0])).toBe(true);
  });

  it('calibration and the edge (split = number of exits, and the whole backbone) choose the same exit and class', async () => {
    const g = new FakeGraphs(data);
    const bad: string[] = [];
    for (const c of combos) {
      bad.push(...diff(c, await edgeAll(c, g), 'edge'));
      // Whole backbone at the edge: the final head answers there too, with the same class and confidence.
      for (let n = 0; n < N; n++) {
        const r = await runEdge(g.edgeRunner(), m, inputOf(n), {
          policy: c.policy,
          thresholds: c.thresholds,
          split: m.segments.length,
        });
        expect(r.kind).toBe('answer');
        if (r.kind !== 'answer') continue;
        const want = c.calib[n]!;
        if (r.answer.exit !== want.exit || r.answer.classIndex !== want.classIndex)
          bad.push(
            `${name(c)} sample ${n}: full edge ${r.answer.exit}/${r.answer.classIndex} vs calibration ${want.exit}/${want.classIndex}`,
          );
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('calibration and edge → backend (split = 1, forwarded scores, thresholds.slice(1)) choose the same exit and class', async () => {
    const g = new FakeGraphs(data);
    const { decisions, forwarded } = await edgeThenBackend(combos, g);
    expect(forwarded).toBeGreaterThan(combos.length * N * 0.4);
    const bad = combos.flatMap((c, ci) => diff(c, decisions[ci]!, 'backend'));
    expect(bad.slice(0, 10)).toEqual([]);
    // The answer's confidence (the score of the exit taken, or the final head's max probability) matches the full edge run.
    const sample = combos.filter((_, ci) => ci % 3 === 0);
    for (const c of sample) {
      const ci = combos.indexOf(c);
      for (let n = 0; n < N; n++) {
        const r = await runEdge(g.edgeRunner(), m, inputOf(n), {
          policy: c.policy,
          thresholds: c.thresholds,
          split: m.segments.length,
        });
        if (r.kind === 'answer') expect(decisions[ci]![n]!.confidence).toBe(r.answer.confidence);
      }
    }
  });

  it('the check has teeth: a backend that drops forwarded scores diverges for eenet only; unsliced thresholds diverge', async () => {
    const g = new FakeGraphs(data);
    // Dropped scores: the batcher then fills NaN; eenet (which reads them) must diverge, the others must not.
    const dropped = await edgeThenBackend(combos, g, (r) => ({ ...r, scores: undefined }));
    for (const [ci, c] of combos.entries()) {
      const bad = diff(c, dropped.decisions[ci]!, 'backend');
      // (With every exit off nothing reads a score: no divergence possible.)
      if (c.policy === 'eenet' && c.thresholds.some((t) => t <= 1)) expect(bad.length, name(c)).toBeGreaterThan(0);
      else expect(bad, name(c)).toEqual([]);
    }
    // Wrong earlier scores (zeros instead of the edge's): eenet diverges too.
    const zeroed = await edgeThenBackend(
      combos.filter((c) => c.policy === 'eenet'),
      g,
      (r) => ({ ...r, scores: [0] }),
    );
    const eenet = combos.filter((c) => c.policy === 'eenet');
    expect(eenet.flatMap((c, ci) => diff(c, zeroed.decisions[ci]!, 'backend')).length).toBeGreaterThan(0);
    // Thresholds sent unsliced (exit 0's threshold applied at exit 1): some combo diverges.
    const unsliced = await edgeThenBackend(combos, g, (r, c) => ({ ...r, thresholds: c.thresholds }));
    expect(combos.flatMap((c, ci) => diff(c, unsliced.decisions[ci]!, 'backend')).length).toBeGreaterThan(0);
  });
});
