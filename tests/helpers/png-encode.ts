/**
 * A small PNG encoder for tests and fuzzing (every colour type and bit depth, Adam7, every filter
 * type, split IDATs, hand-made chunk lists with bad CRCs), plus `expectedPixels`, an independent
 * oracle for what core/png.ts must decode an image to. Plain TS + pako: runs in Node and workerd.
 *
 * @example
 * const img: PngImage = { width: 2, height: 1, colorType: 0, bitDepth: 8, samples: [0, 255] };
 * const bytes = encodePng(img, { filter: 'mixed', idatSplit: 7 });
 * const want = expectedPixels(img, 1); // Uint8Array [0, 255]
 * const broken = assemblePng(pngChunks(img).map((c) => (c.type === 'IDAT' ? { ...c, crc: 0 } : c)));
 */
import pako from 'pako';

export type ColorType = 0 | 2 | 3 | 4 | 6;
export interface PngImage {
  width: number;
  height: number;
  colorType: ColorType;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  interlace?: 0 | 1;
  /** row-major samples, channels per pixel by colour type (0:1, 2:3, 3:1 palette index, 4:2, 6:4), each < 2^bitDepth */
  samples: ArrayLike<number>;
  palette?: [number, number, number][];
  /** tRNS payload as the spec lays it out */
  trns?: Uint8Array;
}
export interface Chunk {
  type: string;
  data: Uint8Array /** override the CRC (to write a bad one) */;
  crc?: number;
}

/** Samples per pixel by colour type (PNG spec, table 11.1). */
const CHANNELS: Record<ColorType, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** Adam7 passes: [x0, y0, dx, dy] (PNG spec, 8.2). */
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
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; // reflected CRC-32 polynomial
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG uses it) of bytes, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);

function checkImage(img: PngImage): void {
  const n = img.width * img.height * CHANNELS[img.colorType];
  if (img.samples.length !== n)
    throw new Error(
      `samples has ${img.samples.length} values; ${img.width}×${img.height} colour type ${img.colorType} needs ${n}`,
    );
  const max = 2 ** img.bitDepth;
  for (let i = 0; i < n; i++) {
    const v = img.samples[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= max)
      throw new Error(`sample ${i} is ${v}; bit depth ${img.bitDepth} needs 0..${max - 1}`);
  }
}

/** Packs one row of samples (MSB first below 8 bits, big-endian at 16) into bytes. */
function packRow(img: PngImage, xs: number[], y: number): Uint8Array {
  const ch = CHANNELS[img.colorType],
    bd = img.bitDepth;
  const out = new Uint8Array(Math.ceil((xs.length * ch * bd) / 8));
  let bit = 0;
  for (const x of xs) {
    for (let c = 0; c < ch; c++) {
      const v = img.samples[(y * img.width + x) * ch + c]!;
      if (bd === 16) {
        out[bit >> 3] = v >> 8;
        out[(bit >> 3) + 1] = v & 0xff;
      } else if (bd === 8) out[bit >> 3] = v;
      else out[bit >> 3]! |= v << (8 - bd - (bit & 7));
      bit += bd;
    }
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c,
    pa = Math.abs(p - a),
    pb = Math.abs(p - b),
    pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filter byte + filtered row (PNG spec, 9.2); prev is the unfiltered previous row of the pass. */
function filterRow(type: number, row: Uint8Array, prev: Uint8Array, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length + 1);
  out[0] = type;
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0,
      b = prev[i]!,
      c = i >= bpp ? prev[i - bpp]! : 0;
    const pred = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >> 1 : paeth(a, b, c);
    out[i + 1] = (row[i]! - pred) & 0xff;
  }
  return out;
}

