/**
 * The `webgpu` executor on onnxruntime-web's JSEP build (`WEBGPU_BUILD=jsep`) against the `cpu`
 * executor, graph by graph, on the shipped bundle (lavapipe without a GPU). A file of its own: each
 * test file runs in its own process, and one process loads one onnxruntime-web build, as the backend
 * does (two builds, each with its own Dawn device, crashed a process here now and then).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../gpu-backend/src/bundle.js';
import { type BundleFiles, type Executor, graphList } from '../../gpu-backend/src/executors/executor.js';
import { createOrtNodeExecutor } from '../../gpu-backend/src/executors/ort-node.js';
import { createWebGpuExecutor } from '../../gpu-backend/src/executors/webgpu.js';
import { fixedInput, maxAbsDiff } from '../helpers/runtimes.js';

const SKIP = process.env.EDGE_CASCADE_SKIP_WEBGPU === '1';
const TOL = 1e-4;
const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';

let bundle: BundleFiles;
let jsep: Executor;
let cpu: Executor;

describe.skipIf(SKIP)('webgpu executor, JSEP build', () => {
  beforeAll(async () => {
    bundle = loadBundle(DIR);
    jsep = await createWebGpuExecutor(bundle, { build: 'jsep' });
    cpu = await createOrtNodeExecutor('cpu', bundle, 1);
  });
  afterAll(async () => {
    await jsep?.release();
    await cpu?.release();
  });

  it(`every segment and exit matches the cpu executor within ${TOL} at batch 3`, async () => {
    expect(jsep.info?.build).toBe('jsep');
    for (const g of graphList(bundle.manifest)) {
      const dims = [3, ...g.inputShape];
      const x = fixedInput(
        dims.reduce((a, c) => a * c, 1),
        g.index + 7,
      );
      const [a, b] = [await jsep.run(g.kind, g.index, x, dims), await cpu.run(g.kind, g.index, x, dims)];
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      for (const k of Object.keys(b)) expect(maxAbsDiff(a[k]!, b[k]!), `${g.kind} ${g.index} ${k}`).toBeLessThan(TOL);
    }
  });
});
