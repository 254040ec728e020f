/**
 * Dynamic batching of resumed requests, one batch in flight at a time. A request that finds the
 * executor idle runs at once (or after waiting up to `maxWaitMs` for company); while a batch runs,
 * requests gather per segment and run, in batches of at most `maxBatch`, as soon as it ends.
 * A batch runs segment k, exit k (each sample decides with its own policy and thresholds, as sent
 * by its edge), and carries the samples that did not exit on to the next segment, down to the final
 * head. A failing batch fails only its own requests. Queues are bounded: `submit` throws Overloaded
 * instead of growing memory.
 *
 * @example
 * const b = new Batcher(executor, manifest, { maxBatch: 64, maxWaitMs: 2, maxQueue: 1024 });
 * const r = await b.submit({ segment: 2, features, policy: 'confidence', thresholds: [0.9] });
 */

import { argmax, exitRuns, type Policy, softmax, stepExit } from '../../core/cascade-rule.js';
import { log } from '../../core/log.js';
import { type Manifest, ruleOf } from '../../core/manifest.js';
import { callBatch, type Executor } from './executors/executor.js';
import type { Metrics } from './metrics.js';

export interface ResumeRequest {
  /** Segment to resume at (its input is `features`). */
  segment: number;
  /** One sample's features, f32, the segment's input shape. */
  features: Float32Array;
  policy: Policy;
  /** Thresholds of exits segment … last exit (the edge sends the deeper ones). */
  thresholds: number[];
  /** Scores of exits 0 … segment−1 as the edge computed them (read by policy eenet; may be empty otherwise). */
  scores?: number[];
}

export interface ResumeResult {
  classIndex: number;
  label: string;
  confidence: number;
  exit: number;
  timings: { queueMs: number; computeMs: number };
  /** Samples in the executor call that ran the request's first segment (its batch, or several merged). */
  batchSize: number;
}

export class Overloaded extends Error {
  constructor(
    readonly segment: number,
    readonly queued: number,
  ) {
    super(`segment ${segment} has ${queued} requests waiting; try again shortly`);
  }
}

export class BatchFailed extends Error {}

interface Pending extends ResumeRequest {
  enqueuedAt: number;
  resolve(r: ResumeResult): void;
  reject(e: Error): void;
}

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
}

export class Batcher {
  private readonly queues = new Map<number, Pending[]>();
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly running = new Set<Promise<void>>();
  private draining = false;

  constructor(
    private readonly ex: Executor,
    private readonly m: Manifest,
    private readonly opts: BatcherOptions,
    private readonly metrics?: Metrics,
  ) {}

  queued(): Record<number, number> {
    return Object.fromEntries([...this.queues].map(([k, q]) => [k, q.length]));
  }

  inFlight(): number {
    return this.running.size + [...this.queues.values()].reduce((a, q) => a + q.length, 0);
  }

  submit(r: ResumeRequest): Promise<ResumeResult> {
    const q = this.queues.get(r.segment) ?? [];
    this.queues.set(r.segment, q);
    if (q.length >= this.opts.maxQueue) throw new Overloaded(r.segment, q.length);
    return new Promise<ResumeResult>((resolve, reject) => {
      q.push({ ...r, enqueuedAt: performance.now(), resolve, reject });
      if (this.draining) this.flush(r.segment);
      else if (this.running.size === 0) {
        // Idle executor: run now, or wait up to maxWaitMs for company (0 = never wait).
        if (q.length >= this.opts.maxBatch || this.opts.maxWaitMs === 0) this.flush(r.segment);
        else if (!this.timers.has(r.segment))
          this.timers.set(
            r.segment,
            setTimeout(() => this.flush(r.segment), this.opts.maxWaitMs),
          );
      }
      // Busy executor: wait for its batch to end, then run together. One batch in flight at a time:
      // the executor runs one at a time anyway (a GPU queue, or every CPU core), and several small
      // batches in flight would only queue there (measured: a shared WebGPU executor fed 1.4-sample
      // batches by per-request timers).
    });
  }

  private flush(segment: number): void {
    const t = this.timers.get(segment);
    if (t) clearTimeout(t);
    this.timers.delete(segment);
    const q = this.queues.get(segment) ?? [];
    while (q.length) {
      const batch = q.splice(0, this.opts.maxBatch);
      const p = this.runBatch(segment, batch).finally(() => {
        this.running.delete(p);
        // What gathered while the executor was busy runs now, as one batch per segment.
        if (this.running.size === 0) for (const [k, waiting] of this.queues) if (waiting.length) this.flush(k);
      });
      this.running.add(p);
    }
  }

