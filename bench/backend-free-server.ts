/**
 * The backend's HTTP path with a free executor: the real service (signature and replay checks,
 * decoding, the batcher, JSON answers) on `BACKEND_PROCESSES` processes sharing a port, but the
 * executor answers at once with zeros of the right shapes instead of running the model. A benchmark
 * instrument only (bench/backend.ts, `--free-executor=1`): its throughput is the most any batching
 * can reach on this machine, since batching only makes inference cheaper and here inference is free.
 *
 * @example
 * BACKEND_PROCESSES=1 CASCADE_SECRET=… MODEL_DIR=models/fashion-resnet node --import tsx bench/backend-free-server.ts
 * // stderr: "[free] 1 backend processes ready on http://127.0.0.1:8788"
 */
import cluster from 'node:cluster';
import type { Manifest } from '../core/manifest.js';
import { loadBundle } from '../gpu-backend/src/bundle.js';
import { backendProcesses, loadConfig } from '../gpu-backend/src/config.js';
import type { Executor } from '../gpu-backend/src/executors/executor.js';
import { startBackend } from '../gpu-backend/src/server.js';

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
      return { [e.outputs.logits]: new Float32Array(n * m.classes.length), [e.outputs.confidence]: new Float32Array(n) };
    },
    release: async () => undefined,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = backendProcesses(process.env);
  if (cluster.isPrimary) {
    let ready = 0;
    for (let i = 0; i < n; i++) cluster.fork();
    cluster.on('message', (_w, msg: { ready?: string }) => {
      if (msg?.ready && ++ready === n) console.error(`[free] ${n} backend processes ready on ${msg.ready}`);
    });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(sig); });
  } else {
    const m = loadBundle(loadConfig(process.env).MODEL_DIR).manifest;
    const b = await startBackend(process.env, () => undefined, { executor: { executor: freeExecutor(m), fallbacks: [] } });
    process.send?.({ ready: b.url });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void b.stop().then(() => process.exit(0)));
  }
}
