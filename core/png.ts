/**
 * A strict, bounded PNG reader for client images (pure TS + pako: runs in workerd, Node and
 * browsers). It validates the whole chunk structure (lengths, CRCs, order, IHDR fields) and checks
 * the size caps from IHDR alone before inflating a byte; then it inflates as a stream and decodes
 * scanline by scanline (only the current and previous scanline are held), stopping as soon as the
 * zlib stream yields more than the header implies. Pixels go straight to the model's channel count
 * as u8. Every invalid input throws ImageError, and nothing else escapes.
 *
 * @example
 * const opts = pngOptionsFor({ channels: 1, height: 28, width: 28 });
 * pngHeader(bytes, opts);                 // { width, height, bitDepth, colorType, … } or ImageError
 * const img = decodePng(bytes, opts);     // { width, height, channels: 1, data: Uint8Array }
 */
import pako from 'pako';
import type { ImageShape } from './normalise.js';

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

export interface Decoded {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

export type PngColorType = 0 | 2 | 3 | 4 | 6;
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: PngColorType;
  interlace: 0 | 1;
}

export interface PngOptions {
  /** Output channels: 1 (grey) or 3 (RGB). */
  channels: 1 | 3;
  /** Largest width × height accepted. */
  maxPixels: number;
  /** Largest working memory (output image + scanline buffers), bytes. */
  maxMemoryBytes: number;
  /** Largest inflated scanline data (filter bytes included), bytes: bounds the CPU time. */
  maxInflatedBytes: number;
}

/**
 * Caps, and why. The model reads only C×H×W values (28×28×1 = 784 for Fashion-MNIST); anything
 * larger is shrunk to that, so a client gains nothing from huge images. MODEL_PIXEL_FACTOR: 1024×
 * the model's pixel count (802,816 = 896² for 28×28) still leaves a 32× linear margin for
 * cropping, and bounds per-pixel work. MAX_DECODE_MEMORY_BYTES: the isolate has 128 MB for
 * everything (bundle, model weights, request bodies up to 8 MiB), so the decoder may hold at most
 * 1/8 of it (the output image + two scanlines; the inflated stream itself is never held).
 * MAX_INFLATED_BYTES: scanline data is not held but costs CPU (inflate + unfilter + convert).
 * This 2-core VM is slow (≈ 3.7 ns per trivial JS loop step). Measured here on Node 22
 * (tests/unit/png.test.ts prints it as "worst case at the cap"): the worst image the caps admit,
 * RGBA 16-bit Adam7 511² (2.09 MB of scanlines, Paeth, random pixels, 2 MB of PNG), decodes in
 * 56 ms (median of 7; 81 ms on the first, cold call); 8-bit grey Adam7 at the full 896² in 24 ms.
 * At 4096× / 16 MiB the same images took 400-800 ms, so those caps were cut to these.
 */
export const MODEL_PIXEL_FACTOR = 1024;
export const MAX_DECODE_MEMORY_BYTES = 16 * 1024 * 1024;
export const MAX_INFLATED_BYTES = 2 * 1024 * 1024;

