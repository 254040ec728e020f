/**
 * PNG generators for `POST /v1/classify` (image/png): valid images of every colour type, bit depth
 * and interlace method, labelled-VALID mutations (unknown ancillary chunks with correct CRCs, IDATs
 * split differently, empty IDATs, suggested palettes) and labelled-INVALID ones (bad CRCs, unknown
 * critical chunks, bad IHDR fields, chunk order, truncation, trailing bytes, huge declared sizes,
 * zlib bombs, palette indices out of range, bad filter bytes, …). Built on tests/helpers/png-encode.ts.
 */
import fc from 'fast-check';
import pako from 'pako';
import { assemblePng, type Chunk, type ColorType, crc32, type PngImage, pngChunks } from '../helpers/png-encode.js';
import type { FuzzCase, FuzzClass, FuzzModel } from './types.js';
import { concat, enc, prng, randomBytes } from './util.js';

const DEPTHS: Record<ColorType, (1 | 2 | 4 | 8 | 16)[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const CH: Record<ColorType, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
type Opts = NonNullable<Parameters<typeof pngChunks>[1]>;
export interface GenPng {
  img: PngImage;
  opts: Opts;
  bytes: Uint8Array;
  chunks: Chunk[];
  desc: string;
}

const PNG_TYPES = ['image/png', 'IMAGE/PNG', 'image/png; q=1', 'Image/Png'];

/** A random valid image (≤ maxDim × maxDim) and its encoding options. */
export function validPngArb(
  _m: FuzzModel,
  maxDim = 64,
  force: Partial<{ colorType: ColorType; minIdats: number }> = {},
): fc.Arbitrary<GenPng> {
  return fc
    .record({
      colorType:
        force.colorType !== undefined ? fc.constant(force.colorType) : fc.constantFrom<ColorType>(0, 2, 3, 4, 6),
      d: fc.nat(4),
      w: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: maxDim }), fc.constant(28)),
      h: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: maxDim }), fc.constant(28)),
      interlace: fc.constantFrom<0 | 1>(0, 1),
      s: fc.integer(),
      pal: fc.integer({ min: 1, max: 256 }),
      trns: fc.boolean(),
      filter: fc.constantFrom<Opts['filter']>(0, 1, 2, 3, 4, 'mixed'),
      split: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
      level: fc.integer({ min: 0, max: 9 }),
    })
    .map(({ colorType, d, w, h, interlace, s, pal, trns, filter, split, level }) => {
      const depths = DEPTHS[colorType],
        bitDepth = depths[d % depths.length]!;
      const r = prng(s),
        max = 2 ** bitDepth;
      const palSize = Math.min(pal, max, 256);
      const n = w * h * CH[colorType];
      const samples = new Array<number>(n);
      // Mostly smooth images (a gradient plus noise), sometimes pure noise: both exercise every filter.
      const noise = r() < 0.3;
      for (let i = 0; i < n; i++) {
        const v = noise ? r() : ((i % (w * CH[colorType])) / (w * CH[colorType]) + r() * 0.1) % 1;
        samples[i] = colorType === 3 ? Math.floor(v * palSize) : Math.floor(v * max);
      }
      const img: PngImage = { width: w, height: h, colorType, bitDepth, interlace, samples };
      if (colorType === 3)
        img.palette = Array.from(
          { length: palSize },
          () => [Math.floor(r() * 256), Math.floor(r() * 256), Math.floor(r() * 256)] as [number, number, number],
        );
      if (trns) {
        if (colorType === 3) img.trns = randomBytes(s ^ 7, Math.max(1, Math.floor(r() * palSize)));
        else if (colorType === 0 || colorType === 2) {
          const k = new Uint8Array(colorType === 0 ? 2 : 6);
          for (let i = 0; i < k.length; i += 2) {
            const v = Math.floor(r() * max);
            k[i] = v >> 8;
            k[i + 1] = v & 0xff;
          }
          img.trns = k;
        }
      }
      const minSplit = force.minIdats ? 1 + (s & 3) : undefined;
      const opts: Opts = {
        filter,
        zlibLevel: level,
        ...(split !== undefined || minSplit ? { idatSplit: minSplit ?? split } : {}),
      };
      const chunks = pngChunks(img, opts);
      const desc = `${w}×${h} ct${colorType} bd${bitDepth}${interlace ? ' adam7' : ''}${img.palette ? ` pal${palSize}` : ''}${img.trns ? ' trns' : ''} filter=${filter} z${level}${opts.idatSplit ? ` idat≤${opts.idatSplit}` : ''}`;
      return { img, opts, bytes: assemblePng(chunks), chunks, desc };
    });
}

