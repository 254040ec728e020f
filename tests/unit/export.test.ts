/**
 * The ONNX writers reproduce the tfjs training models (inference mode, BatchNorm folded) in
 * onnxruntime-node and onnxruntime-web.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { exportResNetOnnx } from '../../training/backbone/export.js';
import type { ConvBn } from '../../training/backbone/resnet.js';
import { mulberry32, ResNet } from '../../training/backbone/resnet.js';
import { Branch } from '../../training/branches/branch.js';
import { exportBranchOnnx } from '../../training/branches/export.js';
import { avgPoolNchw } from '../../training/branches/features.js';
import { initTf, tf } from '../../training/tf.js';
import { fixedInput, maxAbsDiff, runNode, runWeb } from '../helpers/runtimes.js';

beforeAll(async () => {
  await initTf({ backend: 'cpu', quiet: true });
});

/** Non-trivial BatchNorm state, as after training. */
function perturbBn(convs: ConvBn[], seed: number): void {
  const r = mulberry32(seed);
  for (const c of convs) {
    const n = c.bn.gamma.shape[0]!;
    const v = (base: number, spread: number) =>
      tf.tensor1d(Float32Array.from({ length: n }, () => base + spread * r()));
    c.bn.gamma.assign(v(0.7, 0.6));
    c.bn.beta.assign(v(-0.2, 0.4));
    c.bn.runningMean = v(-0.3, 0.6);
    c.bn.runningVar = v(0.3, 1.5);
  }
}

const nchwToNhwc = (x: Float32Array, dims: number[]) =>
  tf.transpose(tf.tensor4d(x, dims as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D;

describe('ONNX export matches the tfjs models', () => {
  it('ResNet backbone (three stages, strided shortcuts)', async () => {
    const net = new ResNet(
      tf,
      { inputChannels: 1, numClasses: 10, stemWidth: 8, widths: [8, 16, 16], blocksPerStage: 1 },
      5,
    );
    perturbBn(net.convs(), 9);
    const x = fixedInput(3 * 784);
    const want = net.forward(nchwToNhwc(x, [3, 1, 28, 28]), false).dataSync() as Float32Array;
    const bytes = exportResNetOnnx(net, { height: 28, width: 28 });
    expect(maxAbsDiff((await runNode(bytes, x, [3, 1, 28, 28])).logits!, want)).toBeLessThan(1e-4);
    expect(maxAbsDiff((await runWeb(bytes, x, [3, 1, 28, 28])).logits!, want)).toBeLessThan(1e-4);
  });

  it.each([
    [16, 28, 28, 2],
    [32, 14, 14, 1],
    [64, 7, 7, 1],
  ])('exit branch on [%i, %i, %i] features (pool %i)', async (c, h, w, pool) => {
    const b = new Branch(tf, 'exit_t', { channels: c, height: h, width: w }, { width: 24, classes: 10 }, mulberry32(4));
    perturbBn(b.convs, 2);
    expect(b.pool).toBe(pool);
    const x = fixedInput(2 * c * h * w, 5).map(Math.abs);
    // The tfjs branch reads features already pooled (what the feature cache stores); the exported graph reads the raw cut.
    const pooled = avgPoolNchw(x, 2, c, h, w, b.pool);
    const want = b.forward(nchwToNhwc(pooled, [2, c, h / pool, w / pool]), false);
    const bytes = exportBranchOnnx(b);
    for (const out of [await runNode(bytes, x, [2, c, h, w]), await runWeb(bytes, x, [2, c, h, w])]) {
      expect(maxAbsDiff(out.logits!, want.logits.dataSync())).toBeLessThan(1e-4);
      expect(maxAbsDiff(out.confidence!, want.confidence.dataSync())).toBeLessThan(1e-5);
    }
  });

  it('the pooledInput graph on JS-pooled features equals the full graph on the raw cut', async () => {
    const [c, h, w] = [16, 28, 28];
    const b = new Branch(tf, 'exit_p', { channels: c, height: h, width: w }, { width: 16, classes: 10 }, mulberry32(7));
    perturbBn(b.convs, 3);
    expect(b.pool).toBe(2);
    expect(b.pooledInput).toEqual({ channels: c, height: 14, width: 14 });
    const x = fixedInput(3 * c * h * w, 3);
    const full = await runNode(exportBranchOnnx(b), x, [3, c, h, w]);
    const pre = await runNode(exportBranchOnnx(b, { pooledInput: true }), avgPoolNchw(x, 3, c, h, w, b.pool), [
      3,
      c,
      h / 2,
      w / 2,
    ]);
    expect(full.logits!.length).toBe(3 * 10);
    expect(full.confidence!.length).toBe(3);
    expect(maxAbsDiff(full.logits!, pre.logits!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(full.confidence!, pre.confidence!)).toBeLessThan(1e-5);
    // The variants differ: the full graph does not accept pooled features.
    await expect(runNode(exportBranchOnnx(b), avgPoolNchw(x, 3, c, h, w, 2), [3, c, 14, 14])).rejects.toThrow();
  });
});
