/**
 * Which executors the backend skips without trying (gpu-backend/src/executors/host.ts), and that
 * createExecutor honours it (it still tries the last choice, asked for explicitly: EXECUTORS=webgpu in
 * tests/e2e/webgpu-executor.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../core/node/bundle.js';
import { createExecutor } from '../../gpu-backend/src/executors/create.js';
import { type HostProbe, hostSkipReason } from '../../gpu-backend/src/executors/host.js';

const bare: HostProbe = { platform: 'linux', gpuDevices: [], nvidia: false, cudaProviderDir: '/x/bin' };
const nvidiaHost: HostProbe = {
  platform: 'linux',
  gpuDevices: ['/dev/dri/renderD128', '/dev/nvidia0'],
  nvidia: true,
  cudaProvider: '/x/bin/libonnxruntime_providers_cuda.so',
  cudaProviderDir: '/x/bin',
};

describe('hostSkipReason', () => {
  it('skips webgpu and cuda on a Linux machine without GPU devices or the CUDA provider', () => {
    expect(hostSkipReason('webgpu', bare)).toMatch(/no GPU device/);
    expect(hostSkipReason('cuda', bare)).toMatch(/no CUDA provider in \/x\/bin .*GPU host/);
    expect(hostSkipReason('cpu', bare)).toBeUndefined();
  });
  it('tries both on an NVIDIA host with the provider installed', () => {
    expect(hostSkipReason('webgpu', nvidiaHost)).toBeUndefined();
    expect(hostSkipReason('cuda', nvidiaHost)).toBeUndefined();
  });
  it('skips cuda when the provider is installed but no NVIDIA device is, and tries webgpu on a render node', () => {
    const amd: HostProbe = { ...nvidiaHost, gpuDevices: ['/dev/dri/renderD128'], nvidia: false };
    expect(hostSkipReason('cuda', amd)).toMatch(/no NVIDIA device/);
    expect(hostSkipReason('webgpu', amd)).toBeUndefined();
  });
  it('does not judge device nodes off Linux (Metal, D3D12): webgpu is tried', () => {
    expect(hostSkipReason('webgpu', { ...bare, platform: 'darwin' })).toBeUndefined();
  });
});

describe('createExecutor on a machine without a GPU', () => {
  const bundle = loadBundle('models/fashion-resnet');
  it('falls to cpu without trying webgpu or cuda, naming both skips in one line', async () => {
    const lines: string[] = [];
    const { executor, fallbacks } = await createExecutor(['webgpu', 'cuda', 'cpu'], bundle, {
      cpuThreads: 1,
      log: (m) => lines.push(m),
      host: bare,
    });
    try {
      expect(executor.name).toBe('cpu');
      expect(fallbacks.map((f) => f.name)).toEqual(['webgpu', 'cuda']);
      expect(fallbacks.every((f) => f.reason.startsWith('skipped: '))).toBe(true);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^executor: cpu \(webgpu skipped: no GPU device .*; cuda skipped: /);
    } finally {
      await executor.release();
    }
  });
});
