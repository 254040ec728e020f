/**
 * BatchNorm over N, H, W of an NHWC tensor with a hand-written gradient.
 *
 * tfjs's stock `batchNorm` gradient tiles tensors, which costs ~35 ms a call on the wasm backend
 * (docs/training-speed.md); the closed-form gradient below needs only reductions and
 * broadcasting element-wise ops.
 *
 * @example
 * const y = batchNorm(tf, x, state, true); // batch statistics, queues running-stat update
 */
import type { tf as TF } from '../tf.js';

type Tf = typeof TF;

export interface BatchNormState {
  gamma: TF.Variable;
  beta: TF.Variable;
  runningMean: TF.Tensor;
  runningVar: TF.Tensor;
  /** Batch statistics of the last training pass, kept until `ResNet.commitBatchNorm`. */
  pending: { mean: TF.Tensor; variance: TF.Tensor } | undefined;
}

/** The usual epsilon (PyTorch's and ONNX BatchNormalization's default), also used at export. */
export const BN_EPSILON = 1e-5;

export function batchNorm<T extends TF.Tensor>(tf: Tf, x: T, s: BatchNormState, training: boolean): T {
  if (!training) {
    return tf.tidy(() => {
      const scale = tf.mul(s.gamma, tf.rsqrt(tf.add(s.runningVar, BN_EPSILON)));
      return tf.add(tf.mul(tf.sub(x, s.runningMean), scale), s.beta) as T;
    });
  }
  const axes = [0, 1, 2];
  const f = tf.customGrad((...args: unknown[]) => {
    const [xin, gamma, beta, save] = args as [TF.Tensor, TF.Tensor, TF.Tensor, (t: TF.Tensor[]) => void];
    const { mean, variance } = tf.moments(xin, axes);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPSILON));
    const xhat = tf.mul(tf.sub(xin, mean), rstd);
    save([xhat, rstd, gamma]);
    s.pending?.mean.dispose();
    s.pending?.variance.dispose();
    s.pending = { mean: tf.keep(tf.clone(mean)), variance: tf.keep(tf.clone(variance)) };
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: TF.Tensor, saved: TF.Tensor[]) => {
        const [xh, rs, g] = saved as [TF.Tensor, TF.Tensor, TF.Tensor];
        const m = dy.size / dy.shape[3]!;
        const dbeta = tf.sum(dy, axes);
        const dgamma = tf.sum(tf.mul(dy, xh), axes);
        // dx = γ·rstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
        const dx = tf.mul(tf.sub(tf.sub(tf.mul(dy, m), dbeta), tf.mul(xh, dgamma)), tf.div(tf.mul(g, rs), m));
        return [dx, dgamma, dbeta];
      },
    };
  });
  return f(x, s.gamma, s.beta) as T;
}