/** The caps for a model input shape. @example pngOptionsFor({ channels: 1, height: 28, width: 28 }).maxPixels // 802816 */
export function pngOptionsFor(shape: ImageShape): PngOptions {
  if (shape.channels !== 1 && shape.channels !== 3)
    throw new ImageError(`the model needs ${shape.channels} channels; only 1 or 3 are supported`);
  return {
    channels: shape.channels,
    maxPixels: MODEL_PIXEL_FACTOR * shape.height * shape.width,
    maxMemoryBytes: MAX_DECODE_MEMORY_BYTES,
    maxInflatedBytes: MAX_INFLATED_BYTES,
  };
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const MAX_U31 = 0x7fffffff; // PNG's 4-byte lengths and dimensions are limited to 2^31-1
/** Samples per pixel by colour type; the key set is also the set of valid colour types (spec 11.2.2). */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const BIT_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/** Adam7 passes: [x0, y0, dx, dy] (spec 8.2); a plain image is one pass [0, 0, 1, 1]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; // reflected CRC-32 polynomial
    t[n] = c;
  }
  return t;
})();

function crc32(b: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  w: number;
  h: number;
  rowBytes: number;
}

function passesOf(h: PngHeader): Pass[] {
  const ch = CHANNELS[h.colorType]!;
  return (h.interlace ? ADAM7 : [[0, 0, 1, 1] as const])
    .map(([x0, y0, dx, dy]) => {
      const w = h.width > x0 ? Math.ceil((h.width - x0) / dx) : 0,
        hh = h.height > y0 ? Math.ceil((h.height - y0) / dy) : 0;
      return { x0, y0, dx, dy, w, h: hh, rowBytes: Math.ceil((w * ch * h.bitDepth) / 8) };
    })
    .filter((p) => p.w > 0 && p.h > 0); // an empty pass has no scanlines, not even filter bytes
}

/** Bytes the zlib stream must inflate to: one filter byte + rowBytes per scanline of every pass. */
function inflatedSize(passes: Pass[]): number {
  return passes.reduce((s, p) => s + p.h * (1 + p.rowBytes), 0);
}

/**
 * Signature + IHDR → the header, validated; with opts also checks the caps, all from these 33
 * bytes, so a tiny PNG declaring 2^31-1 × 2^31-1 costs nothing. @example pngHeader(bytes).width
 */
export function pngHeader(bytes: Uint8Array, opts?: PngOptions): PngHeader {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b))
    throw new ImageError('not a PNG: the PNG signature is missing');
  if (bytes.length < 8 + 12 + 13) throw new ImageError('the PNG ends before its IHDR chunk'); // signature + chunk frame + IHDR body
  const type = String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!);
  if (type !== 'IHDR') throw new ImageError(`the first chunk must be IHDR, not ${JSON.stringify(type)}`);
  if (u32(bytes, 8) !== 13) throw new ImageError(`IHDR must be 13 bytes, not ${u32(bytes, 8)}`);
  if (crc32(bytes, 12, 29) !== u32(bytes, 29)) throw new ImageError('bad CRC in chunk IHDR');
  const width = u32(bytes, 16),
    height = u32(bytes, 20),
    bitDepth = bytes[24]!,
    colorType = bytes[25]!;
  if (width < 1 || width > MAX_U31 || height < 1 || height > MAX_U31)
    throw new ImageError(`IHDR declares ${width}×${height}; width and height must be 1..${MAX_U31}`);
  if (!(colorType in CHANNELS)) throw new ImageError(`IHDR declares colour type ${colorType}; valid are 0, 2, 3, 4, 6`);
  if (!BIT_DEPTHS[colorType]!.includes(bitDepth))
    throw new ImageError(
      `IHDR declares bit depth ${bitDepth} for colour type ${colorType}; valid are ${BIT_DEPTHS[colorType]!.join(', ')}`,
    );
  if (bytes[26] !== 0) throw new ImageError(`IHDR declares compression method ${bytes[26]}; only 0 exists`);
  if (bytes[27] !== 0) throw new ImageError(`IHDR declares filter method ${bytes[27]}; only 0 exists`);
  if (bytes[28]! > 1) throw new ImageError(`IHDR declares interlace method ${bytes[28]}; valid are 0 and 1`);
  const h: PngHeader = { width, height, bitDepth, colorType: colorType as PngColorType, interlace: bytes[28] as 0 | 1 };
  if (opts) checkCaps(h, opts);
  return h;
}

function checkCaps(h: PngHeader, opts: PngOptions): void {
  const pixels = h.width * h.height; // < 2^62: not exact above 2^53, but only compared against caps far below
  if (pixels > opts.maxPixels)
    throw new ImageError(
      `IHDR declares ${h.width}×${h.height} (${pixels} pixels); at most ${opts.maxPixels} pixels are accepted`,
    );
  const passes = passesOf(h),
    maxRow = passes.reduce((m, p) => Math.max(m, p.rowBytes), 0);
  const memory = pixels * opts.channels + 2 * (1 + maxRow) + 2 * h.width * CHANNELS[h.colorType]!; // output + 2 scanlines + u16 samples
  if (memory > opts.maxMemoryBytes)
    throw new ImageError(
      `decoding ${h.width}×${h.height} needs ${memory} bytes; at most ${opts.maxMemoryBytes} are available`,
    );
  const inflated = inflatedSize(passes);
  if (inflated > opts.maxInflatedBytes)
    throw new ImageError(
      `${h.width}×${h.height} at ${h.bitDepth} bits × ${CHANNELS[h.colorType]} samples has ${inflated} bytes of scanlines; at most ${opts.maxInflatedBytes} are decoded`,
    );
}

