/**
 * core/png.ts against two oracles (tests/helpers/png-encode.ts's expectedPixels, and fast-png's
 * decoder where it is correct), every invalid class, the size bombs, and a seeded mutation fuzz.
 */
import { decode as fastDecode } from 'fast-png';
import pako from 'pako';
import { describe, expect, it } from 'vitest';
import { convertChannels, ImageError, pngToModelInput, resize } from '../../core/image.js';
import { decodePng, type PngOptions, pngHeader, pngOptionsFor } from '../../core/png.js';
import {
  assemblePng,
  type Chunk,
  type ColorType,
  encodePng,
  expectedPixels,
  type PngImage,
  pngChunks,
} from '../helpers/png-encode.js';

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const SHAPE = { channels: 1, height: 28, width: 28 };
const opts = (channels: 1 | 3): PngOptions => pngOptionsFor({ ...SHAPE, channels });
const CH: Record<ColorType, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: [ColorType, (1 | 2 | 4 | 8 | 16)[]][] = [
  [0, [1, 2, 4, 8, 16]],
  [2, [8, 16]],
  [3, [1, 2, 4, 8]],
  [4, [8, 16]],
  [6, [8, 16]],
];

function randomImage(
  r: (n: number) => number,
  colorType: ColorType,
  bitDepth: PngImage['bitDepth'],
  w: number,
  h: number,
  interlace: 0 | 1,
): PngImage {
  const entries = colorType === 3 ? 1 + r(2 ** bitDepth) : 0; // a palette may be shorter than 2^depth
  const max = colorType === 3 ? entries : 2 ** bitDepth;
  return {
    width: w,
    height: h,
    colorType,
    bitDepth,
    interlace,
    samples: Array.from({ length: w * h * CH[colorType] }, () => r(max)),
    palette:
      colorType === 3
        ? Array.from({ length: entries }, () => [r(256), r(256), r(256)] as [number, number, number])
        : undefined,
  };
}

