/**
 * The one module that imports onnxruntime-web, configured once for workerd.
 *
 * Why it looks like this (measured in `wrangler dev`):
 *   - workerd refuses `WebAssembly.instantiate(bytes)` (no runtime code generation from bytes) and
 *     has no `import.meta.url`, so ORT cannot fetch or compile its `.wasm` itself. We import the
 *     `.wasm` as a precompiled `WebAssembly.Module` (wrangler's CompiledWasm rule), give ORT a
 *     1-byte placeholder `wasmBinary`, and answer ORT's instantiate call for that placeholder from
 *     the precompiled module.
 *   - `numThreads = 1`: Workers have no threads (no SharedArrayBuffer workers); `proxy = false`:
 *     no Web Worker to proxy to.
 *
 * @example
 * const s = await createSession(bytes);
 * const out = await run(s, { features: tensor(x, [1, 16, 28, 28]) });
 */
import * as ort from 'onnxruntime-web/wasm';
import wasmModule from '../../../../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm';

const PLACEHOLDER = new Uint8Array([0]);
const instantiate = WebAssembly.instantiate.bind(WebAssembly);

function isPlaceholder(src: unknown): boolean {
  const bytes = src instanceof ArrayBuffer ? src.byteLength : ArrayBuffer.isView(src) ? src.byteLength : -1;
  return bytes === PLACEHOLDER.byteLength;
}

// Serve ORT's instantiate(placeholder) from the precompiled module; anything else passes through.
(WebAssembly as { instantiate: unknown }).instantiate = async (src: unknown, imports?: WebAssembly.Imports) => {
  if (isPlaceholder(src)) return { instance: await instantiate(wasmModule as WebAssembly.Module, imports), module: wasmModule };
  return instantiate(src as WebAssembly.Module, imports);
};

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmBinary = PLACEHOLDER;

export type Session = ort.InferenceSession;

export function createSession(bytes: ArrayBuffer | Uint8Array): Promise<Session> {
  return ort.InferenceSession.create(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
}

export function tensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** Runs a session; returns every output as f32. */
export async function run(s: Session, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const out = await s.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}
