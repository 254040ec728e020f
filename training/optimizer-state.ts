/**
 * Adam's state (iteration count and both moment estimates) as safetensors entries `adam.<i>.<name>`,
 * for resumable training (the backbone's checkpoint and attach's exit checkpoint).
 *
 * @example
 * tensors = { ...weights, ...(await adamTensors(optimizer)) };   // save
 * await restoreAdam(tf, optimizer, decodeSafetensors(bytes).tensors); // resume
 */

import type { SafeTensor } from '../core/safetensors.js';
import type { tf as TF } from './tf.js';

type Tf = typeof TF;

export async function adamTensors(optimizer: TF.Optimizer): Promise<Record<string, SafeTensor>> {
  const out: Record<string, SafeTensor> = {};
  (await optimizer.getWeights()).forEach((w, i) => {
    out[`adam.${i}.${w.name}`] = {
      dtype: 'F32',
      shape: w.tensor.shape.slice(),
      data: Float32Array.from(w.tensor.dataSync()),
    };
  });
  return out;
}

/** Restores what `adamTensors` wrote (entries not starting with `adam.` are ignored), in saved order. */
export async function restoreAdam(tf: Tf, optimizer: TF.Optimizer, tensors: Record<string, SafeTensor>): Promise<void> {
  const adam = Object.entries(tensors)
    .filter(([k]) => k.startsWith('adam.'))
    .sort(([a], [b]) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  await optimizer.setWeights(
    adam.map(([k, t]) => ({
      name: k.split('.').slice(2).join('.'),
      tensor: tf.tensor(t.data as Float32Array, t.shape),
    })),
  );
}