const req = (bytes: Uint8Array, type: string) => ({
  method: 'POST',
  path: '/v1/classify',
  headers: [['content-type', type]] as [string, string][],
  body: bytes,
});
const ok = (cls: string, name: string, bytes: Uint8Array, type: string): FuzzCase => ({
  class: cls,
  name,
  request: req(bytes, type),
  expect: 'ok',
  answer: 'classify',
});
const bad = (cls: string, name: string, bytes: Uint8Array, type: string): FuzzCase => ({
  class: cls,
  name,
  request: req(bytes, type),
  expect: 400,
  expectJson: { code: 'BAD_PNG' },
});

const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
function ihdr(w: number, h: number, bitDepth: number, colorType: number, comp = 0, filter = 0, interlace = 0): Chunk {
  return { type: 'IHDR', data: concat(u32(w), u32(h), Uint8Array.of(bitDepth, colorType, comp, filter, interlace)) };
}
const withIhdr = (chunks: Chunk[], f: (d: Uint8Array) => void): Chunk[] =>
  chunks.map((c) => {
    if (c.type !== 'IHDR') return c;
    const d = c.data.slice();
    f(d);
    return { ...c, data: d };
  });
const idatRange = (chunks: Chunk[]) => {
  const first = chunks.findIndex((c) => c.type === 'IDAT');
  let last = first;
  while (chunks[last + 1]?.type === 'IDAT') last++;
  return [first, last] as const;
};
const insertAt = (chunks: Chunk[], at: number, ...add: Chunk[]) => [
  ...chunks.slice(0, at),
  ...add,
  ...chunks.slice(at),
];
const name4 = (r: () => number, pattern: string) =>
  pattern
    .split('')
    .map((p) => String.fromCharCode((p === 'U' ? 65 : 97) + Math.floor(r() * 26)))
    .join('');
const crcOf = (c: Chunk) =>
  crc32(
    concat(
      Uint8Array.from(c.type, (ch) => ch.charCodeAt(0) & 0xff),
      c.data,
    ),
  );

/** Raw scanlines for an 8-bit grey image of w×h (filter byte 0 per row), rows optionally cut or extended. */
function greyRaw(w: number, h: number, seed: number): Uint8Array {
  const out = randomBytes(seed, h * (w + 1));
  for (let y = 0; y < h; y++) out[y * (w + 1)] = 0;
  return out;
}

let BOMB: Uint8Array | undefined;
/** zlib stream of 16 MiB of zeros (~16 KB): far more than any header here implies. Built once. */
export function zlibBomb(): Uint8Array {
  BOMB ??= pako.deflate(new Uint8Array(16 * 1024 * 1024), { level: 9 });
  return BOMB;
}

/** valid: must decode (200); false: must be refused (400 BAD_PNG); 'either': the spec leaves the choice open. */
type Mutation = { name: string; valid: boolean | 'either'; apply: (g: GenPng, r: () => number) => Uint8Array | null };

/** Ancillary chunks a reader must skip (known ones with well-formed contents, unknown ones with anything). */
function ancillary(r: () => number, afterIhdr = false): Chunk {
  // gAMA and pHYs have ordering rules (before PLTE / IDAT): only right after IHDR. The others go anywhere.
  const k = Math.floor(r() * 6);
  switch (afterIhdr ? k : [0, 3, 4, 5][k % 4]) {
    case 0:
      return { type: 'tEXt', data: enc('Comment\0fuzz') };
    case 1:
      return { type: 'gAMA', data: u32(45455) };
    case 2:
      return { type: 'pHYs', data: concat(u32(2835), u32(2835), Uint8Array.of(1)) };
    case 3:
      return { type: 'tIME', data: Uint8Array.of(0x07, 0xe9, 1, 2, 3, 4, 5) };
    case 4:
      return { type: 'zTXt', data: concat(enc('Comment\0\0'), pako.deflate(enc('hello'))) };
    default:
      return {
        type: name4(r, 'LLUL').replace(/^./, (c) => c.toLowerCase()),
        data: randomBytes(Math.floor(r() * 1e9), Math.floor(r() * 64)),
      };
  }
}