/** The raw (filtered, uncompressed) scanline stream of img. 'mixed': the n-th row written uses filter n % 5. */
function rawData(img: PngImage, filter: 0 | 1 | 2 | 3 | 4 | 'mixed'): Uint8Array {
  const ch = CHANNELS[img.colorType];
  const bpp = Math.max(1, (ch * img.bitDepth) / 8); // filter distance in bytes, at least one (spec 9.2)
  const passes = img.interlace ? ADAM7 : [[0, 0, 1, 1] as const];
  const rows: Uint8Array[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const xs: number[] = [];
    for (let x = x0; x < img.width; x += dx) xs.push(x);
    if (xs.length === 0) continue; // an empty pass has no scanlines at all, not even filter bytes
    let prev: Uint8Array = new Uint8Array(Math.ceil((xs.length * ch * img.bitDepth) / 8));
    for (let y = y0; y < img.height; y += dy) {
      const row = packRow(img, xs, y);
      rows.push(filterRow(filter === 'mixed' ? rows.length % 5 : filter, row, prev, bpp));
      prev = row;
    }
  }
  const out = new Uint8Array(rows.reduce((s, r) => s + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

/** The chunk list of a valid PNG for img (IHDR, PLTE?, tRNS?, IDAT×n, IEND). filter: one filter type for every row, or 'mixed' (row i uses i % 5). idatSplit: max bytes per IDAT chunk. */
export function pngChunks(
  img: PngImage,
  opts: { filter?: 0 | 1 | 2 | 3 | 4 | 'mixed'; idatSplit?: number; zlibLevel?: number } = {},
): Chunk[] {
  checkImage(img);
  const ihdr = new Uint8Array(13);
  ihdr.set(u32(img.width), 0);
  ihdr.set(u32(img.height), 4);
  ihdr.set([img.bitDepth, img.colorType, 0, 0, img.interlace ?? 0], 8); // compression 0, filter method 0
  const chunks: Chunk[] = [{ type: 'IHDR', data: ihdr }];
  if (img.palette) chunks.push({ type: 'PLTE', data: Uint8Array.from(img.palette.flat()) });
  if (img.trns) chunks.push({ type: 'tRNS', data: img.trns });
  const level = (opts.zlibLevel ?? 6) as pako.DeflateFunctionOptions['level']; // 6: zlib's default
  const z = pako.deflate(rawData(img, opts.filter ?? 0), { level });
  const split = Math.max(1, opts.idatSplit ?? z.length);
  for (let i = 0; i < z.length || i === 0; i += split) chunks.push({ type: 'IDAT', data: z.subarray(i, i + split) });
  chunks.push({ type: 'IEND', data: new Uint8Array(0) });
  return chunks;
}

/** Signature + chunks with correct CRCs (unless crc is given) → bytes. */
export function assemblePng(chunks: Chunk[], opts: { signature?: Uint8Array } = {}): Uint8Array {
  const sig = opts.signature ?? SIGNATURE;
  const out = new Uint8Array(sig.length + chunks.reduce((s, c) => s + 12 + c.data.length, 0)); // 12: length + type + CRC
  out.set(sig, 0);
  let o = sig.length;
  for (const c of chunks) {
    const typeAndData = new Uint8Array(4 + c.data.length);
    for (let i = 0; i < 4; i++) typeAndData[i] = c.type.charCodeAt(i) & 0xff; // any byte, so fuzzers can write bad names
    typeAndData.set(c.data, 4);
    out.set(u32(c.data.length), o);
    out.set(typeAndData, o + 4);
    out.set(u32(c.crc ?? crc32(typeAndData)), o + 8 + c.data.length);
    o += 12 + c.data.length;
  }
  return out;
}

/** img → PNG bytes. @example encodePng({ width: 1, height: 1, colorType: 6, bitDepth: 8, samples: [255, 0, 0, 128] }) */
export function encodePng(img: PngImage, opts?: Parameters<typeof pngChunks>[1]): Uint8Array {
  return assemblePng(pngChunks(img, opts));
}

/** What a correct reader must produce for img: u8, channels = want (1 or 3), same conversion rules as core/image.ts, no resize. */
export function expectedPixels(img: PngImage, want: 1 | 3): Uint8Array {
  checkImage(img);
  const ch = CHANNELS[img.colorType],
    bd = img.bitDepth,
    max = 2 ** bd - 1;
  const t = img.trns;
  const out = new Uint8Array(img.width * img.height * want);
  // Sample → u8, as core/image.ts's rules say: 16-bit keeps the high byte, low-bit grey is stretched.
  const to8 = (v: number) => (bd === 16 ? v >> 8 : Math.round((v * 255) / max));
  for (let i = 0; i < img.width * img.height; i++) {
    const s = Array.from({ length: ch }, (_, c) => img.samples[i * ch + c]!);
    let r: number,
      g: number,
      b: number,
      a = 255;
    if (img.colorType === 3) {
      const p = img.palette?.[s[0]!];
      if (!p) throw new Error(`palette index ${s[0]} has no palette entry`);
      [r, g, b] = p;
      if (t && s[0]! < t.length) a = t[s[0]!]!;
    } else if (img.colorType === 0 || img.colorType === 4) {
      r = g = b = to8(s[0]!);
      if (img.colorType === 4) a = to8(s[1]!);
      else if (t && s[0] === ((t[0]! << 8) | t[1]!)) a = 0; // grey colour key: fully transparent
    } else {
      [r, g, b] = [to8(s[0]!), to8(s[1]!), to8(s[2]!)];
      if (img.colorType === 6) a = to8(s[3]!);
      else if (
        t &&
        s[0] === ((t[0]! << 8) | t[1]!) &&
        s[1] === ((t[2]! << 8) | t[3]!) &&
        s[2] === ((t[4]! << 8) | t[5]!)
      )
        a = 0;
    }
    // Composite on black, then BT.601 luma for grey; the same arithmetic as convertChannels.
    const alpha = a / 255;
    if (want === 1) out[i] = Math.round((0.299 * r + 0.587 * g + 0.114 * b) * alpha);
    else {
      out[i * 3] = Math.round(r * alpha);
      out[i * 3 + 1] = Math.round(g * alpha);
      out[i * 3 + 2] = Math.round(b * alpha);
    }
  }
  return out;
}
