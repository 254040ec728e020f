/**
 * Several backend hosts share the replay guard through a real Redis (Debian's redis-server, or
 * valkey-server; started here on a port of its own, nothing mocked): a signed body is served once
 * whichever host it reaches, including two hosts racing on it; while the store is down every host
 * refuses (503 REPLAY_STORE_UNAVAILABLE, /readyz 503) instead of serving unchecked; a store that comes
 * back empty is held off for two signature windows, so replays of bodies from before its restart are
 * still refused; then service resumes by itself.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../core/node/bundle.js';
import { encodeFeatures, SIGNATURE_HEADER, signBody } from '../../core/wire.js';
import { type RunningBackend, startBackend } from '../../gpu-backend/src/start-backend.js';
import { fixedInput } from '../helpers/runtimes.js';

const STORE_PORT = 8862;
const SECRET = 'replay-store-test-secret-0123456789';
const DIR = 'models/fashion-resnet';
const WINDOW_MS = 3000;
const m = readManifest(DIR);
const server = ['valkey-server', 'redis-server'].find((b) => spawnSync(b, ['--version']).status === 0);

let store: ChildProcess | undefined;
async function startStore(): Promise<void> {
  store = spawn(server!, ['--port', String(STORE_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (const t0 = Date.now(); ; ) {
    const r = spawnSync(server!.replace('-server', '-cli'), ['-p', String(STORE_PORT), 'ping'], { encoding: 'utf8' });
    if (r.stdout?.trim() === 'PONG') return;
    if (Date.now() - t0 > 10_000) throw new Error(`${server} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
async function stopStore(): Promise<void> {
  if (!store) return;
  const exited = new Promise((r) => store!.once('exit', r));
  store.kill('SIGKILL');
  await exited;
  store = undefined;
}

let n = 0;
async function signed(): Promise<{ body: Uint8Array; sig: string }> {
  const shape = [1, ...m.segments[1]!.inputShape];
  const body = encodeFeatures(
    fixedInput(
      shape.reduce((a, b) => a * b, 1),
      n,
    ),
    shape,
    'f32',
    {
      modelHash: m.backbone.sha256,
      segment: '1',
      policy: 'max-softmax',
      thresholds: JSON.stringify(m.exits.slice(1).map(() => 2)),
      requestId: `replay-store-${n++}`,
    },
  );
  return { body, sig: await signBody(SECRET, body) };
}
async function send(b: RunningBackend, req: { body: Uint8Array; sig: string }): Promise<string> {
  const r = await fetch(`${b.url}/v1/resume`, {
    method: 'POST',
    body: req.body as unknown as BodyInit,
    headers: { 'content-type': 'application/octet-stream', [SIGNATURE_HEADER]: req.sig },
  });
  return r.status === 200 ? '200' : `${r.status} ${((await r.json()) as { code: string }).code}`;
}
const readyz = async (b: RunningBackend) => {
  const r = await fetch(`${b.url}/readyz`);
  return {
    status: r.status,
    guard: ((await r.json()) as { replayGuard: { kind: string; ok?: boolean; error?: string } }).replayGuard,
  };
};
const until = async (f: () => Promise<boolean>, ms: number, what: string) => {
  for (const t0 = Date.now(); !(await f()); ) {
    if (Date.now() - t0 > ms) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe.skipIf(!server && !process.env.CI)('replay guard shared by several backend hosts (real Redis/Valkey)', () => {
  let hosts: RunningBackend[] = [];
  beforeAll(async () => {
    if (!server) throw new Error('CI needs redis-server or valkey-server (.ci/run installs redis-server)');
    await startStore();
    const env = {
      CASCADE_SECRET: SECRET,
      PORT: '0',
      MODEL_DIR: DIR,
      EXECUTORS: 'cpu',
      SIGNATURE_WINDOW_MS: String(WINDOW_MS),
      REPLAY_STORE_URL: `redis://127.0.0.1:${STORE_PORT}`,
    };
    hosts = [await startBackend(env, () => undefined), await startBackend(env, () => undefined)];
    // A new store is held off for two windows (it may be one that lost its keys).
    await until(
      async () => (await readyz(hosts[0]!)).status === 200 && (await readyz(hosts[1]!)).status === 200,
      10_000,
      'both hosts ready',
    );
  }, 60_000);
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await stopStore();
  });

  it('serves a signed body once, whichever host it reaches', async () => {
    const [a, b] = hosts as [RunningBackend, RunningBackend];
    expect(await readyz(a)).toEqual({ status: 200, guard: { kind: 'store', ok: true } });
    const req = await signed();
    expect(await send(a, req)).toBe('200');
    expect(await send(b, req)).toBe('401 SIGNATURE_REPLAYED');
    expect(await send(a, req)).toBe('401 SIGNATURE_REPLAYED');
  });

  it('two hosts racing on the same bodies: exactly one answer each', async () => {
    const [a, b] = hosts as [RunningBackend, RunningBackend];
    const reqs = await Promise.all(Array.from({ length: 20 }, () => signed()));
    const got = await Promise.all(reqs.map((r) => Promise.all([send(a, r), send(b, r)])));
    for (const pair of got) expect(pair.sort()).toEqual(['200', '401 SIGNATURE_REPLAYED']);
  });

  it('store down: 503 REPLAY_STORE_UNAVAILABLE and /readyz 503; back empty: held two windows, old bodies still refused', async () => {
    const [a, b] = hosts as [RunningBackend, RunningBackend];
    const before = await signed();
    expect(await send(a, before)).toBe('200');
    await stopStore();
    await until(async () => (await readyz(a)).status === 503, 5000, '/readyz 503');
    expect((await readyz(a)).guard).toMatchObject({ kind: 'store', ok: false });
    expect(await send(a, await signed())).toBe('503 REPLAY_STORE_UNAVAILABLE');
    expect(await send(b, await signed())).toBe('503 REPLAY_STORE_UNAVAILABLE');

    // Back, but empty (no persistence): the hosts hold off, so `before`, still inside its signature
    // window, cannot be replayed against a store that forgot it.
    const t0 = Date.now();
    await startStore();
    await until(async () => (await readyz(b)).guard.error?.startsWith('found empty') === true, 10_000, 'held off');
    expect(await send(b, before)).toBe('503 REPLAY_STORE_UNAVAILABLE');
    await until(
      async () => (await readyz(a)).status === 200 && (await readyz(b)).status === 200,
      15_000,
      'ready again',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * WINDOW_MS - 100);
    const after = await signed();
    expect(await send(b, after)).toBe('200');
    expect(await send(a, after)).toBe('401 SIGNATURE_REPLAYED');
  }, 60_000);
});
