/**
 * Client images → the model's u8 HWC input: PNG decoding (fast-png: grey, grey+alpha, RGB, RGBA,
 * palette, 1-16 bit), channel conversion (ITU-R BT.601 luma for RGB → grey; alpha composited on
 * black, as Fashion-MNIST's background is black) and resizing (area averaging when shrinking,
 * bilinear when enlarging).
 *
 * @example
 * const u8 = pngToModelInput(bytes, { channels: 1, height: 28, width: 28 });
 */
import { decode } from 'fast-png';
import type { ImageShape } from './normalise.js';

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** Largest image we decode (pixels): bounds memory per request in a 128 MB isolate. */
export const MAX_IMAGE_PIXELS = 4096 * 4096;

export interface Decoded { width: number; height: number; channels: number; data: Uint8Array }

export function decodePng(bytes: Uint8Array): Decoded {
  let img: ReturnType<typeof decode>;
  try {
    img = decode(bytes);
  } catch (e) {
    throw new ImageError(`not a valid PNG: ${(e as Error).message}`);
  }
  if (img.width * img.height > MAX_IMAGE_PIXELS) throw new ImageError(`image is ${img.width}×${img.height}; at most ${MAX_IMAGE_PIXELS} pixels are accepted`);
  let { data, channels } = img;
  if (img.palette) {
    // Expand palette indices to RGB(A).
    const pal = img.palette;
    const pc = pal[0]!.length;
    const out = new Uint8Array(img.width * img.height * pc);
    for (let i = 0; i < img.width * img.height; i++) out.set(pal[(data as Uint8Array)[i]!]!, i * pc);
    data = out;
    channels = pc;
  }
  let u8: Uint8Array;
  if (img.depth === 16) u8 = Uint8Array.from(data as Uint16Array, (v) => v >> 8);
  else if (img.depth < 8 && !img.palette) {
    const max = (1 << img.depth) - 1;
    u8 = Uint8Array.from(data as Uint8Array, (v) => Math.round((v * 255) / max));
  } else u8 = data as Uint8Array;
  return { width: img.width, height: img.height, channels, data: u8 };
}

/** Converts any of 1-4 channels (grey, grey+alpha, RGB, RGBA) to 1 or 3 channels. */
export function convertChannels(img: Decoded, want: number): Decoded {
  const { width, height, channels: c, data } = img;
  if (c === want) return img;
  if (want !== 1 && want !== 3) throw new ImageError(`the model needs ${want} channels; only 1 or 3 are supported`);
  const out = new Uint8Array(width * height * want);
  for (let i = 0; i < width * height; i++) {
    const p = i * c;
    const alpha = c === 2 ? data[p + 1]! / 255 : c === 4 ? data[p + 3]! / 255 : 1;
    const [r, g, b] = c >= 3 ? [data[p]!, data[p + 1]!, data[p + 2]!] : [data[p]!, data[p]!, data[p]!];
    if (want === 1) out[i] = Math.round((0.299 * r + 0.587 * g + 0.114 * b) * alpha);
    else { out[i * 3] = Math.round(r * alpha); out[i * 3 + 1] = Math.round(g * alpha); out[i * 3 + 2] = Math.round(b * alpha); }
  }
  return { width, height, channels: want, data: out };
}

export function resize(img: Decoded, width: number, height: number): Decoded {
  if (img.width === width && img.height === height) return img;
  const C = img.channels, out = new Uint8Array(width * height * C);
  const sx = img.width / width, sy = img.height / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < C; c++) {
        let v: number;
        if (sx >= 1 && sy >= 1) {
          // Area average over the source footprint (integer cells, enough for thumbnails).
          const x0 = Math.floor(x * sx), x1 = Math.max(x0 + 1, Math.floor((x + 1) * sx));
          const y0 = Math.floor(y * sy), y1 = Math.max(y0 + 1, Math.floor((y + 1) * sy));
          let sum = 0;
          for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) sum += img.data[(yy * img.width + xx) * C + c]!;
          v = sum / ((x1 - x0) * (y1 - y0));
        } else {
          const fx = Math.min(img.width - 1, Math.max(0, (x + 0.5) * sx - 0.5)), fy = Math.min(img.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
          const xa = Math.floor(fx), ya = Math.floor(fy), xb = Math.min(img.width - 1, xa + 1), yb = Math.min(img.height - 1, ya + 1);
          const px = (xx: number, yy: number) => img.data[(yy * img.width + xx) * C + c]!;
          const top = px(xa, ya) * (1 - (fx - xa)) + px(xb, ya) * (fx - xa);
          const bot = px(xa, yb) * (1 - (fx - xa)) + px(xb, yb) * (fx - xa);
          v = top * (1 - (fy - ya)) + bot * (fy - ya);
        }
        out[(y * width + x) * C + c] = Math.round(v);
      }
    }
  }
  return { width, height, channels: C, data: out };
}

/** PNG bytes → u8 HWC of exactly the model's shape. */
export function pngToModelInput(bytes: Uint8Array, shape: ImageShape): Uint8Array {
  return resize(convertChannels(decodePng(bytes), shape.channels), shape.width, shape.height).data;
}
