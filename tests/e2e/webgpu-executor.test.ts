/**
 * The `webgpu` executor (onnxruntime-web's WebGPU EP through Dawn, npm `webgpu`) against the `cpu`
 * executor (onnxruntime-node), graph by graph, on a smoke bundle trained here. Without a GPU it runs
 * on Mesa's lavapipe (software Vulkan; `.ci/run` installs it): slow, but the same code path as the H100.
 *
 * No Vulkan adapter is a FAILURE, not a skip: a silently skipped GPU test proves nothing. Machines
 * that cannot have one opt out explicitly with EDGE_CASCADE_SKIP_WEBGPU=1.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../gpu-backend/src/bundle.js';
import { type BundleFiles, type Executor, graphList } from '../../gpu-backend/src/executors/executor.js';
import { createOrtNodeExecutor } from '../../gpu-backend/src/executors/ort-node.js';
import { createWebGpuExecutor } from '../../gpu-backend/src/executors/webgpu.js';
import { startBackend } from '../../gpu-backend/src/start-backend.js';
import { runAttach } from '../../training/attach.js';
import { runBackbone } from '../../training/backbone/command.js';
import {
  ATTACH_CONFIGS,
  ATTACH_DEFAULTS,
  BACKBONE_CONFIGS,
  BACKBONE_DEFAULTS,
  resolveConfig,
} from '../../training/config.js';
import { fixedInput, maxAbsDiff } from '../helpers/runtimes.js';

const SKIP = process.env.EDGE_CASCADE_SKIP_WEBGPU === '1';
/** The tolerance between GPU and CPU outputs. */
const TOL = 1e-4;

let dir: string;
let bundle: BundleFiles;
let gpu: Executor;
let cpu: Executor;

describe.skipIf(SKIP)('webgpu executor (Dawn; lavapipe without a GPU)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-cascade-webgpu-'));
    await runBackbone(resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'smoke', [`--out=${dir}`]), { quiet: true });
    await runAttach(
      resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', [`--backbone=${join(dir, 'backbone.onnx')}`]),
      { quiet: true },
    );
    bundle = loadBundle(dir);
    try {
      gpu = await createWebGpuExecutor(bundle);
    } catch (e) {
      throw new Error(
        `the webgpu executor could not start: ${(e as Error).message}\n` +
          'It needs a Vulkan driver: on Debian bookworm run .ci/run (installs libvulkan1 + mesa-vulkan-drivers from bookworm-backports), ' +
          'or set EDGE_CASCADE_SKIP_WEBGPU=1 to skip this file on a machine that cannot have one.',
        { cause: e },
      );
    }
    cpu = await createOrtNodeExecutor('cpu', bundle, 1);
  });
  afterAll(async () => {
    await gpu?.release();
    await cpu?.release();
  });

  it('reports the adapter it runs on, and the onnxruntime-web build (native by default)', () => {
    expect(gpu.name).toBe('webgpu');
    expect(gpu.info?.build).toBe('native');
    expect(gpu.info?.vendor).toBeTruthy();
    expect(typeof gpu.info?.isFallbackAdapter).toBe('boolean');
  });

  for (const n of [1, 5]) {
    it(`every segment and exit matches the cpu executor within ${TOL} at batch ${n}`, async () => {
      for (const g of graphList(bundle.manifest)) {
        const per = g.inputShape.reduce((a, c) => a * c, 1);
        const x = fixedInput(n * per, g.index + 2);
        const dims = [n, ...g.inputShape];
        const [a, b] = [await gpu.run(g.kind, g.index, x, dims), await cpu.run(g.kind, g.index, x, dims)];
        expect(Object.keys(a).sort(), `${g.kind} ${g.index} outputs`).toEqual(Object.keys(b).sort());
        for (const k of Object.keys(b)) {
          expect(a[k]!.length, `${g.kind} ${g.index} ${k} length`).toBe(b[k]!.length);
          expect(maxAbsDiff(a[k]!, b[k]!), `${g.kind} ${g.index} ${k} max |Δ| at batch ${n}`).toBeLessThan(TOL);
        }
      }
    });
  }

  it('keeps each result intact across later runs and concurrent calls', async () => {
    const s = bundle.manifest.segments[1]!;
    const per = s.inputShape.reduce((a, c) => a * c, 1);
    const xs = [1, 2, 3].map((k) => fixedInput(3 * per, k));
    const outs = await Promise.all(xs.map((x) => gpu.run('segment', 1, x, [3, ...s.inputShape])));
    for (const [k, x] of xs.entries()) {
      const ref = (await cpu.run('segment', 1, x, [3, ...s.inputShape]))[s.output]!;
      expect(maxAbsDiff(outs[k]![s.output]!, ref)).toBeLessThan(TOL);
    }
  });

  it('the backend reports the adapter in /readyz, and prefers cpu over a software adapter', async () => {
    for (const [executors, want] of [
      ['webgpu', 'webgpu'],
      ['webgpu,cpu', gpu.info!.isFallbackAdapter ? 'cpu' : 'webgpu'],
    ] as const) {
      const b = await startBackend(
        { CASCADE_SECRET: 'webgpu-test-secret-0123456789', PORT: '0', MODEL_DIR: dir, EXECUTORS: executors },
        () => undefined,
      );
      try {
        const r = (await (await fetch(`${b.url}/readyz`)).json()) as {
          executor: string;
          adapter?: { vendor: string };
          fallbacks: { name: string; reason: string }[];
        };
        expect(r.executor, executors).toBe(want);
        if (want === 'webgpu') expect(r.adapter?.vendor).toBe(gpu.info!.vendor);
        // Tried and refused (a software adapter), or not tried on a machine without a GPU device.
        else expect(r.fallbacks[0]?.reason).toMatch(/software fallback adapter|skipped: no GPU device/);
      } finally {
        await b.stop();
      }
    }
  });
});
