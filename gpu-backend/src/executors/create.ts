/**
 * Picks the first executor in the configured order that loads and passes a warm-up run of every
 * graph (the first WebGPU run compiles shaders: pay it at start-up, not on a request). Each
 * fallback is logged with its reason; the active one and the fallbacks are reported in /readyz.
 */
import { graphList, type BundleFiles, type Executor } from './executor.js';
import { createOrtNodeExecutor } from './ort-node.js';
import { createWebGpuExecutor } from './webgpu.js';

export interface ExecutorChoice { executor: Executor; fallbacks: { name: string; reason: string }[] }

async function warmUp(ex: Executor, b: BundleFiles): Promise<void> {
  for (const g of graphList(b.manifest)) {
    await ex.run(g.kind, g.index, new Float32Array(g.inputShape.reduce((a, c) => a * c, 1)), [1, ...g.inputShape]);
  }
}

export async function createExecutor(order: ('webgpu' | 'cuda' | 'cpu')[], b: BundleFiles, opts: { cpuThreads: number; log: (m: string) => void }): Promise<ExecutorChoice> {
  const fallbacks: { name: string; reason: string }[] = [];
  for (const name of order) {
    try {
      const ex = name === 'webgpu' ? await createWebGpuExecutor(b) : await createOrtNodeExecutor(name, b, opts.cpuThreads);
      await warmUp(ex, b);
      opts.log(`executor: ${name}${fallbacks.length ? ` (after falling back from ${fallbacks.map((f) => f.name).join(', ')})` : ''}`);
      return { executor: ex, fallbacks };
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0]!.slice(0, 300);
      fallbacks.push({ name, reason });
      opts.log(`executor ${name} unavailable: ${reason}`);
    }
  }
  throw new Error(`no executor could start: ${fallbacks.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
}
