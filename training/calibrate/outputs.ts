/**
 * Per-exit outputs on a cached split, computed by the exported exit graphs in onnxruntime-node (as
 * deployed), never by the tfjs training model.
 *
 * @example
 * const val = await exitOutputs(exitBytes, caches.val, 10);
 */
import * as ort from 'onnxruntime-node';
import { EXIT_CONFIDENCE, EXIT_INPUT, EXIT_LOGITS } from '../branches/export.js';
import type { FeatureCache } from '../branches/features.js';
import type { SplitOutputs } from './frontier.js';

/** Runs the exported exits (through onnxruntime, as deployed) on a cached split. */
export async function exitOutputs(exits: Uint8Array[], cache: FeatureCache, classes: number): Promise<SplitOutputs> {
  const out: SplitOutputs = { count: cache.count, classes, labels: cache.labels, exits: [], finalLogits: cache.logits };
  for (let i = 0; i < exits.length; i++) {
    const s = await ort.InferenceSession.create(exits[i]!);
    const store = cache.features[i]!;
    const logits = new Float32Array(cache.count * classes),
      confidence = new Float32Array(cache.count);
    for (let c = 0, n0 = 0; c < store.chunkCount; c++) {
      const chunk = store.chunk(c);
      const n = chunk.length / store.per;
      const r = await s.run({ [EXIT_INPUT]: new ort.Tensor('float32', chunk, [n, ...store.shape]) });
      logits.set(r[EXIT_LOGITS]!.data as Float32Array, n0 * classes);
      confidence.set(r[EXIT_CONFIDENCE]!.data as Float32Array, n0);
      n0 += n;
    }
    await s.release();
    out.exits.push({ logits, confidence });
  }
  return out;
}
