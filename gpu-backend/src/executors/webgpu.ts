/**
 * onnxruntime-web's WebGPU execution provider on a real GPU from Node, through Dawn's Node bindings
 * (npm `webgpu`), as proven on the lent H100 (../shared/gpu-webgpu.md). Both packages are optional
 * and imported at run time; without them (or without a GPU / Vulkan driver) creation throws and the
 * factory falls back. Pitfalls handled here, measured there:
 *   - `navigator` is read-only in Node 22: define `navigator.gpu` with Object.defineProperty;
 *   - ORT must stay single-threaded in Node (otherwise it fetches its worker from a file:// URL).
 */
import type { BundleFiles, Executor } from './executor.js';

type OrtWeb = typeof import('onnxruntime-web');

export async function createWebGpuExecutor(b: BundleFiles): Promise<Executor> {
  const dawnPkg = 'webgpu';
  const dawn = (await import(dawnPkg)) as { create(flags: string[]): unknown; globals: Record<string, unknown> };
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]) as { requestAdapter(): Promise<unknown> };
  if (!(await gpu.requestAdapter())) throw new Error('Dawn found no GPU adapter');
  Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
  const ort = (await import('onnxruntime-web/webgpu' as string)) as OrtWeb;
  ort.env.wasm.numThreads = 1;
  const create = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
  const segments = await Promise.all(b.segments.map(create));
  const exits = await Promise.all(b.exits.map(create));
  return {
    name: 'webgpu',
    async run(kind, index, input, dims) {
      const s = (kind === 'segment' ? segments : exits)[index];
      if (!s) throw new Error(`no ${kind} ${index}`);
      const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', input, dims) });
      const res: Record<string, Float32Array> = {};
      for (const [k, v] of Object.entries(out)) res[k] = (await v.getData()) as Float32Array;
      return res;
    },
    async release() {
      await Promise.all([...segments, ...exits].map((s) => s.release()));
    },
  };
}
