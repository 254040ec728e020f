/**
 * The whole cascade on 1,000 real test images, with real processes on loopback: the GPU backend
 * (onnxruntime-node, cpu) and the edge worker in `wrangler dev` (workerd, onnxruntime-web, local KV
 * and Durable Objects). The same images run offline through onnxruntime-node: the full backbone,
 * and the cascade rule (run-edge.ts over every exit) at the same settings, which is what the
 * frontier's calibration computes for a point. The served cascade must:
 *   - match that prediction's accuracy within 0.5 pp (and nearly every single decision);
 *   - answer exactly as the backbone wherever the backend answered from the final head;
 *   - follow each region's thresholds: every edge exit off → nothing answered at the edge, exit 0
 *     at threshold 0 → everything answered there, the defaults → the predicted edge share;
 *   - show a threshold update within the region cache's TTL (thresholds/region-entries.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { normaliseImages } from '../../core/normalise.js';
import { argmax } from '../../core/policies.js';
import { manifestDefaults } from '../../core/regions.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { applyLocalMigrations } from '../../scripts/d1-migrations.js';
import { putRegion as putRegionAt, spawnWranglerDev, waitUntilUp } from '../../scripts/wrangler-dev.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import { type EdgeRunner, runEdge } from '../../workers/edge/src/cascade/run-edge.js';
import { CACHE_TTL_MS } from '../../workers/edge/src/thresholds/region-entries.js';

const DIR = 'models/fashion-resnet';
const SECRET = 'e2e-1000-secret-0123456789';
const ADMIN = 'e2e-1000-admin-token';
const PORT = 8866;
const EDGE = `http://127.0.0.1:${PORT}`;
const STATE = '.cache/e2e-1000-wrangler-state';
const m = readManifest(DIR);
// 100 per class: 1,000 of the test split, the same every run.
const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 100 } });
const N = ds.test.count;
const PIX = 784;

let backend: RunningBackend;
let worker: ChildProcess;

interface Served {
  classIndex: number;
  exit: number;
  where: 'edge' | 'backend';
  degraded: boolean;
  thresholdVersion: string;
}

async function classify(i: number, region: string): Promise<Served> {
  const res = await fetch(`${EDGE}/v1/classify`, {
    method: 'POST',
    body: ds.test.images.slice(i * PIX, (i + 1) * PIX) as unknown as BodyInit,
    headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': region },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Served;
}

/** Every image through the cascade for `region`, 8 at a time. */
async function serveAll(region: string, count = N): Promise<Served[]> {
  const out: Served[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < count; i = next++) out[i] = await classify(i, region);
    }),
  );
  return out;
}

const putRegion = (key: string, settings: unknown) => putRegionAt(EDGE, ADMIN, key, settings);

/** onnxruntime-node sessions of the bundle's segments and exits, as an EdgeRunner. */
async function nodeRunner(): Promise<EdgeRunner> {
  const open = (f: string) => ort.InferenceSession.create(join(DIR, f), { intraOpNumThreads: 1 });
  const segs = await Promise.all(m.segments.map((s) => open(s.file)));
  const exits = await Promise.all(m.exits.map((e) => open(e.file)));
  return {
    async segment(i, x) {
      const s = m.segments[i]!;
      return (await segs[i]!.run({ [s.input]: new ort.Tensor('float32', x, [1, ...s.inputShape]) }))[s.output]!
        .data as Float32Array;
    },
    async exit(i, x) {
      const e = m.exits[i]!;
      const o = await exits[i]!.run({ [e.inputName]: new ort.Tensor('float32', x, [1, ...e.inputShape]) });
      return {
        logits: o[e.outputs.logits]!.data as Float32Array,
        confidence: (o[e.outputs.confidence]!.data as Float32Array)[0]!,
      };
    },
  };
}

let x: Float32Array;
let backboneClass: number[];
const defaults = manifestDefaults(m);
const defaultThresholds = m.exits.map((e) => e.defaultThreshold);

