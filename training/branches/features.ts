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
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { halfTable, toHalfArray } from '../../core/feature-codec.js';
import { normaliseImages } from '../../core/normalise.js';
import type { Dataset, Split } from '../data/dataset.js';
import { pixelsPerImage } from '../data/dataset.js';
import { Progress } from '../progress.js';

/** Images per onnxruntime call while caching: large enough to amortise call overhead. */
const CACHE_BATCH = 256;

/**
 * Where a split's cached features live: `f32` in memory; `f16` in memory at half the bytes (the
 * exits see the same features rounded to half precision, as a forward with encoding f16 does); `disk`
 * f16 chunks in a file, read back a chunk at a time (a few chunks stay decoded), so only the chunks
 * in use are resident: for backbones whose features do not fit in memory.
 */
export type CacheMode = 'f32' | 'f16' | 'disk';
export const CACHE_MODES: readonly CacheMode[] = ['f32', 'f16', 'disk'];

/** Bytes one cached value takes in memory (disk: none beyond the decoded chunks). */
export function bytesPerValue(mode: CacheMode): number {
  return mode === 'f32' ? 4 : mode === 'f16' ? 2 : 0;
}

function decodeHalf(h: Uint16Array): Float32Array {
  const table = halfTable(),
    out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = table[h[i]!]!;
  return out;
}

/** Features of one cut for a whole split, stored in batch-sized chunks (no multi-GB single buffer). */
export class FeatureStore {
  private readonly f32: Float32Array[] = [];
  private readonly f16: Uint16Array[] = [];
  /** disk: each chunk's value count (chunk c starts at c × chunkSize × per values). */
  private readonly lengths: number[] = [];
  private fd: number | undefined;
  /** disk: recently decoded chunks, most recent last. */
  private readonly decoded = new Map<number, Float32Array>();
  readonly per: number;

  constructor(
    readonly shape: number[],
    readonly chunkSize = CACHE_BATCH,
    readonly mode: CacheMode = 'f32',
    private readonly file?: string,
    private readonly keepDecoded = 16,
  ) {
    this.per = shape.reduce((a, b) => a * b, 1);
    if (mode === 'disk') {
      if (!file) throw new Error('a disk feature cache needs a file');
      mkdirSync(dirname(file), { recursive: true });
      this.fd = openSync(file, 'w+');
    }
  }

  push(batch: Float32Array): void {
    if (this.mode === 'f32') {
      this.f32.push(batch);
      return;
    }
    const h = toHalfArray(batch);
    if (this.mode === 'f16') {
      this.f16.push(h);
      return;
    }
    writeSync(
      this.fd!,
      new Uint8Array(h.buffer, h.byteOffset, h.byteLength),
      0,
      h.byteLength,
      this.lengths.length * this.chunkSize * this.per * 2,
    );
    this.lengths.push(h.length);
  }

  get chunkCount(): number {
    return this.mode === 'f32' ? this.f32.length : this.mode === 'f16' ? this.f16.length : this.lengths.length;
  }

  /** Chunk c as f32 (samples c·chunkSize …). */
  chunk(c: number): Float32Array {
    if (this.mode === 'f32') return this.f32[c]!;
    if (this.mode === 'f16') return decodeHalf(this.f16[c]!);
    let x = this.decoded.get(c);
    if (x) {
      this.decoded.delete(c);
      this.decoded.set(c, x);
      return x;
    }
    const h = new Uint16Array(this.lengths[c]!);
    readSync(this.fd!, new Uint8Array(h.buffer), 0, h.byteLength, c * this.chunkSize * this.per * 2);
    x = decodeHalf(h);
    this.decoded.set(c, x);
    if (this.decoded.size > this.keepDecoded) this.decoded.delete(this.decoded.keys().next().value!);
    return x;
  }

