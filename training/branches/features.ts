/**
 * Runs the frozen backbone segments in onnxruntime-node (native, multi-threaded: far faster than
 * tfjs here) and caches, for every image of a split, the features at each cut and the final logits.
 * Exit training then touches only these caches; the backbone file is never rewritten.
 *
 * @example
 * const runner = await SegmentRunner.create(segmentBytes);
 * const cache = await cacheFeatures(runner, ds.train, ds, mean, std);
 * cache.features[0].gather(Int32Array.of(3, 7)); // NCHW f32 of samples 3 and 7 at cut 0
 */
import * as ort from 'onnxruntime-node';
import type { Dataset, Split } from '../data/dataset.js';
import { pixelsPerImage } from '../data/dataset.js';
import { normaliseImages } from '../../core/normalise.js';
import { Progress } from '../progress.js';

/** Images per onnxruntime call while caching: large enough to amortise call overhead. */
const CACHE_BATCH = 256;

/** Features of one cut for a whole split, stored in batch-sized chunks (no multi-GB single buffer). */
export class FeatureStore {
  readonly chunks: Float32Array[] = [];
  readonly per: number;
  constructor(readonly shape: number[], readonly chunkSize = CACHE_BATCH) {
    this.per = shape.reduce((a, b) => a * b, 1);
  }

  push(batch: Float32Array): void {
    this.chunks.push(batch);
  }

  /** Copies the rows `idx` into one NCHW batch. */
  gather(idx: ArrayLike<number>): Float32Array {
    const out = new Float32Array(idx.length * this.per);
    for (let b = 0; b < idx.length; b++) {
      const i = idx[b]!;
      const chunk = this.chunks[Math.floor(i / this.chunkSize)]!;
      const off = (i % this.chunkSize) * this.per;
      out.set(chunk.subarray(off, off + this.per), b * this.per);
    }
    return out;
  }
}

export class SegmentRunner {
  private constructor(readonly sessions: ort.InferenceSession[]) {}

  static async create(segments: Uint8Array[]): Promise<SegmentRunner> {
    return new SegmentRunner(await Promise.all(segments.map((s) => ort.InferenceSession.create(s))));
  }

  /** Runs every segment in turn; returns each cut's features and the final outputs. */
  async run(input: Float32Array, dims: number[]): Promise<{ cuts: ort.Tensor[]; logits: ort.Tensor }> {
    let t: ort.Tensor = new ort.Tensor('float32', input, dims);
    const cuts: ort.Tensor[] = [];
    for (const s of this.sessions) {
      const out = await s.run({ [s.inputNames[0]!]: t });
      t = out[s.outputNames[0]!]!;
      cuts.push(t);
    }
    return { cuts: cuts.slice(0, -1), logits: cuts[cuts.length - 1]! };
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}

export interface FeatureCache {
  features: FeatureStore[];
  /** Final-head logits, count × classes. */
  logits: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** k×k average pooling, stride k, of an NCHW batch (k divides H and W). */
export function avgPoolNchw(x: Float32Array, n: number, c: number, h: number, w: number, k: number): Float32Array {
  if (k === 1) return x;
  const oh = h / k, ow = w / k;
  const out = new Float32Array(n * c * oh * ow);
  const inv = 1 / (k * k);
  for (let p = 0; p < n * c; p++) {
    const src = p * h * w, dst = p * oh * ow;
    for (let y = 0; y < h; y++) {
      const row = src + y * w, orow = dst + Math.floor(y / k) * ow;
      for (let xx = 0; xx < w; xx++) out[orow + Math.floor(xx / k)]! += x[row + xx]!;
    }
    for (let i = 0; i < oh * ow; i++) out[dst + i]! *= inv;
  }
  return out;
}

/**
 * Caches a split's features at every cut, each average-pooled by `pools[i]` (1 = as is: the pooling
 * an exit branch applies first, so its training reads what the exported exit computes, at a fraction
 * of the memory).
 */
export async function cacheFeatures(
  runner: SegmentRunner, split: Split, ds: Pick<Dataset, 'shape'>, norm: { mean: number[]; std: number[] }, title: string, quiet = false, pools: number[] = [],
): Promise<FeatureCache> {
  const { channels: C, height: H, width: W } = ds.shape;
  const per = pixelsPerImage(ds);
  const stores: FeatureStore[] = [];
  const logitChunks: Float32Array[] = [];
  const p = new Progress(title, split.count, { quiet });
  for (let s = 0; s < split.count; s += CACHE_BATCH) {
    const n = Math.min(CACHE_BATCH, split.count - s);
    const x = normaliseImages(split.images.subarray(s * per, (s + n) * per), n, ds.shape, norm.mean, norm.std, 'NCHW');
    const { cuts, logits } = await runner.run(x, [n, C, H, W]);
    cuts.forEach((t, i) => {
      const [c, h, w] = t.dims.slice(1).map(Number) as [number, number, number];
      const k = pools[i] ?? 1;
      stores[i] ??= new FeatureStore([c, h / k, w / k]);
      stores[i]!.push(avgPoolNchw(t.data as Float32Array, n, c, h, w, k));
    });
    logitChunks.push(logits.data as Float32Array);
    p.update(s + n);
  }
  p.stop();
  const classes = logitChunks[0] ? logitChunks[0].length / Math.min(CACHE_BATCH, split.count) : 0;
  const logits = new Float32Array(split.count * classes);
  let off = 0;
  for (const c of logitChunks) { logits.set(c, off); off += c.length; }
  return { features: stores, logits, labels: split.labels, count: split.count };
}