beforeAll(async () => {
  x = normaliseImages(
    ds.test.images,
    N,
    ds.shape,
    m.input.normalisation.mean,
    m.input.normalisation.std,
    m.input.layout,
  );
  const session = await ort.InferenceSession.create(join(DIR, m.backbone.file), { intraOpNumThreads: 1 });
  const per = m.input.shape.reduce((a, b) => a * b, 1);
  backboneClass = [];
  for (let s = 0; s < N; s += 250) {
    const n = Math.min(250, N - s);
    const out = (
      await session.run({
        [session.inputNames[0]!]: new ort.Tensor('float32', x.subarray(s * per, (s + n) * per), [n, ...m.input.shape]),
      })
    )[m.backbone.output]!.data as Float32Array;
    for (let i = 0; i < n; i++) backboneClass.push(argmax(out.subarray(i * 10, (i + 1) * 10)));
  }
  backend = await startBackend(
    { CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu' },
    () => undefined,
  );
  // Fresh state: every region entry starts at v1.
  rmSync(STATE, { recursive: true, force: true });
  const migrate = applyLocalMigrations(['--persist-to', STATE], 'pipe');
  if (migrate.status !== 0) throw new Error(`wrangler d1 migrations apply failed: ${migrate.stderr}`);
  worker = spawnWranglerDev({
    port: PORT,
    vars: { CASCADE_SECRET: SECRET, ADMIN_TOKEN: ADMIN, BACKEND_URL: backend.url, BACKEND_TIMEOUT_MS: '5000' },
    persistTo: STATE,
  });
  await waitUntilUp(`${EDGE}/healthz`, worker);
}, 180_000);

afterAll(async () => {
  worker?.kill('SIGTERM');
  await backend?.stop();
});

describe('1,000 test images through the served cascade', () => {
  it("at the bundle's defaults: the predicted accuracy within 0.5 pp, the backbone's answers wherever the final head answered", async () => {
    const region = 'colo:DEF';
    await putRegion(region, defaults);
    // The prediction: the cascade rule over every exit, offline, on the same images.
    const runner = await nodeRunner();
    const per = m.input.shape.reduce((a, b) => a * b, 1);
    const predicted: { classIndex: number; exit: number }[] = [];
    for (let i = 0; i < N; i++) {
      const r = await runEdge(runner, m, x.subarray(i * per, (i + 1) * per), {
        policy: defaults.policy,
        thresholds: defaultThresholds,
        split: m.exits.length,
      });
      predicted.push(r.kind === 'answer' ? r.answer : { classIndex: backboneClass[i]!, exit: m.exits.length });
    }
    const served = await serveAll(region);
    const acc = (a: { classIndex: number }[]) => a.filter((r, i) => r.classIndex === ds.test.labels[i]).length / N;
    expect(served.every((s) => !s.degraded && s.thresholdVersion.startsWith(`${region}@v`))).toBe(true);
    expect(Math.abs(acc(served) - acc(predicted)) * 100).toBeLessThanOrEqual(0.5);
    const sameDecision = served.filter(
      (s, i) => s.exit === predicted[i]!.exit && s.classIndex === predicted[i]!.classIndex,
    ).length;
    expect(sameDecision / N).toBeGreaterThanOrEqual(0.99);
    // The final head is the backbone: where it answered, the answer is the backbone's.
    const finalHead = served.flatMap((s, i) => (s.exit === m.exits.length ? [i] : []));
    expect(finalHead.length).toBeGreaterThan(0);
    for (const i of finalHead) expect(served[i]!.classIndex, `image ${i}`).toBe(backboneClass[i]);
    // Edge share as predicted: answers from the exits before the split.
    const atEdge = (a: { exit: number }[]) => a.filter((r) => r.exit < defaults.split).length / N;
    expect(served.filter((s) => s.where === 'edge').length / N).toBeCloseTo(atEdge(served), 10);
    expect(Math.abs(atEdge(served) - atEdge(predicted))).toBeLessThanOrEqual(0.01);
    console.log(
      `1000 images, defaults (${defaults.policy}): served accuracy ${(acc(served) * 100).toFixed(2)} %, predicted ${(acc(predicted) * 100).toFixed(2)} %, backbone ${(acc(backboneClass.map((c) => ({ classIndex: c }))) * 100).toFixed(2)} %; edge share ${(atEdge(served) * 100).toFixed(1)} % (predicted ${(atEdge(predicted) * 100).toFixed(1)} %); decisions equal ${sameDecision}/${N}`,
    );
  }, 300_000);

  it("each region's thresholds set its edge share: every edge exit off → 0 %, exit 0 at threshold 0 → 100 %", async () => {
    const off = 'colo:OFF';
    const all = 'colo:ALL';
    await putRegion(off, { ...defaults, policy: 'max-softmax', thresholds: m.exits.map(() => 2) });
    await putRegion(all, { ...defaults, policy: 'max-softmax', thresholds: m.exits.map(() => 0) });
    const [a, b] = await Promise.all([serveAll(off, 200), serveAll(all, 200)]);
    expect(a.filter((s) => s.where === 'edge')).toEqual([]);
    for (const [i, s] of a.entries()) expect(s.classIndex).toBe(backboneClass[i]);
    expect(b.every((s) => s.where === 'edge' && s.exit === 0)).toBe(true);
  }, 300_000);

  it('a threshold update is visible within the region cache TTL', async () => {
    const key = 'colo:UPD';
    await putRegion(key, { ...defaults, policy: 'max-softmax', thresholds: m.exits.map(() => 2) });
    for (const t0 = Date.now(); (await classify(0, key)).where !== 'backend'; )
      if (Date.now() - t0 > CACHE_TTL_MS + 5000) throw new Error('first version not visible');
    await putRegion(key, { ...defaults, policy: 'max-softmax', thresholds: m.exits.map(() => 0) });
    const t0 = Date.now();
    let seen: Served;
    for (;;) {
      seen = await classify(0, key);
      if (seen.where === 'edge') break;
      expect(Date.now() - t0, 'update not visible within the TTL (+2 s)').toBeLessThan(CACHE_TTL_MS + 2000);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.thresholdVersion).toMatch(new RegExp(`^${key}@v2$`));
    console.log(`threshold update visible after ${Date.now() - t0} ms (cache TTL ${CACHE_TTL_MS} ms)`);
  }, 60_000);
});
