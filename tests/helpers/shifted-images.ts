/**
 * Real test images of a "harder" traffic shape for the controller's workerd test: only the
 * pullover, coat and shirt classes (2, 4, 6) of the Fashion-MNIST test split, interleaved, raw u8.
 * Workerd has no file system, so vitest.config.ts hands them to the worker tests as a binding
 * (TEST_SHIFTED_IMAGES, base64); cached in .cache/ after the first load (the loader reads all 70,000).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';

export const SHIFTED_CLASSES = [2, 4, 6] as const;
const CACHE = '.cache/test-images/shifted-2-4-6.u8';

export function shiftedImages(): { count: number; base64: string } {
  if (!existsSync(CACHE)) {
    const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 1000 } });
    const px = ds.test.images.length / ds.test.count;
    const byClass = SHIFTED_CLASSES.map((c) => {
      const idx: number[] = [];
      for (let i = 0; i < ds.test.count; i++) if (ds.test.labels[i] === c) idx.push(i);
      return idx;
    });
    const n = Math.min(...byClass.map((x) => x.length));
    const out = new Uint8Array(n * SHIFTED_CLASSES.length * px);
    let k = 0;
    for (let j = 0; j < n; j++)
      for (const idx of byClass) out.set(ds.test.images.subarray(idx[j]! * px, (idx[j]! + 1) * px), k++ * px);
    mkdirSync('.cache/test-images', { recursive: true });
    writeFileSync(CACHE, out);
  }
  const b = readFileSync(CACHE);
  return { count: b.length / 784, base64: b.toString('base64') };
}
