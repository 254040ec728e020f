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

/** ORT's wasm memory (imported or exported by its module), kept to report its size. */
let memory: WebAssembly.Memory | undefined;
function findMemory(
  imports: WebAssembly.Imports | undefined,
  instance: WebAssembly.Instance,
): WebAssembly.Memory | undefined {
  const all = [...Object.values(imports ?? {}).flatMap((m) => Object.values(m)), ...Object.values(instance.exports)];
  return all.find((v): v is WebAssembly.Memory => v instanceof WebAssembly.Memory);
}

// Serve ORT's instantiate(placeholder) from the precompiled module; anything else passes through.
(WebAssembly as { instantiate: unknown }).instantiate = async (src: unknown, imports?: WebAssembly.Imports) => {
  if (isPlaceholder(src)) {
    const instance = await instantiate(wasmModule as WebAssembly.Module, imports);
    memory = findMemory(imports, instance);
    return { instance, module: wasmModule };
  }
  return instantiate(src as WebAssembly.Module, imports);
};

/**
 * Bytes of onnxruntime's wasm heap (it only grows: wasm memory never shrinks), or null before ORT
 * started. Reported by /readyz: it is outside the JS heap, so a leak in it shows only here and in RSS.
 */
export function wasmHeapBytes(): number | null {
  return memory ? memory.buffer.byteLength : null;
}

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmBinary = PLACEHOLDER;

export type Session = ort.InferenceSession;

/**
 * Graph optimisations off: the bundle's graphs come out of the exporter already folded (BatchNorm
 * into Conv, constants), and onnxruntime-web's optimiser found nothing that made a run faster here,
 * while it was a third of each session's creation. Measured in workerd (bench:edge, bench:edge:cpu,
 * 2026-12-03): the isolate's sessions 60-67 ms of start-up CPU with 'disabled' against 89 ms with
 * the default 'all' (72-101 with 'basic'), and the same CPU per run (segment 1 0.31 ms, exits
 * 0.10-0.11 ms).
 */
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'disabled' };

export function createSession(bytes: ArrayBuffer | Uint8Array): Promise<Session> {
  return ort.InferenceSession.create(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), SESSION_OPTIONS);
}

export function tensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** Runs a session; returns every output as f32. */
export async function run(s: Session, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const out = await s.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}
