/**
 * One small interface over the runtimes that can run the bundle's graphs (segments and exits):
 * onnxruntime-web's WebGPU provider, onnxruntime-node's CUDA provider, onnxruntime-node on CPU.
 *
 * @example
 * const ex = await createExecutor(['webgpu', 'cuda', 'cpu'], bundle, log); // first that loads
 * const out = await ex.run('segment', 3, x, [n, 32, 14, 14]);
 */
import type { Manifest } from '../../../core/manifest.js';

/** The GPU adapter a WebGPU executor runs on (WebGPU's GPUAdapterInfo), shown in /readyz and benchmarks. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters (lavapipe / SwiftShader): correct but slow, never a production GPU. */
  isFallbackAdapter: boolean;
  /** The onnxruntime-web build running on it (WEBGPU_BUILD). */
  build?: 'native' | 'jsep';
}

export interface Executor {
  readonly name: 'webgpu' | 'cuda' | 'cpu';
  /** The adapter, for executors that run on one (webgpu). */
  readonly info?: AdapterInfo;
  /** Runs graph `kind` `index` on a batch; returns every output by name (f32). */
  run(
    kind: 'segment' | 'exit',
    index: number,
    input: Float32Array,
    dims: number[],
  ): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

/**
 * How many samples the executor call that produced an output record held, where that differs from
 * the run's own batch: runs merged by `coalesce` (the shared executor) record it here, and the
 * batcher reports it as the request's `batchSize`.
 */
export const callBatch = new WeakMap<object, number>();

export interface BundleFiles {
  manifest: Manifest;
  segments: Uint8Array[];
  exits: Uint8Array[];
}

/** The graphs the backend may run: every segment after the first and every exit. Warm-up uses them. */
export function graphList(
  m: Manifest,
): { kind: 'segment' | 'exit'; index: number; inputName: string; inputShape: number[] }[] {
  return [
    ...m.segments.map((s) => ({
      kind: 'segment' as const,
      index: s.index,
      inputName: s.input,
      inputShape: s.inputShape,
    })),
    ...m.exits.map((e) => ({
      kind: 'exit' as const,
      index: e.index,
      inputName: e.inputName,
      inputShape: e.inputShape,
    })),
  ];
}
