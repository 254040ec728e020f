/**
 * The backend's HTTP path with a free executor: the real service (cluster-processes.ts: signature checks and
 * the shared replay guard, decoding, the batcher, JSON answers) on `BACKEND_PROCESSES` processes
 * sharing a port, but the executor answers at once with zeros of the right shapes instead of running
 * the model. A benchmark instrument only (bench/backend.ts, `--free-executor=1`): its throughput is
 * about the most batching can reach on this machine, since batching only makes inference cheaper and
 * here inference is free.
 *
 * @example
 * BACKEND_PROCESSES=1 CASCADE_SECRET=… MODEL_DIR=models/fashion-resnet node --import tsx bench/backend-free-server.ts
 * // stderr: "[cluster] 1 backend processes ready on http://127.0.0.1:8788"
 */
import type { Manifest } from '../core/manifest.js';
import { runCluster } from '../gpu-backend/src/cluster-processes.js';
import type { Executor } from '../gpu-backend/src/executors/executor.js';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Zeros shaped like each graph's outputs: what the batcher needs to answer, at no cost. */
export function freeExecutor(m: Manifest): Executor {
  return {
    name: 'none' as Executor['name'],
    run: async (kind, index, _input, dims) => {
      const n = dims[0] ?? 1;
      if (kind === 'segment') {
        const s = m.segments[index]!;
        return { [s.output]: new Float32Array(n * size(s.outputShape)) };
      }
      const e = m.exits[index]!;
      return {
        [e.outputs.logits]: new Float32Array(n * m.classes.length),
        [e.outputs.confidence]: new Float32Array(n),
      };
    },
    release: async () => undefined,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) await runCluster(freeExecutor);
