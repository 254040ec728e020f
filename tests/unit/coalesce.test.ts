/**
 * coalesce(): runs that wait for a shared executor are merged into one call, on the real cpu
 * executor (onnxruntime-node) and the shipped bundle. The executor is wrapped only to count and
 * record the calls that reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../gpu-backend/src/bundle.js';
import { coalesce } from '../../gpu-backend/src/coalesce.js';
import { createExecutor } from '../../gpu-backend/src/executors/create.js';
import { callBatch, type Executor } from '../../gpu-backend/src/executors/executor.js';

const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';
const bundle = loadBundle(DIR);
const m = bundle.manifest;
const last = m.segments.length - 1;
const segDims = m.segments[last]!.inputShape;
const per = segDims.reduce((a, b) => a * b, 1);
const exitDims = m.exits[0]!.inputShape;
const exitPer = exitDims.reduce((a, b) => a * b, 1);

/** Deterministic, image-like feature values (non-negative, as after a ReLU). */
const features = (n: number, seed: number, size = per) =>
  Float32Array.from({ length: n * size }, (_, i) => Math.abs(Math.sin((i + 1) * 0.37 + seed)));

let cpu: Executor;
/** The calls that reached the real executor: graph and batch size. */
let calls: string[] = [];
const counted = (): Executor => ({
  name: cpu.name,
  run: (kind, index, input, dims) => {
    calls.push(`${kind} ${index} ×${dims[0]}`);
    return cpu.run(kind, index, input, dims);
  },
  release: async () => undefined,
});

beforeAll(async () => {
  cpu = (await createExecutor(['cpu'], bundle, { cpuThreads: 1, log: () => undefined })).executor;
});
afterAll(async () => {
  await cpu?.release();
});

/** The end of this event-loop turn: a run that found the executor idle has started by then. */
const turn = () => new Promise<void>((r) => setImmediate(r));

function expectClose(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  expect(max).toBeLessThan(1e-4);
}

describe('coalesce', () => {
  it('merges the runs that wait while a call is in flight, and splits the outputs back per run', async () => {
    calls = [];
    const ex = coalesce(counted(), 64);
    const sizes = [1, 3, 2, 5];
    const inputs = sizes.map((n, i) => features(n, i));
    const first = ex.run('segment', last, inputs[0]!, [1, ...segDims]);
    await turn();
    const rest = sizes.slice(1).map((n, i) => ex.run('segment', last, inputs[i + 1]!, [n, ...segDims]));
    const outs = [await first, ...(await Promise.all(rest))];
    // The first found the executor idle and runs alone; the three that arrive meanwhile run as one.
    expect(calls).toEqual([`segment ${last} ×1`, `segment ${last} ×10`]);
    expect(ex.stats()).toEqual({ runs: 4, calls: 2, samples: 11 });
    expect(outs.map((o) => callBatch.get(o))).toEqual([1, 10, 10, 10]);
    const name = m.segments[last]!.output;
    for (const [i, n] of sizes.entries()) {
      const alone = await cpu.run('segment', last, inputs[i]!, [n, ...segDims]);
      expect(outs[i]![name]!.length).toBe(n * m.classes.length);
      expectClose(outs[i]![name]!, alone[name]!);
      // A copy, not a view of the merged buffer: it crosses IPC alone.
      expect(outs[i]![name]!.buffer.byteLength).toBe(outs[i]![name]!.byteLength);
    }
  });

  it('merges the runs that arrive in the same event-loop turn when the executor is idle', async () => {
    calls = [];
    const ex = coalesce(counted(), 64);
    await Promise.all([2, 1, 4].map((n, i) => ex.run('segment', last, features(n, i), [n, ...segDims])));
    expect(calls).toEqual([`segment ${last} ×7`]);
  });

  it('keeps calls within maxBatch without splitting a run, oldest graph first, and does not mix graphs', async () => {
    calls = [];
    const ex = coalesce(counted(), 7);
    const jobs = [
      ex.run('segment', last, features(2, 0), [2, ...segDims]),
      ex.run('segment', last, features(3, 1), [3, ...segDims]),
      ex.run('exit', 0, features(4, 2, exitPer), [4, ...exitDims]),
      ex.run('segment', last, features(3, 3), [3, ...segDims]),
      ex.run('segment', last, features(9, 4), [9, ...segDims]),
      ex.run('exit', 0, features(1, 5, exitPer), [1, ...exitDims]),
    ];
    const outs = await Promise.all(jobs);
    expect(calls).toEqual([
      `segment ${last} ×5`, // 2 + 3 fit in 7; the next 3 does not
      'exit 0 ×5', // the exit runs waited longer than the rest of the segment's
      `segment ${last} ×3`, // the 9 does not fit beside it
      `segment ${last} ×9`, // larger than maxBatch: alone, never split
    ]);
    expect(outs[2]![m.exits[0]!.outputs.logits]!.length).toBe(4 * m.classes.length);
    expect(outs[5]![m.exits[0]!.outputs.logits]!.length).toBe(1 * m.classes.length);
  });

  it('maxBatch 1 never merges (batching off)', async () => {
    calls = [];
    const ex = coalesce(counted(), 1);
    await Promise.all([0, 1, 2].map((i) => ex.run('segment', last, features(1, i), [1, ...segDims])));
    expect(calls).toEqual([`segment ${last} ×1`, `segment ${last} ×1`, `segment ${last} ×1`]);
  });

  it('a failing call fails only the runs it held; the next calls still run', async () => {
    calls = [];
    const ex = coalesce(counted(), 64);
    const ok1 = ex.run('segment', last, features(1, 0), [1, ...segDims]);
    const bad = [
      ex.run('segment', 99, features(1, 1), [1, ...segDims]),
      ex.run('segment', 99, features(2, 2), [2, ...segDims]),
    ];
    await expect(ok1).resolves.toBeDefined();
    for (const r of bad) await expect(r).rejects.toThrow(/no segment 99/);
    // The executor is free again after the failed call.
    await expect(ex.run('segment', last, features(2, 3), [2, ...segDims])).resolves.toBeDefined();
    expect(calls).toEqual([`segment ${last} ×1`, 'segment 99 ×3', `segment ${last} ×2`]);
  });
});