interface Structure {
  header: PngHeader;
  palette: Uint8Array | null;
  trns: Uint8Array | null;
  idats: Uint8Array[];
}

/** Walks every chunk: framing, CRC, names, order and the PLTE / tRNS rules (spec 5.3-5.6, 11.2-11.3). */
function readChunks(bytes: Uint8Array, header: PngHeader): Structure {
  const s: Structure = { header, palette: null, trns: null, idats: [] };
  const ct = header.colorType;
  let idat: 'before' | 'in' | 'after' = 'before';
  for (let off = 8; ; ) {
    if (off === bytes.length) throw new ImageError('the PNG has no IEND chunk');
    if (off + 12 > bytes.length) throw new ImageError(`the PNG ends inside a chunk frame at byte ${off}`);
    const len = u32(bytes, off);
    if (len > MAX_U31)
      throw new ImageError(`chunk at byte ${off} declares ${len} bytes; at most ${MAX_U31} are allowed`);
    if (off + 12 + len > bytes.length)
      throw new ImageError(`chunk at byte ${off} declares ${len} bytes but only ${bytes.length - off - 12} remain`);
    const t = bytes.subarray(off + 4, off + 8);
    if (!t.every(isLetter))
      throw new ImageError(
        `chunk at byte ${off} has type bytes [${Array.from(t).join(', ')}]; chunk types are four ASCII letters`,
      );
    const name = String.fromCharCode(...t),
      data = bytes.subarray(off + 8, off + 8 + len);
    if (crc32(bytes, off + 4, off + 8 + len) !== u32(bytes, off + 8 + len))
      throw new ImageError(`bad CRC in chunk ${name}`);
    if (t[2]! & 0x20)
      throw new ImageError(`chunk ${name} has a lowercase third letter (the reserved bit); no valid chunk has it`);
    if ((off === 8) !== (name === 'IHDR'))
      throw new ImageError(off === 8 ? `the first chunk must be IHDR, not ${name}` : 'IHDR appears twice');
    off += 12 + len;
    if (name === 'IDAT') {
      if (idat === 'after') throw new ImageError('IDAT chunks are not consecutive');
      idat = 'in';
      s.idats.push(data);
      continue;
    }
    if (idat === 'in') idat = 'after';
    if (name === 'IEND') {
      if (len !== 0) throw new ImageError(`IEND must be empty, not ${len} bytes`);
      if (off !== bytes.length) throw new ImageError(`${bytes.length - off} bytes follow IEND`);
      break;
    }
    if (name === 'PLTE') {
      if (s.palette) throw new ImageError('PLTE appears twice');
      if (idat !== 'before') throw new ImageError('PLTE comes after IDAT');
      if (s.trns) throw new ImageError('PLTE comes after tRNS');
      if (ct === 0 || ct === 4) throw new ImageError(`PLTE is not allowed in a grey image (colour type ${ct})`);
      const entries = len / 3,
        most = ct === 3 ? Math.min(256, 2 ** header.bitDepth) : 256;
      if (!Number.isInteger(entries) || entries < 1 || entries > most)
        throw new ImageError(`PLTE has ${len} bytes; it must hold 1..${most} RGB entries of 3 bytes`);
      s.palette = data;
    } else if (name === 'tRNS') {
      if (s.trns) throw new ImageError('tRNS appears twice');
      if (idat !== 'before') throw new ImageError('tRNS comes after IDAT');
      checkTrns(data, header, s.palette);
      s.trns = data;
    } else if (name !== 'IHDR' && !(t[0]! & 0x20)) throw new ImageError(`unknown critical chunk ${name}`);
    // Unknown ancillary chunks (lowercase first letter) carry nothing the model needs: skipped.
  }
  if (s.idats.length === 0) throw new ImageError('the PNG has no IDAT chunk');
  if (ct === 3 && !s.palette) throw new ImageError('a palette image (colour type 3) needs a PLTE chunk');
  return s;
}

