/**
 * onnxruntime-web's WebGPU execution provider on a real GPU from Node, through Dawn's Node bindings
 * (npm `webgpu`, an optional dependency), as proven on the lent H100 (docs/gpu-webgpu.md).
 * Without the package, or without a Vulkan driver and adapter, creation throws and the factory falls
 * back. Without a GPU, Mesa's lavapipe (software Vulkan) is an adapter too: slow, but correct, which
 * is how the tests run this executor everywhere (tests/e2e/webgpu-executor.test.ts).
 *
 * Pitfalls handled here, measured there or here:
 *   - `navigator` is read-only in Node 22 (and absent in Node 20): define `navigator.gpu` with
 *     Object.defineProperty, and copy Dawn's `globals` (GPUBufferUsage, …) onto globalThis;
 *   - ORT must stay single-threaded in Node (otherwise it fetches its worker from a file:// URL);
 *   - two onnxruntime-web builds carry a WebGPU provider: the native one (`onnxruntime-web/webgpu`,
 *     the default) and the JSEP one (`dist/ort.bundle.min.mjs`, `WEBGPU_BUILD=jsep`), which ran a
 *     similar ResNet ~19 % faster at batch 256 on the H100 (docs/gpu-webgpu.md). Both write
 *     views or ranges of the shared wasm heap, which Dawn rejects in places (see acceptSharedWrites);
 *   - ORT-web refuses to create two WebGPU sessions at once ("another WebGPU EP inference session
 *     is being created"), and all sessions share one device and queue: create and run serially.
 *
 * @example
 * const ex = await createWebGpuExecutor(bundle); // ex.info → { vendor: 'nvidia', device: 'nvidia-h100-80gb-hbm3', … }
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serialQueue } from '../../../core/serial.js';
import type { AdapterInfo, BundleFiles, Executor } from './executor.js';

type OrtWeb = typeof import('onnxruntime-web');
interface DawnAdapter {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface DawnGpu {
  requestAdapter(o?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<DawnAdapter | null>;
}

/** The adapter ORT will pick too: the same request options give the same adapter. */
const POWER = 'high-performance' as const;

/**
 * ORT's wasm heap is a shared WebAssembly.Memory, so its writeBuffer calls pass views of a
 * SharedArrayBuffer (the JSEP build: the buffer itself, with a byte range). Dawn accepts views under
 * Node 22 but throws "Invalid argument" under Node 20: there (only on that error) retry with a copy,
 * so the executor works on both without costing Node 22 a copy per write.
 */
function acceptSharedWrites(globals: Record<string, unknown>): void {
  type WriteBuffer = (
    buffer: unknown,
    offset: number,
    data: ArrayBufferView | ArrayBufferLike,
    dataOffset?: number,
    size?: number,
  ) => void;
  const proto = (globals.GPUQueue as { prototype?: { writeBuffer: WriteBuffer; [k: symbol]: boolean } } | undefined)
    ?.prototype;
  const mark = Symbol.for('edge-cascade.sharedWrites');
  if (!proto || proto[mark]) return;
  const write = proto.writeBuffer;
  proto.writeBuffer = function (this: unknown, buffer, offset, data, dataOffset, size) {
    // The JSEP build passes its whole (shared) wasm heap with an offset and size in bytes. Dawn takes no
    // bare SharedArrayBuffer: write a view of that range instead (copied below where Dawn refuses it).
    if (data instanceof SharedArrayBuffer) {
      const at = dataOffset ?? 0;
      [data, dataOffset, size] = [new Uint8Array(data, at, size ?? data.byteLength - at), undefined, undefined];
    }
    try {
      write.call(this, buffer, offset, data, dataOffset, size);
    } catch (e) {
      if (!ArrayBuffer.isView(data) || !(data.buffer instanceof SharedArrayBuffer)) throw e;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
      const el = 'BYTES_PER_ELEMENT' in data ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
      const copy = el === 1 ? bytes : new (data.constructor as new (b: ArrayBuffer) => ArrayBufferView)(bytes.buffer);
      write.call(this, buffer, offset, copy, dataOffset, size);
    }
  };
  proto[mark] = true;
}

