/**
 * The fuzz suite's seeded slice against the real backend app in process (onnxruntime-node CPU
 * executor, real HTTP on an ephemeral port): safetensors bodies valid and mutated, signatures,
 * replays under cosmetically different header bytes, non-finite results (tests/fuzz/, issue #9).
 * The full run with more cases is `npm run fuzz`.
 */

import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { backendSurface, edgeSurface } from '../fuzz/arbitraries.js';
import { nodeSender } from '../fuzz/node-send.js';
import { formatViolation, generate, runFuzz } from '../fuzz/runner.js';
import { caseSeed, fnv1a, preview } from '../fuzz/util.js';

const DIR = process.env.CASCADE_TEST_MODEL ?? 'models/fashion-resnet';
const SECRET = 'fuzz-backend-secret-0123456789';
const SEED = 20_259;
const CASES = 1200;
const m = readManifest(DIR);

let b: RunningBackend;
beforeAll(async () => {
  b = await startBackend({ CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: DIR, EXECUTORS: 'cpu' }, () => undefined);
});
afterAll(async () => {
  await b?.stop();
});

describe('fuzz: POST /v1/resume (seeded slice)', () => {
  it(`${CASES} labelled cases, seed ${SEED}: zero violations`, async () => {
    const r = await runFuzz({
      seed: SEED,
      classes: backendSurface(m),
      total: CASES,
      send: nodeSender(b.url),
      secret: SECRET,
      oracle: { classes: m.classes, exits: m.exits.length },
      concurrency: 8,
    });
    expect(r.cases).toBeGreaterThanOrEqual(CASES * 0.95);
    // Every class ran and produced answers.
    for (const [name, s] of Object.entries(r.byClass)) expect(s.requests, name).toBeGreaterThan(0);
    expect(r.violations.map(formatViolation)).toEqual([]);
  });

  it('the generators are deterministic: a case is reproduced from (class, caseSeed)', () => {
    for (const c of [...backendSurface(m), ...edgeSurface(m, 'token')]) {
      for (let i = 0; i < 3; i++) {
        const s = caseSeed(SEED, c.name, i);
        const a = generate(c, s),
          again = generate(c, s);
        expect(again.name, c.name).toBe(a.name);
        const digest = (x: typeof a) =>
          `${x.request.body?.length ?? 0}:${preview(x.request.body, 64)}:${fnv1a(Array.from(x.request.body ?? [], (v, k) => (k % 997 === 0 ? String.fromCharCode(v) : '')).join(''))}`;
        expect(digest(again), c.name).toBe(digest(a));
      }
    }
  });

  it('a 413 answered before the body is read does not break the next request on the same keep-alive connection', async () => {
    // Found by the fuzz suite: the backend answered 413 with `connection: keep-alive`, then closed the
    // socket, so a client's next request on it failed ("socket hang up" / "other side closed").
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (size: number) =>
      new Promise<string>((resolve) => {
        const r = request(
          `${b.url}/v1/resume`,
          { method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': size } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(`${res.statusCode} connection=${res.headers.connection}`));
          },
        );
        r.on('error', (e) => resolve(`error: ${e.message}`));
        r.end(Buffer.alloc(size));
      });
    const first = await send(2 * 1024 * 1024);
    const second = await send(100);
    agent.destroy();
    expect(first).toMatch(/^413/);
    // Either the 413 says it closes the connection, or the connection keeps working.
    if (!first.endsWith('connection=close')) expect(second).toMatch(/^401/);
  });
});
