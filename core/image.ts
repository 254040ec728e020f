/**
 * Client images → the model's u8 HWC input: PNG decoding (core/png.ts: strict, with caps derived
 * from the model's shape and checked before anything is inflated), channel conversion (ITU-R
 * BT.601 luma for RGB → grey; alpha composited on black, as Fashion-MNIST's background is black;
 * png.ts decodes straight to the model's channels, convertChannels is for other sources) and resizing (area averaging when shrinking,
 * bilinear when enlarging).
 *
 * @example
 * const u8 = pngToModelInput(bytes, { channels: 1, height: 28, width: 28 });
 */
import type { ImageShape } from './normalise.js';
import { type Decoded, decodePng, ImageError, pngOptionsFor, writePixel } from './png.js';

export { type Decoded, ImageError };

/** Converts any of 1-4 channels (grey, grey+alpha, RGB, RGBA) to 1 or 3 channels. */
export function convertChannels(img: Decoded, want: number): Decoded {
  const { width, height, channels: c, data } = img;
  if (c === want) return img;
  if (want !== 1 && want !== 3) throw new ImageError(`the model needs ${want} channels; only 1 or 3 are supported`);
  const out = new Uint8Array(width * height * want);
  for (let i = 0; i < width * height; i++) {
    const p = i * c;
    const a = c === 2 ? data[p + 1]! : c === 4 ? data[p + 3]! : 255;
    if (c >= 3) writePixel(out, i * want, want, data[p]!, data[p + 1]!, data[p + 2]!, a);
    else writePixel(out, i * want, want, data[p]!, data[p]!, data[p]!, a);
  }
  return { width, height, channels: want, data: out };
}

export function resize(img: Decoded, width: number, height: number): Decoded {
  if (img.width === width && img.height === height) return img;
  const C = img.channels,
    out = new Uint8Array(width * height * C);
  const sx = img.width / width,
    sy = img.height / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < C; c++) {
        let v: number;
        if (sx >= 1 && sy >= 1) {
          // Area average over the source footprint (integer cells, enough for thumbnails).
          const x0 = Math.floor(x * sx),
            x1 = Math.max(x0 + 1, Math.floor((x + 1) * sx));
          const y0 = Math.floor(y * sy),
            y1 = Math.max(y0 + 1, Math.floor((y + 1) * sy));
          let sum = 0;
          for (let yy = y0; yy < y1; yy++)
            for (let xx = x0; xx < x1; xx++) sum += img.data[(yy * img.width + xx) * C + c]!;
          v = sum / ((x1 - x0) * (y1 - y0));
        } else {
          const fx = Math.min(img.width - 1, Math.max(0, (x + 0.5) * sx - 0.5)),
            fy = Math.min(img.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
          const xa = Math.floor(fx),
            ya = Math.floor(fy),
            xb = Math.min(img.width - 1, xa + 1),
            yb = Math.min(img.height - 1, ya + 1);
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

/**
 * PNG bytes → u8 HWC of exactly the model's shape; the size caps follow from the shape (pngOptionsFor).
 * @example pngToModelInput(bytes, { channels: 1, height: 28, width: 28 }).length // 784
 */
export function pngToModelInput(bytes: Uint8Array, shape: ImageShape): Uint8Array {
  return resize(decodePng(bytes, pngOptionsFor(shape)), shape.width, shape.height).data;
}