  private async runBatch(start: number, batch: Pending[]): Promise<void> {
    const t0 = performance.now();
    this.metrics?.observeBatch(batch.length);
    const queueMs = batch.map((p) => t0 - p.enqueuedAt);
    // Each sample's cascade rule, indexed by exit (the exits the edge ran get no threshold), and its scores so far.
    let live = batch.map((p, i) => ({
      p,
      i,
      rule: ruleOf(this.m, p.policy, [...new Array<number>(p.segment).fill(Infinity), ...p.thresholds]),
      // The route refuses policy eenet without the edge's scores; the other policies never read them.
      scores: p.scores && p.scores.length === p.segment ? [...p.scores] : new Array<number>(p.segment).fill(NaN),
    }));
    /** Samples in the executor call that ran the first segment: this batch, or more where a shared executor merged batches. */
    let size = batch.length;
    const E = this.m.exits.length;
    try {
      let per = this.m.segments[start]!.inputShape.reduce((a, b) => a * b, 1);
      let x: Float32Array = new Float32Array(live.length * per);
      live.forEach(({ p }, k) => {
        x.set(p.features, k * per);
      });
      for (let s = start; s < this.m.segments.length && live.length; s++) {
        const seg = this.m.segments[s]!;
        const res = await this.ex.run('segment', s, x, [live.length, ...seg.inputShape]);
        if (s === start) size = callBatch.get(res) ?? size;
        const out = res[seg.output]!;
        per = seg.outputShape.reduce((a, b) => a * b, 1);
        if (s === this.m.segments.length - 1) {
          live.forEach(({ p, i }, k) => {
            const probs = softmax(out.subarray(k * per, (k + 1) * per));
            const c = argmax(probs);
            this.finish(p, { classIndex: c, confidence: probs[c]!, exit: E }, queueMs[i]!, t0, size);
          });
          return;
        }
        const e = this.m.exits[s]!;
        // Samples whose rule turns this exit off (core/cascade-rule.ts) skip it: no branch run, no score.
        const runs = live.map((l) => exitRuns(l.rule, s, E));
        if (!runs.some(Boolean)) {
          for (const l of live) l.scores.push(NaN);
          x = out;
          continue;
        }
        const eo = await this.ex.run('exit', s, out, [live.length, ...e.inputShape]);
        const logits = eo[e.outputs.logits]!,
          conf = eo[e.outputs.confidence]!;
        const K = this.m.classes.length;
        const stay: typeof live = [];
        const keep: number[] = [];
        live.forEach((l, k) => {
          if (!runs[k]) {
            l.scores.push(NaN);
            stay.push(l);
            keep.push(k);
            return;
          }
          const z = logits.subarray(k * K, (k + 1) * K);
          // The one cascade rule (core/cascade-rule.ts): a NaN score never passes; non-finite logits
          // (features far outside the trained range) never answer either: the sample goes deeper, and
          // a non-finite final answer is refused by the route.
          const r = stepExit(l.rule, s, z, conf[k]!, l.scores);
          l.scores.push(r.score);
          if (r.exit)
            this.finish(l.p, { classIndex: r.classIndex, confidence: r.score, exit: s }, queueMs[l.i]!, t0, size);
          else {
            stay.push(l);
            keep.push(k);
          }
        });
        x = new Float32Array(keep.length * per);
        keep.forEach((k, j) => {
          x.set(out.subarray(k * per, (k + 1) * per), j * per);
        });
        live = stay;
      }
    } catch (e) {
      this.metrics?.error('EXECUTOR_FAILED');
      // Each request's 500 says why; the log says it once per batch, with the shape that failed.
      log.error('executor failed on a batch', {
        executor: this.ex.name,
        segment: start,
        batch: batch.length,
        unanswered: live.length,
        error: e,
      });
      const err = new BatchFailed(
        `executor ${this.ex.name} failed on a batch of ${batch.length}: ${(e as Error).message}`,
      );
      for (const { p } of live) p.reject(err);
    }
  }

  private finish(
    p: Pending,
    a: { classIndex: number; confidence: number; exit: number },
    queueMs: number,
    t0: number,
    batchSize: number,
  ): void {
    const computeMs = performance.now() - t0;
    this.metrics?.observeAnswer(a.exit, queueMs, computeMs);
    p.resolve({ ...a, label: this.m.classes[a.classIndex]!, timings: { queueMs, computeMs }, batchSize });
  }

  /** Runs everything queued now, runs later arrivals at once, and waits until no batch is running (graceful shutdown). */
  async drain(): Promise<void> {
    this.draining = true;
    for (const k of [...this.queues.keys()]) this.flush(k);
    while (this.running.size) await Promise.all([...this.running]);
  }
}
