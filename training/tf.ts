/**
 * The one place training code gets TensorFlow.js from, and where its backend is chosen.
 *
 * Order of preference (first that loads wins, the choice is logged):
 *   1. `@tensorflow/tfjs-node-gpu`, 2. `@tensorflow/tfjs-node`: native TensorFlow, used when a host
 *      managed to install them (they cannot install on an offline machine: their install script
 *      downloads libtensorflow), so they are optional and imported dynamically;
 *   3. `wasm` with our conv gradient kernels (./backbone/wasm-grad-kernels.ts): ~25x pure JS here;
 *   4. `cpu` (pure JS), the last resort.
 *
 * @example
 * const { tf, backend } = await initTf();          // best available
 * const { tf } = await initTf({ backend: 'cpu' });  // force one (tests, parity checks)
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradKernels } from './backbone/wasm-grad-kernels.js';

export { tf };
export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';
export const TF_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfBackendChoice = (typeof TF_BACKENDS)[number];

async function tryNative(): Promise<boolean> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return true;
    } catch {
      // not installed here: fall through to the next candidate
    }
  }
  return false;
}

/** Selects and initialises a backend; returns the one that is active. */
export async function initTf(
  opts: { backend?: TfBackendChoice; quiet?: boolean } = {},
): Promise<{ tf: typeof tf; backend: TfBackendName }> {
  const want = opts.backend ?? 'auto';
  const log = (m: string) => {
    if (!opts.quiet) console.error(`[tf] ${m}`);
  };
  if ((want === 'auto' || want === 'tensorflow') && (await tryNative())) {
    await tf.setBackend('tensorflow');
    log('using native tensorflow (tfjs-node)');
    return { tf, backend: 'tensorflow' };
  }
  if (want === 'tensorflow')
    throw new Error(
      'backend "tensorflow" requested but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed',
    );
  if (want === 'auto' || want === 'wasm') {
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      registerWasmGradKernels();
      log('using wasm backend (native tfjs-node not installed)');
      return { tf, backend: 'wasm' };
    }
    if (want === 'wasm') throw new Error('backend "wasm" failed to initialise');
    log('wasm backend failed to initialise; falling back to pure-JS cpu');
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { tf, backend: 'cpu' };
}
