/**
 * Runs one ONNX model on the three runtimes of the golden-output checks and reports the largest
 * absolute difference of every output against onnxruntime-node.
 */
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { readOnnx } from '../../training/onnx/proto.js';
import { tf } from '../../training/tf.js';
import { runOnnxTfjs } from '../../training/tfjs/onnx-runner.js';

// onnxruntime-web in Node: single-threaded wasm (its worker would be fetched from a file:// URL).
ortWeb.env.wasm.numThreads = 1;

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export async function runNode(
  bytes: Uint8Array,
  input: Float32Array,
  dims: number[],
): Promise<Record<string, Float32Array>> {
  const s = await ortNode.InferenceSession.create(bytes);
  const out = await s.run({ [s.inputNames[0]!]: new ortNode.Tensor('float32', input, dims) });
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

export async function runWeb(
  bytes: Uint8Array,
  input: Float32Array,
  dims: number[],
): Promise<Record<string, Float32Array>> {
  const s = await ortWeb.InferenceSession.create(bytes);
  const out = await s.run({ [s.inputNames[0]!]: new ortWeb.Tensor('float32', input, dims) });
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

export function runTfjs(bytes: Uint8Array, input: Float32Array, dims: number[]): Record<string, Float32Array> {
  const model = readOnnx(bytes);
  const name = model.graph!.input!.find((i) => !(model.graph!.initializer ?? []).some((t) => t.name === i.name))!.name!;
  const out = runOnnxTfjs(tf, model, { [name]: tf.tensor(input, dims) });
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => {
      const d = v.dataSync() as Float32Array;
      v.dispose();
      return [k, d];
    }),
  );
}

/** Max |Δ| of tfjs and onnxruntime-web against onnxruntime-node, over all outputs. */
export async function parity(
  bytes: Uint8Array,
  input: Float32Array,
  dims: number[],
): Promise<{ tfjs: number; web: number; outputs: Record<string, Float32Array> }> {
  const ref = await runNode(bytes, input, dims);
  const web = await runWeb(bytes, input, dims);
  const tfo = runTfjs(bytes, input, dims);
  let dt = 0,
    dw = 0;
  for (const k of Object.keys(ref)) {
    dt = Math.max(dt, maxAbsDiff(tfo[k]!, ref[k]!));
    dw = Math.max(dw, maxAbsDiff(web[k]!, ref[k]!));
  }
  return { tfjs: dt, web: dw, outputs: ref };
}

/** Deterministic pseudo-random input in roughly the normalised-image range. */
export function fixedInput(n: number, seed = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * 0.731 * seed) * 1.5);
}
