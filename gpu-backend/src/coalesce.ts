/**
 * Merges concurrent runs of the same graph into one executor call: the second level of batching,
 * for one executor shared by several server processes (cluster-processes.ts, `BACKEND_SHARED_EXECUTOR=1`).
 * Each process forms its own batches, so without this a shared GPU would run N small batches one
 * after another, paying its fixed per-call cost (~3 ms on the H200, from batch 1 to batch 64; see
 * bench/results/backend-device.md) N times.
 *
 * One call is in flight at a time. A run that finds the executor idle starts at the end of this
 * event-loop turn, with whatever else arrived in the same turn (the other processes' IPC messages
 * read from the same pipe chunk); runs arriving while it is busy wait per graph (kind, index,
 * per-sample shape) and, when it frees up, the oldest
 * waiting graph runs with as many of its runs as fit in `maxBatch` samples (a run is never split,
 * and one larger than `maxBatch` runs alone). Outputs are split back per run (copies: a view would
 * carry the whole merged buffer over IPC). A failing call fails only the runs it held.
 *
 * @example
 * const shared = coalesce(executor, 256);
 * const [a, b] = await Promise.all([shared.run('segment', 3, x1, [8, 32, 14, 14]), shared.run('segment', 3, x2, [5, 32, 14, 14])]);
 * // both arrived in one turn: one executor call of 13 samples; callBatch.get(a) === 13
 */
import { callBatch, type Executor } from './executors/executor.js';

export interface CoalesceStats {
  /** Runs asked for. */
  runs: number;
  /** Executor calls made for them. */
  calls: number;
  /** Samples in those calls. */
  samples: number;
}

interface Waiting {
  input: Float32Array;
  n: number;
  resolve(o: Record<string, Float32Array>): void;
  reject(e: Error): void;
}

interface Group {
  kind: 'segment' | 'exit';
  index: number;
  sampleDims: number[];
  runs: Waiting[];
}

export function coalesce(ex: Executor, maxBatch: number): Executor & { stats(): CoalesceStats } {
  /** Waiting runs per graph; a Map keeps insertion order, so the oldest group comes first. */
  const groups = new Map<string, Group>();
  const stats: CoalesceStats = { runs: 0, calls: 0, samples: 0 };
  let busy = false;

  function next(): void {
    const first = groups.entries().next();
    if (first.done) {
      busy = false;
      return;
    }
    const [key, g] = first.value;
    const take: Waiting[] = [];
    let n = 0;
    while (g.runs.length && (take.length === 0 || n + g.runs[0]!.n <= maxBatch)) {
      const w = g.runs.shift()!;
      take.push(w);
      n += w.n;
    }
    // What is left goes to the back: other graphs waiting longer run first.
    groups.delete(key);
    if (g.runs.length) groups.set(key, g);
    void call(g, take, n).finally(next);
  }

  async function call(g: Group, take: Waiting[], n: number): Promise<void> {
    stats.calls++;
    stats.samples += n;
    try {
      let input = take[0]!.input;
      if (take.length > 1) {
        input = new Float32Array(take.reduce((a, w) => a + w.input.length, 0));
        let o = 0;
        for (const w of take) {
          input.set(w.input, o);
          o += w.input.length;
        }
      }
      const out = await ex.run(g.kind, g.index, input, [n, ...g.sampleDims]);
      let start = 0;
      for (const w of take) {
        const part: Record<string, Float32Array> = {};
        for (const [k, v] of Object.entries(out)) {
          const per = v.length / n;
          part[k] = take.length === 1 ? v : v.slice(start * per, (start + w.n) * per);
        }
        callBatch.set(part, n);
        start += w.n;
        w.resolve(part);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      for (const w of take) w.reject(err);
    }
  }

  return {
    name: ex.name,
    ...(ex.info ? { info: ex.info } : {}),
    run(kind, index, input, dims) {
      stats.runs++;
      const n = dims[0] ?? 1;
      const sampleDims = dims.slice(1);
      const key = `${kind} ${index} ${sampleDims.join('x')}`;
      return new Promise((resolve, reject) => {
        const g = groups.get(key) ?? { kind, index, sampleDims, runs: [] };
        groups.set(key, g);
        g.runs.push({ input, n, resolve, reject });
        if (!busy) {
          busy = true;
          setImmediate(next);
        }
      });
    },
    stats: () => ({ ...stats }),
    release: () => ex.release(),
  };
}