/** Expects f to throw an ImageError whose message matches re. */
function rejects(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an ImageError matching ${re}`).toBeInstanceOf(ImageError);
  expect((err as Error).message).toMatch(re);
}

const grey8: PngImage = {
  width: 5,
  height: 4,
  colorType: 0,
  bitDepth: 8,
  samples: Array.from({ length: 20 }, (_, i) => i * 12),
};
const chunksOf = (img: PngImage = grey8, o?: Parameters<typeof pngChunks>[1]) => pngChunks(img, o);
const withIhdr = (edit: (d: Uint8Array, v: DataView) => void, img: PngImage = grey8) => {
  const cs = chunksOf(img);
  const d = Uint8Array.from(cs[0]!.data);
  edit(d, new DataView(d.buffer));
  return assemblePng([{ type: 'IHDR', data: d }, ...cs.slice(1)]);
};
const idatOf = (raw: Uint8Array): Chunk => ({ type: 'IDAT', data: pako.deflate(raw) });
const dec1 = (bytes: Uint8Array) => decodePng(bytes, opts(1));

describe('PNG reader: valid images', () => {
  it('every colour type × bit depth × interlace × filter round-trips and matches the oracle, for 1 and 3 channels', () => {
    const r = prng(1);
    let n = 0;
    for (const [ct, depths] of DEPTHS)
      for (const bd of depths)
        for (const il of [0, 1] as const)
          for (const filter of [0, 1, 2, 3, 4, 'mixed'] as const) {
            // Odd sizes, so sub-byte rows end mid-byte and some Adam7 passes are empty.
            const img = randomImage(r, ct, bd, 1 + r(17), 1 + r(13), il);
            const png = encodePng(img, { filter, idatSplit: 1 + r(40) });
            for (const want of [1, 3] as const) {
              const got = decodePng(png, opts(want));
              expect({ w: got.width, h: got.height, c: got.channels }).toEqual({
                w: img.width,
                h: img.height,
                c: want,
              });
              expect(Array.from(got.data), `ct ${ct} bd ${bd} il ${il} filter ${filter} want ${want}`).toEqual(
                Array.from(expectedPixels(img, want)),
              );
              n++;
            }
          }
    expect(n).toBe(15 * 2 * 6 * 2);
  });

  it('1×1 and 1-pixel-wide / -high images, Adam7 included', () => {
    const r = prng(2);
    for (const [w, h] of [
      [1, 1],
      [1, 9],
      [9, 1],
      [2, 2],
      [8, 8],
      [9, 9],
    ])
      for (const il of [0, 1] as const)
        for (const [ct, depths] of DEPTHS)
          for (const bd of depths) {
            const img = randomImage(r, ct, bd, w!, h!, il);
            expect(Array.from(dec1(encodePng(img, { filter: 'mixed' })).data)).toEqual(
              Array.from(expectedPixels(img, 1)),
            );
          }
  });

  it('palettes at 1, 2, 4 and 8 bits, full and short, with tRNS palette alpha', () => {
    const r = prng(3);
    for (const bd of [1, 2, 4, 8] as const)
      for (const entries of [1, 2 ** bd])
        for (const il of [0, 1] as const) {
          const img: PngImage = {
            width: 11,
            height: 7,
            colorType: 3,
            bitDepth: bd,
            interlace: il,
            samples: Array.from({ length: 77 }, () => r(entries)),
            palette: Array.from({ length: entries }, () => [r(256), r(256), r(256)] as [number, number, number]),
            trns: Uint8Array.from({ length: Math.max(0, entries - 1) }, () => r(256)), // shorter than the palette: the rest is opaque
          };
          for (const want of [1, 3] as const)
            expect(Array.from(decodePng(encodePng(img), opts(want)).data)).toEqual(
              Array.from(expectedPixels(img, want)),
            );
        }
  });

  it('tRNS colour keys for grey (all depths) and RGB make matching pixels black', () => {
    const r = prng(4);
    for (const [ct, depths] of [
      [0, [1, 2, 4, 8, 16]],
      [2, [8, 16]],
    ] as const)
      for (const bd of depths) {
        const img = randomImage(r, ct, bd, 9, 6, 0);
        const key = Array.from({ length: CH[ct] }, (_, c) => img.samples[c]!); // pixel 0 is the key
        const samples = Array.from(img.samples);
        for (let c = 0; c < CH[ct]; c++) samples[CH[ct] * 7 + c] = key[c]!; // and so is pixel 7
        const trns = new Uint8Array(2 * CH[ct]);
        key.forEach((v, c) => {
          trns[2 * c] = v >> 8;
          trns[2 * c + 1] = v & 0xff;
        });
        const keyed: PngImage = { ...img, samples, trns };
        for (const want of [1, 3] as const) {
          const got = decodePng(encodePng(keyed), opts(want)).data;
          expect(Array.from(got)).toEqual(Array.from(expectedPixels(keyed, want)));
          expect(Array.from(got.subarray(7 * want, 8 * want))).toEqual(new Array(want).fill(0));
        }
      }
  });

  it('agrees with fast-png (a second oracle) where fast-png is right: 8 and 16 bits, no colour key', () => {
    // fast-png 8 returns packed bytes for grey below 8 bits and mis-decodes sub-byte Adam7, so those are left to expectedPixels.
    const r = prng(5);
    for (const [ct, depths] of DEPTHS)
      for (const bd of depths.filter((d) => d >= 8))
        for (const il of [0, 1] as const) {
          const img = randomImage(r, ct, bd, 1 + r(30), 1 + r(30), il);
          const png = encodePng(img, { filter: 'mixed' });
          const f = fastDecode(png);
          let data: Uint8Array =
            bd === 16 ? Uint8Array.from(f.data as Uint16Array, (v) => v >> 8) : Uint8Array.from(f.data as Uint8Array);
          let channels = f.channels;
          if (f.palette) {
            data = Uint8Array.from(Array.from(data).flatMap((i) => f.palette![i]!));
            channels = f.palette[0]!.length;
          }
          for (const want of [1, 3] as const) {
            const ref = convertChannels({ width: f.width, height: f.height, channels, data }, want).data;
            expect(Array.from(decodePng(png, opts(want)).data)).toEqual(Array.from(ref));
          }
        }
  });

  it('pngToModelInput: decodes, converts and resizes to the model shape', () => {
    const r = prng(6);
    const img = randomImage(r, 6, 8, 56, 42, 1);
    const want = resize({ width: 56, height: 42, channels: 1, data: expectedPixels(img, 1) }, 28, 28).data;
    const got = pngToModelInput(encodePng(img), SHAPE);
    expect(got.length).toBe(784);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(pngToModelInput(encodePng(img), { ...SHAPE, channels: 3 }).length).toBe(3 * 784);
  });

  it('skips unknown ancillary chunks and tolerates empty IDATs', () => {
    const cs = chunksOf(grey8, { idatSplit: 10 });
    const anc: Chunk = { type: 'zzZz', data: Uint8Array.of(1, 2, 3) };
    const png = assemblePng([cs[0]!, anc, ...cs.slice(1, -1), { type: 'IDAT', data: new Uint8Array(0) }, cs.at(-1)!]);
    expect(Array.from(dec1(png).data)).toEqual(Array.from(expectedPixels(grey8, 1)));
  });
});

describe('PNG reader: invalid images are ImageErrors', () => {
  const raw28 = (filterByte = 0, rows = 4, rowBytes = 5) => {
    const raw = new Uint8Array(rows * (1 + rowBytes));
    for (let y = 0; y < rows; y++) raw[y * (1 + rowBytes)] = filterByte;
    return raw;
  };
  const cs = () => chunksOf();
  const without = (type: string) => cs().filter((c) => c.type !== type);
  const ihdr = () => cs()[0]!,
    iend = () => cs().at(-1)!,
    idat = () => cs()[1]!;

  it('signature and framing', () => {
    rejects(() => dec1(new Uint8Array(0)), /signature/);
    rejects(
      () => dec1(assemblePng(cs(), { signature: Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0b) })),
      /signature/,
    );
    const png = encodePng(grey8);
    rejects(() => dec1(png.subarray(0, 20)), /ends before its IHDR/);
    rejects(() => dec1(png.subarray(0, png.length - 3)), /ends inside a chunk frame|declares .* bytes but only/);
    const big = Uint8Array.from(png);
    new DataView(big.buffer).setUint32(33, 0x7fffff00); // the first IDAT's length
    rejects(() => dec1(big), /declares 2147483392 bytes but only/);
    new DataView(big.buffer).setUint32(33, 0x80000000);
    rejects(() => dec1(big), /at most 2147483647/);
  });

  it('zero or too large dimensions, bad IHDR fields and bit depth pairs', () => {
    rejects(() => dec1(withIhdr((_, v) => v.setUint32(0, 0))), /IHDR declares 0×4/);
    rejects(() => dec1(withIhdr((_, v) => v.setUint32(4, 0))), /IHDR declares 5×0/);
    rejects(() => dec1(withIhdr((_, v) => v.setUint32(0, 0x80000000))), /width and height must be 1\.\.2147483647/);
    for (const [ct, bd] of [
      [0, 3],
      [0, 32],
      [2, 1],
      [2, 4],
      [3, 16],
      [4, 4],
      [6, 1],
      [6, 2],
      [1, 8],
      [5, 8],
      [7, 8],
    ]) {
      rejects(
        () =>
          dec1(
            withIhdr((d) => {
              d[8] = bd!;
              d[9] = ct!;
            }),
          ),
        /IHDR declares (bit depth|colour type)/,
      );
    }
    rejects(
      () =>
        dec1(
          withIhdr((d) => {
            d[10] = 1;
          }),
        ),
      /compression method 1/,
    );
    rejects(
      () =>
        dec1(
          withIhdr((d) => {
            d[11] = 1;
          }),
        ),
      /filter method 1/,
    );
    rejects(
      () =>
        dec1(
          withIhdr((d) => {
            d[12] = 2;
          }),
        ),
      /interlace method 2/,
    );
    rejects(
      () => dec1(assemblePng([{ type: 'IHDR', data: new Uint8Array(12) }, ...cs().slice(1)])),
      /IHDR must be 13 bytes/,
    );
  });

  it('bad CRCs, in IHDR and in any later chunk', () => {
    rejects(() => dec1(assemblePng([{ ...ihdr(), crc: 1 }, ...cs().slice(1)])), /bad CRC in chunk IHDR/);
    rejects(
      () => dec1(assemblePng(cs().map((c) => (c.type === 'IDAT' ? { ...c, crc: 12345 } : c)))),
      /bad CRC in chunk IDAT/,
    );
    rejects(
      () => dec1(assemblePng(cs().map((c) => (c.type === 'IEND' ? { ...c, crc: 0 } : c)))),
      /bad CRC in chunk IEND/,
    );
  });

  it('chunk names: unknown critical, reserved bit, non-letters', () => {
    const ins = (type: string) => assemblePng([ihdr(), { type, data: Uint8Array.of(0) }, ...cs().slice(1)]);
    rejects(() => dec1(ins('ABCD')), /unknown critical chunk ABCD/);
    rejects(() => dec1(ins('prvT')), /reserved bit/);
    rejects(() => dec1(ins('IDaT')), /reserved bit/);
    rejects(() => dec1(ins('ID1T')), /four ASCII letters/);
    rejects(() => dec1(ins('ab\u00e7d')), /four ASCII letters/);
  });

  it('chunk order: IHDR first and once, IDAT consecutive and present, IEND last, empty and present', () => {
    rejects(() => dec1(assemblePng([idat(), ihdr(), iend()])), /first chunk must be IHDR/);
    rejects(() => dec1(assemblePng([ihdr(), ihdr(), ...cs().slice(1)])), /IHDR appears twice/);
    const split = chunksOf(grey8, { idatSplit: 8 });
    expect(split.filter((c) => c.type === 'IDAT').length).toBeGreaterThan(2);
    rejects(
      () =>
        dec1(assemblePng([...split.slice(0, 2), { type: 'tEXt', data: Uint8Array.of(65, 0, 66) }, ...split.slice(2)])),
      /IDAT chunks are not consecutive/,
    );
    rejects(() => dec1(assemblePng(without('IDAT'))), /no IDAT chunk/);
    rejects(() => dec1(assemblePng(without('IEND'))), /no IEND chunk/);
    rejects(
      () => dec1(assemblePng([...cs().slice(0, -1), { type: 'IEND', data: Uint8Array.of(0) }])),
      /IEND must be empty/,
    );
    rejects(() => dec1(assemblePng([...cs(), { type: 'tEXt', data: Uint8Array.of(65, 0, 66) }])), /bytes follow IEND/);
    const png = encodePng(grey8);
    rejects(() => dec1(Uint8Array.of(...png, 0)), /1 bytes follow IEND/);
  });

  it('PLTE and tRNS rules', () => {
    const pal: PngImage = {
      width: 4,
      height: 2,
      colorType: 3,
      bitDepth: 2,
      samples: [0, 1, 2, 3, 3, 2, 1, 0],
      palette: [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
        [10, 11, 12],
      ],
    };
    const pc = chunksOf(pal);
    const plte = pc.find((c) => c.type === 'PLTE')!;
    const trns = (n: number): Chunk => ({ type: 'tRNS', data: new Uint8Array(n) });
    rejects(() => dec1(assemblePng(pc.filter((c) => c.type !== 'PLTE'))), /needs a PLTE chunk/);
    rejects(() => dec1(assemblePng([ihdr(), plte, ...cs().slice(1)])), /PLTE is not allowed in a grey image/);
    rejects(() => dec1(assemblePng([pc[0]!, plte, plte, ...pc.slice(2)])), /PLTE appears twice/);
    rejects(() => dec1(assemblePng([pc[0]!, ...pc.slice(2, -1), plte, pc.at(-1)!])), /PLTE comes after IDAT/);
    rejects(
      () => dec1(assemblePng([pc[0]!, { type: 'PLTE', data: new Uint8Array(15) }, ...pc.slice(2)])),
      /PLTE has 15 bytes; it must hold 1\.\.4/,
    );
    rejects(
      () => dec1(assemblePng([pc[0]!, { type: 'PLTE', data: new Uint8Array(7) }, ...pc.slice(2)])),
      /PLTE has 7 bytes/,
    );
    rejects(
      () => dec1(assemblePng([pc[0]!, { type: 'PLTE', data: new Uint8Array(0) }, ...pc.slice(2)])),
      /PLTE has 0 bytes/,
    );
    rejects(() => dec1(assemblePng([pc[0]!, trns(2), plte, ...pc.slice(2)])), /tRNS comes before PLTE/);
    rejects(
      () => dec1(assemblePng([pc[0]!, plte, trns(5), ...pc.slice(2)])),
      /tRNS has 5 alpha values for 4 palette entries/,
    );
    rejects(() => dec1(assemblePng([pc[0]!, plte, trns(1), trns(1), ...pc.slice(2)])), /tRNS appears twice/);
    rejects(() => dec1(assemblePng([...pc.slice(0, -1), trns(1), pc.at(-1)!])), /tRNS comes after IDAT/);
    rejects(() => dec1(assemblePng([ihdr(), trns(6), ...cs().slice(1)])), /must be 2 bytes, not 6/);
    rejects(
      () => dec1(assemblePng([ihdr(), { type: 'tRNS', data: Uint8Array.of(1, 0) }, ...cs().slice(1)])),
      /colour key 256 does not fit in 8 bits/,
    );
    const rgba: PngImage = { width: 1, height: 1, colorType: 6, bitDepth: 8, samples: [1, 2, 3, 4] };
    const rc = chunksOf(rgba);
    rejects(() => dec1(assemblePng([rc[0]!, trns(2), ...rc.slice(1)])), /tRNS is not allowed with an alpha channel/);
    // A suggested palette in an RGB image is fine, but not after tRNS.
    const rgb: PngImage = { width: 1, height: 1, colorType: 2, bitDepth: 8, samples: [1, 2, 3] };
    const gc = chunksOf(rgb);
    expect(Array.from(dec1(assemblePng([gc[0]!, plte, trns(6), ...gc.slice(1)])).data)).toEqual(
      Array.from(expectedPixels(rgb, 1)),
    );
    rejects(() => dec1(assemblePng([gc[0]!, trns(6), plte, ...gc.slice(1)])), /PLTE comes after tRNS/);
  });

  it('palette index past the palette', () => {
    const img: PngImage = {
      width: 3,
      height: 1,
      colorType: 3,
      bitDepth: 8,
      samples: [0, 7, 1],
      palette: [
        [0, 0, 0],
        [1, 1, 1],
        [2, 2, 2],
        [3, 3, 3],
      ],
    };
    rejects(
      () =>
        dec1(
          assemblePng(
            pngChunks({ ...img, samples: [0, 0, 0] }).map((c) =>
              c.type === 'IDAT' ? idatOf(Uint8Array.of(0, 0, 7, 1)) : c,
            ),
          ),
        ),
      /palette index 7 is past the palette's 4 entries/,
    );
    // Same at 2 bits (index 3 of 3 entries), inside an Adam7 pass.
    const small: PngImage = {
      width: 9,
      height: 9,
      colorType: 3,
      bitDepth: 2,
      interlace: 1,
      samples: new Array(81).fill(3),
      palette: [
        [0, 0, 0],
        [1, 1, 1],
        [2, 2, 2],
        [3, 3, 3],
      ],
    };
    const c2 = pngChunks(small).map((c) => (c.type === 'PLTE' ? { ...c, data: c.data.subarray(0, 9) } : c));
    rejects(() => dec1(assemblePng(c2)), /palette index 3 is past the palette's 3 entries/);
  });

  it('zlib data: truncated, corrupt, trailing, too short, too long, gzip, bad filter byte', () => {
    const good = idat().data;
    const swap = (...idats: Chunk[]) => assemblePng([ihdr(), ...idats, iend()]);
    rejects(
      () => dec1(swap({ type: 'IDAT', data: good.subarray(0, good.length - 6) })),
      /zlib stream is truncated|zlib stream is corrupt/,
    );
    rejects(() => dec1(swap({ type: 'IDAT', data: good.subarray(0, good.length - 1) })), /zlib stream is truncated/); // adler32 cut
    const badAdler = Uint8Array.from(good);
    badAdler[badAdler.length - 1] ^= 1;
    rejects(() => dec1(swap({ type: 'IDAT', data: badAdler })), /corrupt: incorrect data check/);
    rejects(
      () => dec1(swap({ type: 'IDAT', data: Uint8Array.of(...good, 0, 0, 0) })),
      /data follows the end of the zlib stream/,
    );
    rejects(
      () => dec1(swap({ type: 'IDAT', data: good }, { type: 'IDAT', data: Uint8Array.of(1) })),
      /data follows the end of the zlib stream/,
    );
    rejects(() => dec1(swap(idatOf(raw28(0, 3)))), /inflates to 18 bytes; its 5×4 header implies 24/);
    rejects(() => dec1(swap(idatOf(raw28(0, 5)))), /inflates to more than the 24 bytes/);
    rejects(() => dec1(swap({ type: 'IDAT', data: pako.gzip(raw28()) })), /corrupt/);
    rejects(() => dec1(swap({ type: 'IDAT', data: pako.deflateRaw(raw28()) })), /corrupt/);
    rejects(() => dec1(swap(idatOf(raw28(5)))), /scanline 0 has filter type 5; valid are 0-4/);
    rejects(() => dec1(swap(idatOf(raw28(255)))), /filter type 255/);
  });
});

describe('PNG reader: size bombs are rejected before any work', () => {
  const tiny = (w: number, h: number, colorType = 0, bitDepth = 8) => {
    const d = new Uint8Array(13);
    const v = new DataView(d.buffer);
    v.setUint32(0, w);
    v.setUint32(4, h);
    d[8] = bitDepth;
    d[9] = colorType;
    return assemblePng([
      { type: 'IHDR', data: d },
      { type: 'IDAT', data: pako.deflate(new Uint8Array(64)) },
      { type: 'IEND', data: new Uint8Array(0) },
    ]);
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;

  it('caps follow from the model shape', () => {
    expect(opts(1).maxPixels).toBe(1024 * 784);
    expect(pngOptionsFor({ channels: 3, height: 32, width: 32 }).maxPixels).toBe(1024 * 1024);
    expect(() => pngOptionsFor({ channels: 2, height: 28, width: 28 })).toThrow(ImageError);
    expect(pngHeader(encodePng(grey8), opts(1))).toEqual({
      width: 5,
      height: 4,
      bitDepth: 8,
      colorType: 0,
      interlace: 0,
    });
    rejects(
      () => pngHeader(tiny(897, 896), opts(1)),
      /IHDR declares 897×896 \(803712 pixels\); at most 802816 pixels are accepted/,
    );
    expect(pngHeader(tiny(896, 896), opts(1)).width).toBe(896);
    rejects(
      () => pngHeader(tiny(800, 800, 6, 16), opts(1)),
      /has 5120800 bytes of scanlines; at most 2097152 are decoded/,
    );
    rejects(() => pngHeader(tiny(802816, 1, 6, 16), opts(3)), /needs \d+ bytes; at most 16777216 are available/);
  });

  for (const [w, h] of [
    [100000, 100000],
    [0x7fffffff, 0x7fffffff],
  ] as const) {
    it(`a ${tiny(w, h).length}-byte PNG declaring ${w}×${h} is rejected in < 5 ms without allocating`, () => {
      const png = tiny(w, h);
      expect(png.length).toBeLessThan(100);
      for (let i = 0; i < 5; i++) rejects(() => pngToModelInput(png, SHAPE), /pixels are accepted/); // warm-up
      const before = process.memoryUsage().arrayBuffers;
      const ts: number[] = [];
      for (let i = 0; i < 9; i++) {
        const t = performance.now();
        try {
          pngToModelInput(png, SHAPE);
        } catch {
          /* expected */
        }
        ts.push(performance.now() - t);
      }
      const grew = process.memoryUsage().arrayBuffers - before;
      console.log(
        `bomb ${w}×${h} (${png.length} bytes): rejected in ${median(ts).toFixed(3)} ms (median of 9), arrayBuffers +${grew} bytes`,
      );
      expect(median(ts)).toBeLessThan(5);
      expect(grew).toBeLessThan(1 << 20); // nothing near width × height was allocated
    });
  }

  it('a zlib bomb (28×28 header, IDAT inflating to 16 MiB) stops after the first piece: < 50 ms', () => {
    const z = pako.deflate(new Uint8Array(16 << 20), { level: 9 });
    const png = assemblePng([
      { type: 'IHDR', data: tiny(28, 28).subarray(16, 29) },
      { type: 'IDAT', data: z },
      { type: 'IEND', data: new Uint8Array(0) },
    ]);
    expect(png.length).toBeLessThan(20_000);
    const ts: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      rejects(() => dec1(png), /inflates to more than the 812 bytes/);
      ts.push(performance.now() - t);
    }
    console.log(`zlib bomb (${png.length} bytes → 16 MiB): rejected in ${median(ts).toFixed(2)} ms (median of 7)`);
    expect(median(ts)).toBeLessThan(50);
  });

  it('worst case at the caps decodes well under 200 ms (RGBA 16-bit, Adam7, Paeth, random pixels)', () => {
    const o = opts(3);
    let side = 1;
    while (
      (() => {
        try {
          pngHeader(tiny(side + 1, side + 1, 6, 16), o);
          return true;
        } catch {
          return false;
        }
      })()
    )
      side++;
    const r = prng(7);
    const img: PngImage = {
      width: side,
      height: side,
      colorType: 6,
      bitDepth: 16,
      interlace: 1,
      samples: Uint16Array.from({ length: side * side * 4 }, () => r(65536)),
    };
    const png = encodePng(img, { filter: 4, zlibLevel: 1 });
    const ts: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      decodePng(png, o);
      ts.push(performance.now() - t);
    }
    const grey = encodePng(
      {
        width: 896,
        height: 896,
        colorType: 0,
        bitDepth: 8,
        interlace: 1,
        samples: Uint8Array.from({ length: 896 * 896 }, () => r(256)),
      },
      { filter: 4, zlibLevel: 1 },
    );
    const gs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      decodePng(grey, o);
      gs.push(performance.now() - t);
    }
    console.log(
      `worst case at the cap: RGBA16 Adam7 ${side}² (${png.length} bytes): first ${ts[0]!.toFixed(1)} ms, median ${median(ts).toFixed(1)} ms; grey8 Adam7 896²: median ${median(gs).toFixed(1)} ms (to 3 channels)`,
    );
    expect(median(ts)).toBeLessThan(200);
    expect(median(gs)).toBeLessThan(200);
  });
});

describe('PNG reader: seeded mutation fuzz', () => {
  it('2000 mutated PNGs: only ImageError is ever thrown', () => {
    const r = prng(20240609);
    const bases: PngImage[] = [];
    for (const [ct, depths] of DEPTHS)
      for (const bd of depths) bases.push(randomImage(r, ct, bd, 1 + r(12), 1 + r(12), r(2) as 0 | 1));
    const keyed = randomImage(r, 2, 8, 6, 5, 0);
    bases.push({ ...keyed, trns: Uint8Array.of(0, 1, 0, 2, 0, 3) });
    const kinds = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const img = bases[r(bases.length)]!;
      const chunks = pngChunks(img, { filter: 'mixed', idatSplit: 1 + r(64) });
      let png: Uint8Array;
      const m = r(6);
      if (m === 0) {
        // flip bits anywhere (mostly caught by CRCs)
        png = Uint8Array.from(assemblePng(chunks));
        for (let k = 1 + r(4); k > 0; k--) png[r(png.length)] ^= 1 << r(8);
      } else if (m === 1) {
        // truncate or extend
        const b = assemblePng(chunks);
        png = r(2)
          ? b.subarray(0, r(b.length))
          : Uint8Array.of(...b, ...Array.from({ length: 1 + r(20) }, () => r(256)));
      } else if (m === 2) {
        // corrupt one chunk's data, CRC repaired: reaches IHDR / PLTE / tRNS / zlib checks
        const c = chunks[r(chunks.length)]!;
        const d = Uint8Array.from(c.data);
        if (d.length) for (let k = 1 + r(3); k > 0; k--) d[r(d.length)] = r(256);
        png = assemblePng(chunks.map((x) => (x === c ? { ...x, data: d } : x)));
      } else if (m === 3) {
        // corrupt the inflated scanlines and recompress: filter bytes, palette indices
        const raw = pako.inflate(pngChunks(img).find((c) => c.type === 'IDAT')!.data);
        for (let k = 1 + r(3); k > 0; k--) raw[r(raw.length)] = r(2) ? r(256) : 5 + r(251);
        const cut = r(4) === 0 ? raw.subarray(0, r(raw.length + 1)) : raw;
        png = assemblePng(
          chunks.filter((c) => c.type !== 'IDAT').flatMap((c) => (c.type === 'IEND' ? [idatOf(cut), c] : [c])),
        );
      } else if (m === 4) {
        // shuffle, drop or duplicate chunks
        const cs = [...chunks];
        const a = r(cs.length),
          b = r(cs.length);
        if (r(3) === 0) cs.splice(a, 1);
        else if (r(2)) [cs[a], cs[b]] = [cs[b]!, cs[a]!];
        else cs.splice(a, 0, cs[b]!);
        png = assemblePng(cs);
      } else {
        // random IHDR fields, CRC repaired
        const d = Uint8Array.from(chunks[0]!.data);
        d[r(13)] = r(256);
        png = assemblePng([{ type: 'IHDR', data: d }, ...chunks.slice(1)]);
      }
      for (const want of [1, 3] as const) {
        try {
          decodePng(png, opts(want));
          pngToModelInput(png, { ...SHAPE, channels: want });
          accepted++;
        } catch (e) {
          if (!(e instanceof ImageError))
            throw new Error(`case ${i} (mutation ${m}) threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
          const k = e.message.replace(/\d+/g, 'N').slice(0, 50);
          kinds.set(k, (kinds.get(k) ?? 0) + 1);
        }
      }
    }
    console.log(`fuzz: ${accepted} decodes accepted, ${kinds.size} kinds of rejection`);
    expect(kinds.size).toBeGreaterThan(20);
  });
});