const MUTATIONS: Mutation[] = [
  // ---- labelled VALID ----
  {
    name: 'unknown/known ancillary chunks (correct CRC) outside the IDAT run',
    valid: true,
    apply: (g, r) => {
      let c = g.chunks.slice();
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
        const [first, last] = idatRange(c);
        const spots = [1, first, last + 1, c.length - 1]; // after IHDR, before the first IDAT, after the last, before IEND
        const at = spots[Math.floor(r() * spots.length)]!;
        c = insertAt(c, at, ancillary(r, at === 1));
      }
      return assemblePng(c);
    },
  },
  {
    name: 'IDAT split into tiny chunks',
    valid: true,
    apply: (g, r) => assemblePng(pngChunks(g.img, { ...g.opts, idatSplit: 1 + Math.floor(r() * 5) })),
  },
  {
    name: 'zero-length IDAT inside the IDAT run',
    valid: true,
    apply: (g, r) => {
      const [first, last] = idatRange(g.chunks);
      return assemblePng(
        insertAt(g.chunks, first + Math.floor(r() * (last - first + 2)), { type: 'IDAT', data: new Uint8Array(0) }),
      );
    },
  },
  {
    name: 'suggested PLTE in a truecolour image',
    valid: true,
    apply: (g, r) =>
      g.img.colorType === 2 || g.img.colorType === 6
        ? assemblePng(
            insertAt(g.chunks, 1, {
              type: 'PLTE',
              data: randomBytes(Math.floor(r() * 1e9), 3 * (1 + Math.floor(r() * 255))),
            }),
          )
        : null,
  },
  // ---- labelled INVALID ----
  {
    name: 'bad CRC on a critical chunk',
    valid: false,
    apply: (g, r) => {
      const crit = g.chunks.map((c, i) => [c, i] as const).filter(([c]) => /^[A-Z]/.test(c.type));
      const [c, i] = crit[Math.floor(r() * crit.length)]!;
      const cs = g.chunks.slice();
      cs[i] = { ...c, crc: (crcOf(c) ^ (1 + Math.floor(r() * 0xfffffffe))) >>> 0 };
      return assemblePng(cs);
    },
  },
  {
    name: 'unknown critical chunk',
    valid: false,
    apply: (g, r) => {
      let t = name4(r, 'ULUL');
      if (['IHDR', 'PLTE', 'IDAT', 'IEND'].includes(t.toUpperCase())) t = 'QxYz';
      const [, last] = idatRange(g.chunks);
      return assemblePng(
        insertAt(g.chunks, r() < 0.5 ? 1 : last + 1, { type: t, data: randomBytes(7, Math.floor(r() * 20)) }),
      );
    },
  },
  // PNG spec 5.4: decoders "should not complain about a lowercase third letter" and may treat the chunk
  // as any unknown one (an ancillary one is skipped); rejecting it is strict but not wrong for a service.
  {
    name: 'ancillary chunk with the reserved bit set (lowercase third letter)',
    valid: 'either',
    apply: (g, r) => assemblePng(insertAt(g.chunks, 1, { type: name4(r, 'LLLL'), data: new Uint8Array(4) })),
  },
  {
    name: 'chunk type with non-letter bytes',
    valid: false,
    apply: (g, r) =>
      assemblePng(
        insertAt(g.chunks, 1, {
          type: ['a1Bc', 'ab c', 'ab\0c', 'ab\xffc', 'IDA1'][Math.floor(r() * 5)]!,
          data: new Uint8Array(3),
        }),
      ),
  },
  {
    name: 'zero width or height',
    valid: false,
    apply: (g, r) => assemblePng(withIhdr(g.chunks, (d) => d.set(u32(0), r() < 0.5 ? 0 : 4))),
  },
  {
    name: 'width or height ≥ 2^31',
    valid: false,
    apply: (g, r) =>
      assemblePng(withIhdr(g.chunks, (d) => d.set(u32(0x80000000 + Math.floor(r() * 0x7fffffff)), r() < 0.5 ? 0 : 4))),
  },
  {
    name: 'huge declared dimensions over a tiny body',
    valid: false,
    apply: (g, r) => {
      const dims = [
        [100000, 100000],
        [65535, 65535],
        [0x7fffffff, 0x7fffffff],
        [0x7fffffff, 1],
        [1, 0x7fffffff],
        [1792, 1793],
        [4096, 4096],
        [30000, 200],
      ][Math.floor(r() * 8)]!;
      return assemblePng(
        withIhdr(g.chunks, (d) => {
          d.set(u32(dims[0]!), 0);
          d.set(u32(dims[1]!), 4);
        }),
      );
    },
  },
  {
    name: 'invalid colour type / bit depth / method in IHDR',
    valid: false,
    apply: (g, r) =>
      assemblePng(
        withIhdr(g.chunks, (d) => {
          const k = Math.floor(r() * 6);
          if (k === 0) d[9] = [1, 5, 7, 8, 255][Math.floor(r() * 5)]!;
          else if (k === 1) d[8] = [0, 3, 5, 7, 9, 32, 255][Math.floor(r() * 7)]!;
          else if (k === 2)
            d[8] = g.img.colorType === 3 ? 16 : g.img.colorType === 0 ? 32 : [1, 2, 4][Math.floor(r() * 3)]!;
          else if (k === 3) d[10] = 1 + Math.floor(r() * 255);
          else if (k === 4) d[11] = 1 + Math.floor(r() * 255);
          else d[12] = 2 + Math.floor(r() * 254);
        }),
      ),
  },
  {
    name: 'IHDR length ≠ 13',
    valid: false,
    apply: (g, r) =>
      assemblePng(
        g.chunks.map((c) =>
          c.type === 'IHDR' ? { ...c, data: r() < 0.5 ? c.data.subarray(0, 12) : concat(c.data, Uint8Array.of(0)) } : c,
        ),
      ),
  },
  {
    name: 'missing PLTE in a palette image',
    valid: false,
    apply: (g) =>
      g.img.colorType === 3 ? assemblePng(g.chunks.filter((c) => c.type !== 'PLTE' && c.type !== 'tRNS')) : null,
  },
  {
    name: 'PLTE in a grey image',
    valid: false,
    apply: (g) =>
      g.img.colorType === 0 || g.img.colorType === 4
        ? assemblePng(insertAt(g.chunks, 1, { type: 'PLTE', data: new Uint8Array(12) }))
        : null,
  },
  {
    name: 'PLTE of a bad length (not 3n, empty, or too many entries)',
    valid: false,
    apply: (g, r) => {
      if (g.img.colorType !== 3 && g.img.colorType !== 2) return null;
      const max = g.img.colorType === 3 ? Math.min(256, 2 ** g.img.bitDepth) : 256;
      const len = [0, 1, 2, 4, 3 * max + 3, 3 * 257, 3 * max + 1][Math.floor(r() * 7)]!;
      const cs = g.chunks.filter((c) => c.type !== 'PLTE' && c.type !== 'tRNS');
      return assemblePng(insertAt(cs, 1, { type: 'PLTE', data: new Uint8Array(len) }));
    },
  },
  {
    name: 'PLTE after IDAT',
    valid: false,
    apply: (g) => {
      if (g.img.colorType !== 3) return null;
      const plte = g.chunks.find((c) => c.type === 'PLTE')!;
      const cs = g.chunks.filter((c) => c.type !== 'PLTE' && c.type !== 'tRNS');
      const [, last] = idatRange(cs);
      return assemblePng(insertAt(cs, last + 1, plte));
    },
  },
  {
    name: 'tRNS before PLTE',
    valid: false,
    apply: (g) => {
      if (g.img.colorType !== 3) return null;
      const cs = g.chunks.filter((c) => c.type !== 'tRNS');
      return assemblePng(insertAt(cs, 1, { type: 'tRNS', data: Uint8Array.of(0) }));
    },
  },
  {
    name: 'tRNS after IDAT',
    valid: false,
    apply: (g) => {
      if (g.img.colorType === 4 || g.img.colorType === 6) return null;
      const cs = g.chunks.filter((c) => c.type !== 'tRNS');
      const [, last] = idatRange(cs);
      return assemblePng(
        insertAt(cs, last + 1, {
          type: 'tRNS',
          data:
            g.img.colorType === 2 ? new Uint8Array(6) : g.img.colorType === 0 ? new Uint8Array(2) : Uint8Array.of(0),
        }),
      );
    },
  },
  {
    name: 'tRNS with an alpha channel',
    valid: false,
    apply: (g) =>
      g.img.colorType === 4 || g.img.colorType === 6
        ? assemblePng(insertAt(g.chunks, 1, { type: 'tRNS', data: new Uint8Array(2) }))
        : null,
  },
  {
    name: 'tRNS of a bad length or out-of-range key',
    valid: false,
    apply: (g, r) => {
      const cs = g.chunks.filter((c) => c.type !== 'tRNS'),
        at = cs.findIndex((c) => c.type === 'IDAT');
      if (g.img.colorType === 3)
        return assemblePng(
          insertAt(cs, at, { type: 'tRNS', data: new Uint8Array(g.img.palette!.length + 1 + Math.floor(r() * 4)) }),
        );
      if (g.img.colorType === 0 || g.img.colorType === 2) {
        const want = g.img.colorType === 0 ? 2 : 6;
        if (g.img.bitDepth < 16 && r() < 0.5) {
          const d = new Uint8Array(want);
          d[0] = 0xff;
          d[1] = 0xff;
          return assemblePng(insertAt(cs, at, { type: 'tRNS', data: d }));
        }
        const lens = [0, 1, 3, 4, 5, 7, 8, 12].filter((l) => l !== want);
        return assemblePng(
          insertAt(cs, at, { type: 'tRNS', data: new Uint8Array(lens[Math.floor(r() * lens.length)]!) }),
        );
      }
      return null;
    },
  },
  {
    name: 'duplicated PLTE / tRNS / IHDR',
    valid: false,
    apply: (g, r) => {
      const t = ['IHDR', 'PLTE', 'tRNS'][Math.floor(r() * 3)]!;
      const c = g.chunks.find((x) => x.type === t);
      if (!c) return null;
      const i = g.chunks.indexOf(c);
      return assemblePng(insertAt(g.chunks, i + 1, c));
    },
  },
  {
    name: 'IDAT run interrupted by an ancillary chunk',
    valid: false,
    apply: (g, r) => {
      const cs = pngChunks(g.img, { ...g.opts, idatSplit: 1 + Math.floor(r() * 8) });
      const [first, last] = idatRange(cs);
      if (last === first) return null;
      return assemblePng(insertAt(cs, first + 1 + Math.floor(r() * (last - first)), ancillary(r)));
    },
  },
  { name: 'IHDR not first', valid: false, apply: (g, r) => assemblePng([ancillary(r), ...g.chunks]) },
  { name: 'no IDAT', valid: false, apply: (g) => assemblePng(g.chunks.filter((c) => c.type !== 'IDAT')) },
  { name: 'no IEND', valid: false, apply: (g) => assemblePng(g.chunks.filter((c) => c.type !== 'IEND')) },
  {
    name: 'IEND with data',
    valid: false,
    apply: (g, r) =>
      assemblePng(
        g.chunks.map((c) => (c.type === 'IEND' ? { type: 'IEND', data: randomBytes(1, 1 + Math.floor(r() * 8)) } : c)),
      ),
  },
  { name: 'chunk after IEND', valid: false, apply: (g, r) => assemblePng([...g.chunks, ancillary(r)]) },
  {
    name: 'trailing bytes after IEND',
    valid: false,
    apply: (g, r) => concat(g.bytes, randomBytes(Math.floor(r() * 1e9), 1 + Math.floor(r() * 64))),
  },
  { name: 'truncated', valid: false, apply: (g, r) => g.bytes.subarray(0, 1 + Math.floor(r() * (g.bytes.length - 1))) },
  {
    name: 'bad signature byte',
    valid: false,
    apply: (g, r) => {
      const b = g.bytes.slice();
      const i = Math.floor(r() * 8);
      b[i] = (b[i]! ^ (1 + Math.floor(r() * 255))) & 0xff;
      return b;
    },
  },
  {
    name: 'chunk length past the end of the file',
    valid: false,
    apply: (g, r) => {
      const b = g.bytes.slice();
      const off = 8 + 12 + 13;
      b.set(u32(g.bytes.length + Math.floor(r() * 1e6)), off);
      return b;
    },
  },
  {
    name: 'chunk length ≥ 2^31',
    valid: false,
    apply: (g) => {
      const b = g.bytes.slice();
      b.set(u32(0xfffffff0), 8 + 12 + 13);
      return b;
    },
  },
  {
    name: 'corrupt zlib stream (one byte changed)',
    valid: false,
    apply: (g, r) => {
      const z = concat(...g.chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)).slice();
      // A changed byte can leave a valid stream (e.g. FLEVEL bits with a still-valid FCHECK): keep only changes zlib itself refuses.
      let changed = false;
      for (let tries = 0; tries < 20 && !changed; tries++) {
        const i = Math.floor(r() * z.length),
          was = z[i]!;
        z[i] = (was ^ (1 + Math.floor(r() * 255))) & 0xff;
        try {
          pako.inflate(z);
          z[i] = was;
        } catch {
          changed = true;
        }
      }
      if (!changed) return null;
      return assemblePng([
        ...g.chunks.filter((c) => c.type !== 'IDAT' && c.type !== 'IEND'),
        { type: 'IDAT', data: z },
        { type: 'IEND', data: new Uint8Array(0) },
      ]);
    },
  },
  {
    name: 'zlib stream truncated',
    valid: false,
    apply: (g, r) => {
      const z = concat(...g.chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
      return assemblePng([
        ...g.chunks.filter((c) => c.type !== 'IDAT' && c.type !== 'IEND'),
        { type: 'IDAT', data: z.subarray(0, Math.floor(r() * (z.length - 1))) },
        { type: 'IEND', data: new Uint8Array(0) },
      ]);
    },
  },
  {
    name: 'data after the end of the zlib stream',
    valid: false,
    apply: (g, r) => {
      const [, last] = idatRange(g.chunks);
      return assemblePng(
        insertAt(g.chunks, last + 1, { type: 'IDAT', data: randomBytes(3, 1 + Math.floor(r() * 16)) }),
      );
    },
  },
  {
    name: 'gzip or raw deflate instead of zlib',
    valid: false,
    apply: (g, r) => {
      const body = pngChunks(g.img, { ...g.opts, idatSplit: 1 << 30 }).find((c) => c.type === 'IDAT')!.data;
      const rawData = pako.inflate(body);
      const z = r() < 0.5 ? pako.gzip(rawData) : pako.deflateRaw(rawData);
      return assemblePng([
        ...g.chunks.filter((c) => c.type !== 'IDAT' && c.type !== 'IEND'),
        { type: 'IDAT', data: z },
        { type: 'IEND', data: new Uint8Array(0) },
      ]);
    },
  },
  {
    name: 'image data short or long by some bytes',
    valid: false,
    apply: (g, r) => {
      const body = pngChunks(g.img, { ...g.opts, idatSplit: 1 << 30 }).find((c) => c.type === 'IDAT')!.data;
      const rawData = pako.inflate(body);
      const cut =
        r() < 0.5 && rawData.length > 1
          ? rawData.subarray(0, rawData.length - 1 - Math.floor(r() * Math.min(rawData.length - 1, 50)))
          : concat(rawData, new Uint8Array(1 + Math.floor(r() * 50)));
      return assemblePng([
        ...g.chunks.filter((c) => c.type !== 'IDAT' && c.type !== 'IEND'),
        { type: 'IDAT', data: pako.deflate(cut) },
        { type: 'IEND', data: new Uint8Array(0) },
      ]);
    },
  },
  {
    name: 'scanline filter type > 4',
    valid: false,
    apply: (g, r) => {
      const w = g.img.width,
        h = g.img.height,
        raw = greyRaw(w, h, Math.floor(r() * 1e9));
      raw[Math.floor(r() * h) * (w + 1)] = 5 + Math.floor(r() * 251);
      return assemblePng([
        ihdr(w, h, 8, 0),
        { type: 'IDAT', data: pako.deflate(raw) },
        { type: 'IEND', data: new Uint8Array(0) },
      ]);
    },
  },
  {
    name: 'palette index past the palette',
    valid: false,
    apply: (g, r) => {
      const bd = ([1, 2, 4, 8] as const)[Math.floor(r() * 4)]!,
        max = 2 ** bd;
      const size = Math.max(1, Math.floor(r() * (max - 1)) || 1);
      if (size >= max) return null;
      const w = g.img.width,
        h = g.img.height,
        samples = Array.from({ length: w * h }, () => Math.floor(r() * size));
      samples[Math.floor(r() * samples.length)] = size + Math.floor(r() * (max - size));
      const img: PngImage = {
        width: w,
        height: h,
        colorType: 3,
        bitDepth: bd,
        interlace: g.img.interlace ?? 0,
        samples,
        palette: Array.from({ length: size }, (_, i) => [i, i, i] as [number, number, number]),
      };
      return assemblePng(pngChunks(img, g.opts));
    },
  },
];