function checkTrns(data: Uint8Array, h: PngHeader, palette: Uint8Array | null): void {
  if (h.colorType === 4 || h.colorType === 6)
    throw new ImageError(`tRNS is not allowed with an alpha channel (colour type ${h.colorType})`);
  if (h.colorType === 3) {
    if (!palette) throw new ImageError('tRNS comes before PLTE');
    if (data.length > palette.length / 3)
      throw new ImageError(`tRNS has ${data.length} alpha values for ${palette.length / 3} palette entries`);
    return;
  }
  const want = h.colorType === 0 ? 2 : 6; // one or three 16-bit samples
  if (data.length !== want)
    throw new ImageError(`tRNS for colour type ${h.colorType} must be ${want} bytes, not ${data.length}`);
  for (let i = 0; i < want; i += 2) {
    const v = (data[i]! << 8) | data[i + 1]!;
    if (v >= 2 ** h.bitDepth) throw new ImageError(`tRNS colour key ${v} does not fit in ${h.bitDepth} bits`);
  }
}

/**
 * PNG bytes → u8 pixels with opts.channels channels: 16-bit keeps the high byte, low-bit grey is
 * stretched to 0-255, RGB → grey is ITU-R BT.601 luma, alpha (and tRNS) is composited on black.
 * @example decodePng(bytes, pngOptionsFor({ channels: 1, height: 28, width: 28 })).data
 */
export function decodePng(bytes: Uint8Array, opts: PngOptions): Decoded {
  const s = readChunks(bytes, pngHeader(bytes, opts));
  return decodePixels(s, opts.channels);
}

function decodePixels(s: Structure, want: 1 | 3): Decoded {
  const h = s.header,
    passes = passesOf(h),
    expected = inflatedSize(passes);
  const out = new Uint8Array(h.width * h.height * want);
  const emit = rowWriter(s, out, want);
  const maxRow = passes.reduce((m, p) => Math.max(m, p.rowBytes), 0);
  // Both buffers hold [filter byte, row bytes…]; prev is the unfiltered previous row of the pass.
  let cur = new Uint8Array(1 + maxRow),
    prev = new Uint8Array(1 + maxRow);
  const bpp = Math.max(1, (CHANNELS[h.colorType]! * h.bitDepth) >> 3); // filter distance in bytes (spec 9.2)
  let pi = 0,
    y = 0,
    fill = 0,
    total = 0;
  const onData = (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > expected)
      throw new ImageError(
        `the image data inflates to more than the ${expected} bytes its ${h.width}×${h.height} header implies`,
      );
    for (let i = 0; i < chunk.length; ) {
      const p = passes[pi]!,
        need = 1 + p.rowBytes - fill,
        n = Math.min(need, chunk.length - i);
      cur.set(chunk.subarray(i, i + n), fill);
      fill += n;
      i += n;
      if (fill < 1 + p.rowBytes) break;
      unfilter(cur, prev, p.rowBytes, bpp, y, pi);
      emit(cur, p, y);
      [cur, prev] = [prev, cur];
      fill = 0;
      if (++y === p.h) {
        y = 0;
        pi++;
        prev.fill(0);
      } // each pass starts as if above it were a zero row
    }
  };
  inflate(s.idats, onData);
  if (total !== expected)
    throw new ImageError(
      `the image data inflates to ${total} bytes; its ${h.width}×${h.height} header implies ${expected}`,
    );
  return { width: h.width, height: h.height, channels: want, data: out };
}

