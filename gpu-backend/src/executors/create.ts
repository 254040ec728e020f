/**
 * Picks the first executor in the configured order that loads and passes a warm-up run of every
 * graph (the first WebGPU run compiles shaders: pay it at start-up, not on a request). Each
 * fallback is logged with its reason; the active one and the fallbacks are reported in /readyz.
 * WebGPU on a software (fallback) adapter counts as unavailable unless it is the last choice.
 * An executor the machine plainly lacks (no GPU device, no CUDA provider: host.ts) is skipped without
 * being tried, unless it is the last choice, so a machine without a GPU starts without native noise.
 */
import type { Config } from '../config.js';
import { type BundleFiles, type Executor, graphList } from './executor.js';
import { defaultHostProbe, type HostProbe, hostSkipReason } from './host.js';
import { createOrtNodeExecutor } from './ort-node.js';
import { createWebGpuExecutor, type WebGpuBuild } from './webgpu.js';

export interface ExecutorChoice {
  executor: Executor;
  fallbacks: { name: string; reason: string }[];
}

async function warmUp(ex: Executor, b: BundleFiles): Promise<void> {
  for (const g of graphList(b.manifest)) {
    await ex.run(g.kind, g.index, new Float32Array(g.inputShape.reduce((a, c) => a * c, 1)), [1, ...g.inputShape]);
  }
}

export async function createExecutor(
  order: ('webgpu' | 'cuda' | 'cpu')[],
  b: BundleFiles,
  opts: {
    cpuThreads: number;
    cpuSpinning?: boolean;
    webgpuBuild?: WebGpuBuild;
    log: (m: string) => void;
    /** What the machine has (tests pass their own). */
    host?: HostProbe;
  },
): Promise<ExecutorChoice> {
  const fallbacks: { name: string; reason: string }[] = [];
  const host = opts.host ?? defaultHostProbe();
  for (const name of order) {
    const later = order.slice(order.indexOf(name) + 1);
    const skip = later.length ? hostSkipReason(name, host) : undefined;
    if (skip) {
      // Expected on this machine: in the fallbacks (and /readyz), and in the one line naming the
      // executor that starts, not a line of its own.
      fallbacks.push({ name, reason: `skipped: ${skip}` });
      continue;
    }
    try {
      // A software adapter (lavapipe, SwiftShader) is correct but far slower than the cpu executor:
      // take it only when nothing follows it in the order (EXECUTORS=webgpu, as the tests do).
      const ex =
        name === 'webgpu'
          ? await createWebGpuExecutor(b, {
              allowFallbackAdapter: later.length === 0,
              build: opts.webgpuBuild ?? 'native',
            }).catch((e: Error) => {
              throw later.length && /software fallback adapter/.test(e.message)
                ? new Error(`${e.message}; ${later.join(', ')} will be faster`)
                : e;
            })
          : await createOrtNodeExecutor(name, b, opts.cpuThreads, opts.cpuSpinning ?? false);
      await warmUp(ex, b);
      opts.log(
        `executor: ${name}${ex.info ? ` (${ex.info.build ?? 'native'} build) on ${ex.info.vendor} ${ex.info.device}${ex.info.isFallbackAdapter ? ' (software fallback adapter)' : ''}` : ''}${fallbacks.length ? ` (${fallbacks.map((f) => `${f.name} ${f.reason.startsWith('skipped: ') ? f.reason : 'failed (above)'}`).join('; ')})` : ''}`,
      );
      return { executor: ex, fallbacks };
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0]!.slice(0, 300);
      fallbacks.push({ name, reason });
      opts.log(`executor ${name} unavailable: ${reason}`);
    }
  }
  throw new Error(`no executor could start: ${fallbacks.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
}

/** The executor the backend's configuration asks for (EXECUTORS, CPU_THREADS, CPU_SPINNING, WEBGPU_BUILD). */
export function createConfiguredExecutor(
  cfg: Config,
  b: BundleFiles,
  log: (m: string) => void,
): Promise<ExecutorChoice> {
  return createExecutor(cfg.EXECUTORS, b, {
    cpuThreads: cfg.CPU_THREADS,
    cpuSpinning: cfg.CPU_SPINNING,
    webgpuBuild: cfg.WEBGPU_BUILD,
    log,
  });
}
