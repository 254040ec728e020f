/**
 * End to end on one machine: the GPU backend (Node, onnxruntime-node) and the edge worker in
 * `wrangler dev` (workerd, onnxruntime-web, local KV). Real test images; the edge's forwards are
 * answered by the backend, and the cascade's answers equal the full model's.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { normaliseImages } from '../../core/normalise.js';
import { argmax } from '../../core/policies.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { applyLocalMigrations } from '../../scripts/d1-migrations.js';
import { putRegion as putRegionAt, spawnWranglerDev, waitUntilUp } from '../../scripts/wrangler-dev.js';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import { floodChunked, rawExchange } from '../helpers/raw-http.js';
import { runNode } from '../helpers/runtimes.js';

const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';
const SECRET = 'e2e-cascade-secret-0123456789';
const ADMIN = 'e2e-admin-token';
const EDGE = 'http://127.0.0.1:8796';
const m = readManifest(DIR);
const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 2 } });

let backend: RunningBackend;
let worker: ChildProcess;

beforeAll(async () => {
  backend = await startBackend(
    { CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu' },
    () => undefined,
  );
  // The decision metrics' tables, in this test's own local state, as npm start applies them.
  const migrate = applyLocalMigrations(['--persist-to', '.cache/e2e-wrangler-state'], 'pipe');
  if (migrate.status !== 0) throw new Error(`wrangler d1 migrations apply failed: ${migrate.stderr}`);
  worker = spawnWranglerDev({
    port: 8796,
    vars: { CASCADE_SECRET: SECRET, ADMIN_TOKEN: ADMIN, BACKEND_URL: backend.url, BACKEND_TIMEOUT_MS: '5000' },
    persistTo: '.cache/e2e-wrangler-state',
  });
  await waitUntilUp(`${EDGE}/healthz`, worker);
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  await backend?.stop();
});

const putRegion = (key: string, settings: unknown) => putRegionAt(EDGE, ADMIN, key, settings);

describe('edge worker + GPU backend', () => {
  it('not-confident requests are answered by the backend, and equal the full model', async () => {
    await putRegion('colo:TST', { policy: 'confidence', thresholds: m.exits.map(() => 2), split: 1, encoding: 'f32' });
    const x = normaliseImages(
      ds.test.images,
      ds.test.count,
      ds.shape,
      m.input.normalisation.mean,
      m.input.normalisation.std,
      m.input.layout,
    );
    const logits = (
      await runNode(new Uint8Array(readFileSync(join(DIR, m.backbone.file))), x, [ds.test.count, ...m.input.shape])
    )[m.backbone.output]!;
    for (let i = 0; i < ds.test.count; i++) {
      const res = await fetch(`${EDGE}/v1/classify`, {
        method: 'POST',
        body: ds.test.images.slice(i * 784, (i + 1) * 784) as unknown as BodyInit,
        headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': 'colo:TST' },
      });
      const j = (await res.json()) as {
        where: string;
        degraded: boolean;
        classIndex: number;
        exit: number;
        thresholdVersion: string;
        timings: { backendMs: number };
      };
      expect(j.where).toBe('backend');
      expect(j.degraded).toBe(false);
      expect(j.exit).toBe(m.exits.length);
      expect(j.classIndex).toBe(argmax(logits.subarray(i * 10, (i + 1) * 10)));
      expect(j.thresholdVersion).toMatch(/^colo:TST@v\d+$/);
    }
  });

  it('survives clients that disconnect mid-upload or keep sending after a 413 (wrangler < 4.164 exited on both)', async () => {
    const raw = (head: string, send: (s: Socket) => void) => rawExchange('127.0.0.1', 8796, head, send);
    // Announces 100,000 bytes, sends 1,000, disconnects.
    await raw(
      'POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-type: image/png\r\ncontent-length: 100000\r\n\r\n',
      (s) => {
        s.write(Buffer.alloc(1000));
        setTimeout(() => s.destroy(), 300);
      },
    );
    // A chunked upload past the 8 MiB cap: answered 413 while it still sends, then disconnects.
    const answer = await raw(
      'POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-type: image/png\r\ntransfer-encoding: chunked\r\n\r\n',
      floodChunked(12 << 20),
    );
    if (answer) expect(answer).toMatch(/^HTTP\/1\.1 413/);
    await new Promise((r) => setTimeout(r, 500));
    expect(worker.exitCode).toBeNull();
    expect((await fetch(`${EDGE}/healthz`)).status).toBe(200);
  });

  it('confident requests never reach the backend', async () => {
    await putRegion('colo:EDG', { policy: 'max-softmax', thresholds: m.exits.map(() => 0), split: 1, encoding: 'f16' });
    // The backend's request series (its process metrics, CPU and memory, move by themselves).
    const served = async () =>
      (await (await fetch(`${backend.url}/metrics`)).text())
        .split('\n')
        .filter((l) =>
          /^cascade_(requests_total|errors_total|exits_total|batch_size|queue_seconds|compute_seconds)/.test(l),
        )
        .join('\n');
    const before = await served();
    expect(before).toMatch(/^cascade_batch_size_count \d+$/m);
    const res = await fetch(`${EDGE}/v1/classify`, {
      method: 'POST',
      body: ds.test.images.slice(0, 784) as unknown as BodyInit,
      headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': 'colo:EDG' },
    });
    const j = (await res.json()) as { where: string; exit: number };
    expect(j).toMatchObject({ where: 'edge', exit: 0 });
    expect(await served()).toBe(before);
  });
});
