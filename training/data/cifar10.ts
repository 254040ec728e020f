/**
 * CIFAR-10 binary format (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`): records of
 * 3073 bytes, a label byte then 3072 pixel bytes as three 32×32 planes (R, G, B). Converted to the
 * dataset's HWC layout. For users who have the files; nothing is downloaded.
 *
 * Split: the last `valPerClass` images of each class in the training batches are validation.
 *
 * @example
 * const ds = loadCifar10('/data/cifar-10-batches-bin');
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Dataset, DatasetError, type Split } from './dataset.js';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
export const CIFAR_RECORD = 3073;
const SIDE = 32;
const PLANE = SIDE * SIDE;

/** Parses one batch file into HWC u8 images and labels. */
export function parseCifarBatch(bytes: Uint8Array, file = 'batch'): Split {
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) {
    throw new DatasetError(
      'DATASET_MALFORMED',
      `${file}: ${bytes.length} bytes is not a whole number of ${CIFAR_RECORD}-byte CIFAR-10 records`,
    );
  }
  const count = bytes.length / CIFAR_RECORD;
  const images = new Uint8Array(count * PLANE * 3);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const rec = n * CIFAR_RECORD;
    const label = bytes[rec]!;
    if (label > 9) throw new DatasetError('DATASET_MALFORMED', `${file}: record ${n} has label ${label}, expected 0-9`);
    labels[n] = label;
    for (let p = 0; p < PLANE; p++)
      for (let c = 0; c < 3; c++) images[(n * PLANE + p) * 3 + c] = bytes[rec + 1 + c * PLANE + p]!;
  }
  return { images, labels, count };
}

function concat(splits: Split[]): Split {
  const count = splits.reduce((a, s) => a + s.count, 0);
  const images = new Uint8Array(count * PLANE * 3),
    labels = new Uint8Array(count);
  let n = 0;
  for (const s of splits) {
    images.set(s.images, n * PLANE * 3);
    labels.set(s.labels, n);
    n += s.count;
  }
  return { images, labels, count };
}

function select(s: Split, keep: (i: number) => boolean): Split {
  const idx = Array.from({ length: s.count }, (_, i) => i).filter(keep);
  const per = PLANE * 3;
  const images = new Uint8Array(idx.length * per),
    labels = new Uint8Array(idx.length);
  idx.forEach((i, k) => {
    images.set(s.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = s.labels[i]!;
  });
  return { images, labels, count: idx.length };
}

export function loadCifar10(
  dir: string,
  opts: { valPerClass?: number; trainFiles?: string[]; testFile?: string } = {},
): Dataset {
  if (!dir || !existsSync(dir))
    throw new DatasetError(
      'DATASET_MISSING',
      `CIFAR-10 folder "${dir}" not found (expected data_batch_1.bin … data_batch_5.bin and test_batch.bin)`,
    );
  const trainFiles = opts.trainFiles ?? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
  const testFile = opts.testFile ?? 'test_batch.bin';
  const read = (f: string) => {
    const p = join(dir, f);
    if (!existsSync(p)) throw new DatasetError('DATASET_MISSING', `CIFAR-10 file ${p} not found`);
    return parseCifarBatch(readFileSync(p), p);
  };
  const all = concat(trainFiles.map(read));
  const valPerClass = opts.valPerClass ?? 500;
  // Mark the last valPerClass images of each class as validation.
  const seen = new Array<number>(10).fill(0),
    totals = new Array<number>(10).fill(0);
  all.labels.forEach((l) => {
    totals[l]!++;
  });
  const isVal = Array.from(all.labels, (l) => ++seen[l]! > totals[l]! - valPerClass);
  return {
    name: 'cifar10',
    shape: { channels: 3, height: SIDE, width: SIDE },
    classes: CIFAR10_CLASSES,
    train: select(all, (i) => !isVal[i]),
    val: select(all, (i) => isVal[i]!),
    test: read(testFile),
    split: `training batches in file order; the last ${valPerClass} of each class are validation; test_batch.bin is test`,
  };
}
