/**
 * What this machine has for each executor, checked without loading anything: a GPU device node for
 * WebGPU (Dawn) and CUDA, and onnxruntime-node's CUDA provider library for CUDA. createExecutor
 * skips an executor the machine plainly cannot run (unless it is the last choice, i.e. asked for
 * explicitly), because trying it prints native noise nobody can act on: Dawn's Vulkan limit warnings
 * on a software adapter, onnxruntime's red `provider_bridge_ort.cc … Failed to load library` lines,
 * which its native logger writes to stderr before the session options' log level applies.
 *
 * @example
 * hostSkipReason('cuda', defaultHostProbe()) // → 'onnxruntime-node has no CUDA provider (libonnxruntime_providers_cuda.so) …'
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface HostProbe {
  platform: NodeJS.Platform;
  /** GPU device nodes: /dev/dri/renderD*, /dev/nvidia0… (Linux only; empty elsewhere). */
  gpuDevices: string[];
  /** Whether /dev/nvidia0… exist (an NVIDIA driver is loaded). */
  nvidia: boolean;
  /** The CUDA provider library next to onnxruntime-node's binding, when it is there. */
  cudaProvider?: string;
  /** Where that library was looked for. */
  cudaProviderDir: string;
}

function list(dir: string, re: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => re.test(f))
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** The running machine. */
export function defaultHostProbe(): HostProbe {
  const nvidia = list('/dev', /^nvidia\d+$/);
  const render = list('/dev/dri', /^renderD\d+$/);
  // onnxruntime-node's dist/index.js → ../bin/napi-v6/<platform>/<arch>/ (its own binding loader's path).
  const pkg = dirname(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')));
  const dir = join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  const lib = join(
    dir,
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so',
  );
  return {
    platform: process.platform,
    gpuDevices: [...render, ...nvidia],
    nvidia: nvidia.length > 0,
    cudaProvider: existsSync(lib) ? lib : undefined,
    cudaProviderDir: dir,
  };
}

/**
 * Why `name` cannot run on this machine, or undefined when it may (the executor is then tried; it
 * can still fail and fall back). Only Linux's device nodes are checked: elsewhere (macOS Metal,
 * Windows D3D12) WebGPU is tried.
 */
export function hostSkipReason(name: 'webgpu' | 'cuda' | 'cpu', h: HostProbe): string | undefined {
  if (name === 'cpu') return undefined;
  if (name === 'cuda') {
    if (!h.cudaProvider)
      return `onnxruntime-node has no CUDA provider in ${h.cudaProviderDir} (docs/deploy.md, "The backend on a GPU host", says how to install it)`;
    if (h.platform === 'linux' && !h.nvidia) return 'no NVIDIA device (/dev/nvidia0)';
    return undefined;
  }
  if (h.platform === 'linux' && h.gpuDevices.length === 0) return 'no GPU device (/dev/dri/renderD*, /dev/nvidia*)';
  return undefined;
}