/** Loads Dawn, exposes `navigator.gpu`, and describes the adapter it offers (throws when none). */
export async function exposeDawn(): Promise<AdapterInfo> {
  // A variable specifier keeps bundlers and tsc from requiring the optional package at build time.
  const dawnPkg = 'webgpu';
  const dawn = (await import(dawnPkg)) as { create(flags: string[]): DawnGpu; globals: Record<string, unknown> };
  Object.assign(globalThis, dawn.globals);
  acceptSharedWrites(dawn.globals);
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: POWER });
  if (!adapter)
    throw new Error(
      'Dawn found no WebGPU adapter (no Vulkan driver? install libvulkan1 and a driver, e.g. mesa-vulkan-drivers for lavapipe)',
    );
  if (!('navigator' in globalThis))
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
  const i = adapter.info ?? {};
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    isFallbackAdapter: Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

export type WebGpuBuild = 'native' | 'jsep';

/** The onnxruntime-web build with the WebGPU provider: the package's `./webgpu` export, or the JSEP bundle (not exported: found beside an exported file of its build). */
async function importOrtWeb(build: WebGpuBuild): Promise<OrtWeb> {
  // Variable specifiers keep bundlers and tsc from resolving these at build time.
  const native = 'onnxruntime-web/webgpu';
  if (build === 'native') return (await import(native)) as OrtWeb;
  const glue = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs');
  return (await import(pathToFileURL(join(dirname(glue), 'ort.bundle.min.mjs')).href)) as OrtWeb;
}

/**
 * @param opts.allowFallbackAdapter false: refuse a software adapter (lavapipe) before paying for
 *   session creation (seconds; tens of seconds under Node 20), so the caller can fall back to cpu.
 * @param opts.build which onnxruntime-web build runs the graphs (default native)
 */
export async function createWebGpuExecutor(
  b: BundleFiles,
  opts: { allowFallbackAdapter?: boolean; build?: WebGpuBuild } = {},
): Promise<Executor> {
  const info = await exposeDawn();
  if (info.isFallbackAdapter && opts.allowFallbackAdapter === false) {
    throw new Error(`only a software fallback adapter (${info.description || info.device}) is available`);
  }
  const ort = await importOrtWeb(opts.build ?? 'native');
  ort.env.wasm.numThreads = 1;
  ort.env.webgpu.powerPreference = POWER;
  const sessions: {
    segment: Awaited<ReturnType<typeof ort.InferenceSession.create>>[];
    exit: Awaited<ReturnType<typeof ort.InferenceSession.create>>[];
  } = { segment: [], exit: [] };
  for (const bytes of b.segments)
    sessions.segment.push(await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] }));
  for (const bytes of b.exits)
    sessions.exit.push(await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] }));
  /** One run at a time: one device queue, and ORT-web's WebGPU EP is not re-entrant across sessions. */
  const serial = serialQueue();
  return {
    name: 'webgpu',
    info: { ...info, build: opts.build ?? 'native' },
    run(kind, index, input, dims) {
      const s = sessions[kind][index];
      if (!s) return Promise.reject(new Error(`no ${kind} ${index}`));
      return serial(async () => {
        const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', input, dims) });
        const res: Record<string, Float32Array> = {};
        // Outputs come back to the CPU (ORT's default output location); getData() reads them. Copy
        // when the data is a view into a larger (wasm heap) buffer so later runs cannot overwrite it.
        for (const [k, v] of Object.entries(out)) {
          const d = (await v.getData()) as Float32Array;
          res[k] = d.byteLength === d.buffer.byteLength && !(d.buffer instanceof SharedArrayBuffer) ? d : d.slice();
          v.dispose();
        }
        return res;
      });
    },
    async release() {
      await serial(async () => {
        for (const s of [...sessions.segment, ...sessions.exit]) await s.release();
      });
    },
  };
}