/** Streams the IDAT payloads through zlib; onData sees each ≤ 16 KiB piece as it is produced. */
function inflate(idats: Uint8Array[], onData: (chunk: Uint8Array) => void): void {
  const z = new pako.Inflate({ windowBits: 15 }); // 15: zlib wrapper only (no gzip autodetect), 32 KiB window, as PNG says
  z.onData = (c) => onData(c as Uint8Array);
  // pako 1.x internals the typings omit: `ended` (the stream reached its end) and the input left unread after it.
  const zi = z as unknown as { ended: boolean; strm: { avail_in: number } },
    strm = zi.strm;
  for (const d of idats) {
    if (d.length === 0) continue; // an empty IDAT is legal; pako would report "buffer error" for no input
    if (zi.ended) throw new ImageError('data follows the end of the zlib stream');
    try {
      z.push(d, false);
    } catch (e) {
      if (e instanceof ImageError) throw e;
      throw new ImageError(`the zlib stream is corrupt: ${(e as Error).message}`); // pako is not ours: wrap whatever it throws
    }
    if (z.err) throw new ImageError(`the zlib stream is corrupt: ${z.msg || `zlib error ${z.err}`}`);
    if (zi.ended && strm.avail_in > 0) throw new ImageError('data follows the end of the zlib stream');
  }
  if (!zi.ended) throw new ImageError('the zlib stream is truncated (IDAT data ends before the stream does)');
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c,
    pa = Math.abs(p - a),
    pb = Math.abs(p - b),
    pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undoes the row's filter in place (spec 9.2); bytes before the row's start count as 0. */
function unfilter(cur: Uint8Array, prev: Uint8Array, n: number, bpp: number, y: number, pass: number): void {
  const f = cur[0]!;
  // Indices run 1..n (0 is the filter byte); left neighbours exist from 1 + bpp on.
  switch (f) {
    case 0:
      return;
    case 1:
      for (let i = 1 + bpp; i <= n; i++) cur[i] = cur[i]! + cur[i - bpp]!;
      return;
    case 2:
      for (let i = 1; i <= n; i++) cur[i] = cur[i]! + prev[i]!;
      return;
    case 3:
      for (let i = 1; i <= Math.min(n, bpp); i++) cur[i] = cur[i]! + (prev[i]! >> 1);
      for (let i = 1 + bpp; i <= n; i++) cur[i] = cur[i]! + ((cur[i - bpp]! + prev[i]!) >> 1);
      return;
    case 4:
      for (let i = 1; i <= Math.min(n, bpp); i++) cur[i] = cur[i]! + prev[i]!; // paeth(0, b, 0) = b
      for (let i = 1 + bpp; i <= n; i++) cur[i] = cur[i]! + paeth(cur[i - bpp]!, prev[i]!, prev[i - bpp]!);
      return;
    default:
      throw new ImageError(
        `scanline ${y}${pass ? ` of Adam7 pass ${pass + 1}` : ''} has filter type ${f}; valid are 0-4`,
      );
  }
}

/** A function that turns one unfiltered scanline of a pass into output pixels. */
function rowWriter(s: Structure, out: Uint8Array, want: 1 | 3): (row: Uint8Array, p: Pass, y: number) => void {
  const { width, bitDepth: bd, colorType: ct } = s.header,
    ch = CHANNELS[ct]!;
  const samples = new Uint16Array(width * ch),
    rgba = new Uint8Array(width * 4);
  const mask = (1 << bd) - 1;
  // Sample → u8 = lut[v >> shift]: 16-bit keeps the high byte; grey below 8 bits is stretched
  // (round(v·255/max)); 8-bit and palette indices stay as they are.
  const shift = bd === 16 ? 8 : 0;
  const lut = Uint8Array.from({ length: 256 }, (_, v) =>
    bd < 8 && ct !== 3 ? Math.round((Math.min(v, mask) * 255) / mask) : v,
  );
  const entries = s.palette ? s.palette.length / 3 : 0;
  const pal = new Uint8Array(256 * 4).fill(255); // RGBA per index; no tRNS entry means opaque
  for (let i = 0; i < entries; i++) pal.set(s.palette!.subarray(3 * i, 3 * i + 3), 4 * i);
  if (ct === 3 && s.trns) for (let i = 0; i < s.trns.length; i++) pal[4 * i + 3] = s.trns[i]!;
  // Colour key (tRNS for grey / RGB): matching pixels are fully transparent. -1 matches nothing.
  const key = [-1, -1, -1];
  if (s.trns && ct !== 3)
    for (let i = 0; i < s.trns.length / 2; i++) key[i] = (s.trns[2 * i]! << 8) | s.trns[2 * i + 1]!;
  const [k0, k1, k2] = key as [number, number, number];
  return (row, p, y) => {
    const n = p.w * ch,
      w = p.w;
    if (bd === 8) for (let k = 0; k < n; k++) samples[k] = row[1 + k]!;
    else if (bd === 16) for (let k = 0; k < n; k++) samples[k] = (row[1 + 2 * k]! << 8) | row[2 + 2 * k]!;
    else
      for (let k = 0, bit = 0; k < n; k++, bit += bd)
        samples[k] = (row[1 + (bit >> 3)]! >> (8 - bd - (bit & 7))) & mask; // MSB first
    switch (ct) {
      case 0:
        for (let x = 0; x < w; x++) {
          const v = samples[x]!,
            g = lut[v >> shift]!;
          rgba[4 * x] = rgba[4 * x + 1] = rgba[4 * x + 2] = g;
          rgba[4 * x + 3] = v === k0 ? 0 : 255;
        }
        break;
      case 2:
        for (let x = 0; x < w; x++) {
          const r = samples[3 * x]!,
            g = samples[3 * x + 1]!,
            b = samples[3 * x + 2]!;
          rgba[4 * x] = lut[r >> shift]!;
          rgba[4 * x + 1] = lut[g >> shift]!;
          rgba[4 * x + 2] = lut[b >> shift]!;
          rgba[4 * x + 3] = r === k0 && g === k1 && b === k2 ? 0 : 255;
        }
        break;
      case 3:
        for (let x = 0; x < w; x++) {
          const i = samples[x]!;
          if (i >= entries) throw new ImageError(`palette index ${i} is past the palette's ${entries} entries`);
          rgba[4 * x] = pal[4 * i]!;
          rgba[4 * x + 1] = pal[4 * i + 1]!;
          rgba[4 * x + 2] = pal[4 * i + 2]!;
          rgba[4 * x + 3] = pal[4 * i + 3]!;
        }
        break;
      case 4:
        for (let x = 0; x < w; x++) {
          const g = lut[samples[2 * x]! >> shift]!;
          rgba[4 * x] = rgba[4 * x + 1] = rgba[4 * x + 2] = g;
          rgba[4 * x + 3] = lut[samples[2 * x + 1]! >> shift]!;
        }
        break;
      default:
        for (let k = 0; k < 4 * w; k++) rgba[k] = lut[samples[k]! >> shift]!;
    }
    let o = ((p.y0 + y * p.dy) * width + p.x0) * want;
    const step = p.dx * want;
    // writePixel's arithmetic, inlined per output channel count (this loop runs once per pixel).
    if (want === 1) {
      for (let x = 0; x < 4 * w; x += 4, o += step)
        out[o] = Math.round((0.299 * rgba[x]! + 0.587 * rgba[x + 1]! + 0.114 * rgba[x + 2]!) * (rgba[x + 3]! / 255));
    } else {
      for (let x = 0; x < 4 * w; x += 4, o += step) {
        const alpha = rgba[x + 3]! / 255;
        out[o] = Math.round(rgba[x]! * alpha);
        out[o + 1] = Math.round(rgba[x + 1]! * alpha);
        out[o + 2] = Math.round(rgba[x + 2]! * alpha);
      }
    }
  };
}

/**
 * One pixel → want channels at out[o]: alpha composited on black (Fashion-MNIST's background is
 * black), then BT.601 luma for grey. With a = 255 this is the identity on grey and RGB (the luma
 * weights sum to 1 within 1e-15, far from a rounding boundary). Shared with convertChannels.
 */
export function writePixel(out: Uint8Array, o: number, want: number, r: number, g: number, b: number, a: number): void {
  const alpha = a / 255;
  if (want === 1) out[o] = Math.round((0.299 * r + 0.587 * g + 0.114 * b) * alpha);
  else {
    out[o] = Math.round(r * alpha);
    out[o + 1] = Math.round(g * alpha);
    out[o + 2] = Math.round(b * alpha);
  }
}
