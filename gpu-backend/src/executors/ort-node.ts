/**
 * onnxruntime-node executors: `cpu` (always available) and `cuda` (only where the host installed
 * onnxruntime-node's CUDA provider libraries, docs/deploy.md "The backend on a GPU host"; host.ts skips it
 * otherwise, and a session that still fails to create falls back).
 */
import * as ort from 'onnxruntime-node';
import type { BundleFiles, Executor } from './executor.js';

/**
 * @param threads intra-op threads (0: onnxruntime's default, one per core)
 * @param spinning let those threads busy-wait for work between runs (onnxruntime's default; see
 *   config.ts CPU_SPINNING for why the backend turns it off)
 */
export async function createOrtNodeExecutor(
  name: 'cpu' | 'cuda',
  b: BundleFiles,
  threads: number,
  spinning = false,
): Promise<Executor> {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: [name],
    // A missing CUDA library is an expected fallback here, not an error worth a native stack dump.
    ...(name === 'cuda' ? { logSeverityLevel: 4 as const } : {}),
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    // Session config entries "session.intra_op.allow_spinning" and "session.inter_op.allow_spinning".
    extra: {
      session: {
        intra_op: { allow_spinning: spinning ? '1' : '0' },
        inter_op: { allow_spinning: spinning ? '1' : '0' },
      },
    },
  };
  const create = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, opts);
  const segments = await Promise.all(b.segments.map(create));
  const exits = await Promise.all(b.exits.map(create));
  return {
    name,
    async run(kind, index, input, dims) {
      const s = (kind === 'segment' ? segments : exits)[index];
      if (!s) throw new Error(`no ${kind} ${index}`);
      const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', input, dims) });
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
    },
    async release() {
      await Promise.all([...segments, ...exits].map((s) => s.release()));
    },
  };
}
