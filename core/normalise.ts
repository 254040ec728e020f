/**
 * u8 pixels (HWC, channels last, as decoders and datasets produce them) → normalised f32 in the
 * layout the model expects: x = (u8/255 − mean[c]) / std[c]. Shared by training, the edge and tests
 * so the arithmetic is written once.
 *
 * @example
 * const x = normaliseImages(u8, 2, { channels: 1, height: 28, width: 28 }, [0.286], [0.353], 'NCHW');
 */
export interface ImageShape {
  channels: number;
  height: number;
  width: number;
}

export function normaliseImages(
  u8: Uint8Array,
  count: number,
  shape: ImageShape,
  mean: readonly number[],
  std: readonly number[],
  layout: 'NCHW' | 'NHWC',
  out = new Float32Array(count * shape.channels * shape.height * shape.width),
): Float32Array {
  const { channels: C, height: H, width: W } = shape;
  if (mean.length !== C || std.length !== C)
    throw new Error(`mean/std have ${mean.length}/${std.length} entries, the image has ${C} channels`);
  const scale = std.map((s) => 1 / (255 * s));
  const shift = mean.map((m, c) => m / std[c]!);
  const hw = H * W;
  for (let n = 0; n < count; n++) {
    const base = n * C * hw;
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < C; c++) {
        const v = u8[base + p * C + c]! * scale[c]! - shift[c]!;
        out[layout === 'NHWC' ? base + p * C + c : base + c * hw + p] = v;
      }
    }
  }
  return out;
}
