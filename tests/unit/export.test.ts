/**
 * The ONNX writers reproduce the tfjs training models (inference mode, BatchNorm folded) in
 * onnxruntime-node and onnxruntime-web.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initTf, tf } from '../../training/tf.js';
import { ResNet, mulberry32 } from '../../training/backbone/resnet.js';
import { exportResNetOnnx } from '../../training/backbone/export.js';
import { Branch } from '../../training/branches/branch.js';
import { exportBranchOnnx } from '../../training/branches/export.js';
import type { ConvBn } from '../../training/backbone/resnet.js';
import { fixedInput, maxAbsDiff, runNode, runWeb } from '../helpers/runtimes.js';

beforeAll(async () => {
  await initTf({ backend: 'cpu', quiet: true });
});

/** Non-trivial BatchNorm state, as after training. */
function perturbBn(convs: ConvBn[], seed: number): void {
  const r = mulberry32(seed);
  for (const c of convs) {
    const n = c.bn.gamma.shape[0]!;
    const v = (base: number, spread: number) => tf.tensor1d(Float32Array.from({ length: n }, () => base + spread * r()));
    c.bn.gamma.assign(v(0.7, 0.6));
    c.bn.beta.assign(v(-0.2, 0.4));
    c.bn.runningMean = v(-0.3, 0.6);
    c.bn.runningVar = v(0.3, 1.5);
  }
}

const nchwToNhwc = (x: Float32Array, dims: number[]) => tf.transpose(tf.tensor4d(x, dims as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D;

describe('ONNX export matches the tfjs models', () => {
  it('ResNet backbone (three stages, strided shortcuts)', async () => {
    const net = new ResNet(tf, { inputChannels: 1, numClasses: 10, stemWidth: 8, widths: [8, 16, 16], blocksPerStage: 1 }, 5);
    perturbBn(net.convs(), 9);
    const x = fixedInput(3 * 784);
    const want = net.forward(nchwToNhwc(x, [3, 1, 28, 28]), false).dataSync() as Float32Array;
    const bytes = exportResNetOnnx(net, { height: 28, width: 28 });
    expect(maxAbsDiff((await runNode(bytes, x, [3, 1, 28, 28])).logits!, want)).toBeLessThan(1e-4);
    expect(maxAbsDiff((await runWeb(bytes, x, [3, 1, 28, 28])).logits!, want)).toBeLessThan(1e-4);
  });

  it.each([[16, 28, 28], [32, 14, 14], [64, 7, 7]])('exit branch on [%i, %i, %i] features', async (c, h, w) => {
    const b = new Branch(tf, 'exit_t', { channels: c, height: h, width: w }, { width: 24, classes: 10 }, mulberry32(4));
    perturbBn(b.convs, 2);
    const x = fixedInput(2 * c * h * w, 5).map(Math.abs);
    const want = b.forward(nchwToNhwc(x, [2, c, h, w]), false);
    const bytes = exportBranchOnnx(b);
    for (const out of [await runNode(bytes, x, [2, c, h, w]), await runWeb(bytes, x, [2, c, h, w])]) {
      expect(maxAbsDiff(out.logits!, want.logits.dataSync())).toBeLessThan(1e-4);
      expect(maxAbsDiff(out.confidence!, want.confidence.dataSync())).toBeLessThan(1e-5);
    }
  });
});
