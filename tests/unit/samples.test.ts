/** samples/ holds what scripts/make-samples.ts writes: real test images, decodable, named by their class. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodePng, pngOptionsFor } from '../../core/png.js';
import { JSON_SAMPLE, SAMPLES_DIR, type SampleEntry, sampleSet } from '../../scripts/make-samples.js';

describe('samples/', () => {
  it("holds each class's first test images as PNGs equal to the dataset, listed in index.json", () => {
    const index = JSON.parse(readFileSync(`${SAMPLES_DIR}/index.json`, 'utf8')) as SampleEntry[];
    const { entries, pixels } = sampleSet();
    expect(index).toEqual(entries);
    expect(new Set(index.map((e) => e.classIndex)).size).toBe(10);
    entries.forEach((e, k) => {
      const img = decodePng(
        new Uint8Array(readFileSync(`${SAMPLES_DIR}/${e.file}`)),
        pngOptionsFor({ channels: 1, height: 28, width: 28 }),
      );
      expect([img.width, img.height, img.channels]).toEqual([28, 28, 1]);
      expect(Array.from(img.data)).toEqual(Array.from(pixels[k]!));
    });
    expect(JSON.parse(readFileSync(`${SAMPLES_DIR}/${JSON_SAMPLE}`, 'utf8'))).toEqual({
      pixels: Array.from(pixels[0]!),
    });
  });
});