  /** Copies the rows `idx` into one NCHW batch. */
  gather(idx: ArrayLike<number>): Float32Array {
    const out = new Float32Array(idx.length * this.per);
    for (let b = 0; b < idx.length; b++) {
      const i = idx[b]!;
      const c = Math.floor(i / this.chunkSize),
        off = (i % this.chunkSize) * this.per;
      if (this.mode === 'f16') {
        const h = this.f16[c]!,
          table = halfTable(),
          o = b * this.per;
        for (let k = 0; k < this.per; k++) out[o + k] = table[h[off + k]!]!;
      } else {
        out.set(this.chunk(c).subarray(off, off + this.per), b * this.per);
      }
    }
    return out;
  }

  /** Frees the memory and removes the disk file. */
  close(): void {
    this.f32.length = 0;
    this.f16.length = 0;
    this.decoded.clear();
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
      rmSync(this.file!, { force: true });
    }
  }
}

/**
 * A shuffle that keeps reads local: blocks of `block` consecutive samples in random order, shuffled
 * within each block (for disk caches, where a fully random order would read a chunk per sample).
 */
export function blockShuffle(n: number, block: number, rand: () => number): Int32Array {
  const blocks = Array.from({ length: Math.ceil(n / block) }, (_, b) => b);
  for (let i = blocks.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [blocks[i], blocks[j]] = [blocks[j]!, blocks[i]!];
  }
  const out = new Int32Array(n);
  let k = 0;
  for (const b of blocks) {
    const start = k;
    for (let i = b * block; i < Math.min(n, (b + 1) * block); i++) out[k++] = i;
    for (let i = k - 1; i > start; i--) {
      const j = start + Math.floor(rand() * (i - start + 1));
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
  }
  return out;
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
  const oh = h / k,
    ow = w / k;
  const out = new Float32Array(n * c * oh * ow);
  const inv = 1 / (k * k);
  for (let p = 0; p < n * c; p++) {
    const src = p * h * w,
      dst = p * oh * ow;
    for (let y = 0; y < h; y++) {
      const row = src + y * w,
        orow = dst + Math.floor(y / k) * ow;
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
  runner: SegmentRunner,
  split: Split,
  ds: Pick<Dataset, 'shape'>,
  norm: { mean: number[]; std: number[] },
  title: string,
  quiet = false,
  pools: number[] = [],
  store: { mode: CacheMode; dir?: string; layout?: 'NCHW' | 'NHWC' } = { mode: 'f32' },
): Promise<FeatureCache> {
  const { channels: C, height: H, width: W } = ds.shape;
  const per = pixelsPerImage(ds);
  const stores: FeatureStore[] = [];
  const logitChunks: Float32Array[] = [];
  const p = new Progress(title, split.count, { quiet });
  for (let s = 0; s < split.count; s += CACHE_BATCH) {
    const n = Math.min(CACHE_BATCH, split.count - s);
    const layout = store.layout ?? 'NCHW';
    const x = normaliseImages(split.images.subarray(s * per, (s + n) * per), n, ds.shape, norm.mean, norm.std, layout);
    const { cuts, logits } = await runner.run(x, layout === 'NHWC' ? [n, H, W, C] : [n, C, H, W]);
    cuts.forEach((t, i) => {
      const [c, h, w] = t.dims.slice(1).map(Number) as [number, number, number];
      const k = pools[i] ?? 1;
      stores[i] ??= new FeatureStore(
        [c, h / k, w / k],
        CACHE_BATCH,
        store.mode,
        store.dir ? join(store.dir, `${title.replace(/\W+/g, '-')}-${i}.f16`) : undefined,
      );
      stores[i]!.push(avgPoolNchw(t.data as Float32Array, n, c, h, w, k));
    });
    logitChunks.push(logits.data as Float32Array);
    p.update(s + n);
  }
  p.stop();
  const classes = logitChunks[0] ? logitChunks[0].length / Math.min(CACHE_BATCH, split.count) : 0;
  const logits = new Float32Array(split.count * classes);
  let off = 0;
  for (const c of logitChunks) {
    logits.set(c, off);
    off += c.length;
  }
  return { features: stores, logits, labels: split.labels, count: split.count };
}