export function pngClasses(m: FuzzModel): FuzzClass[] {
  const valid = fc
    .tuple(validPngArb(m), fc.constantFrom(...PNG_TYPES))
    .map(([g, type]) => ok('png-valid', `valid ${g.desc}`, g.bytes, type));
  const mutated = (wantValid: boolean, cls: string) => {
    const muts = MUTATIONS.filter((x) => (wantValid ? x.valid !== false : x.valid === false));
    return fc
      .tuple(validPngArb(m, 48), fc.nat(muts.length * 4), fc.integer(), fc.constantFrom(...PNG_TYPES))
      .map(([g, k, s, type]) => {
        const r = prng(s);
        // A mutation that does not apply to this image (e.g. PLTE rules on a grey one) falls through to the next.
        for (let j = 0; j < muts.length; j++) {
          const mut = muts[(k + j) % muts.length]!;
          const bytes = mut.apply(g, r);
          if (!bytes) continue;
          const name = `${mut.name} [${g.desc}]`;
          if (mut.valid === 'either') return { ...ok(cls, name, bytes, type), expect: ['ok', 400] } satisfies FuzzCase;
          return wantValid ? ok(cls, name, bytes, type) : bad(cls, name, bytes, type);
        }
        throw new Error('no mutation applies');
      });
  };
  const bombs = fc.record({ which: fc.nat(3), type: fc.constantFrom(...PNG_TYPES) }).map(({ which, type }) => {
    const z = zlibBomb();
    const dims = [
      [64, 64, 0],
      [1792, 1792, 0],
      [1, 1, 0],
      [28, 28, 2],
    ][which]!;
    const bytes = assemblePng([
      ihdr(dims[0]!, dims[1]!, 8, dims[2]!),
      { type: 'IDAT', data: z },
      { type: 'IEND', data: new Uint8Array(0) },
    ]);
    return bad(
      'png-zlib-bomb',
      `zlib bomb: ${z.length} bytes inflating to 16 MiB under a ${dims[0]}×${dims[1]} ct${dims[2]} header`,
      bytes,
      type,
    );
  });
  return [
    { name: 'png-valid', surface: 'edge', weight: 6, arb: valid },
    { name: 'png-valid-mutation', surface: 'edge', weight: 4, arb: mutated(true, 'png-valid-mutation') },
    { name: 'png-invalid-mutation', surface: 'edge', weight: 9, arb: mutated(false, 'png-invalid-mutation') },
    { name: 'png-zlib-bomb', surface: 'edge', weight: 0.5, arb: bombs },
  ];
}
