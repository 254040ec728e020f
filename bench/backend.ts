/**
 * `npm run bench:backend`: the GPU backend on this machine.
 *
 *   1. executor alone, in-process: samples/s resuming at the edge's default split point, batch 1/64/256;
 *   2. HTTP service (its own process) under 1, 8 and 64 concurrent closed-loop clients, dynamic
 *      batching on (max batch 64, max wait 2 ms) vs off (max batch 1): requests/s, p50/p99 latency.
 * Every request carries a fresh HMAC signature (the replay guard refuses repeats), as the edge sends.
 * Writes bench/results/backend.{json,md}. Options: --seconds=N per level (default 8), --executors=cpu
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { encodeFeatures } from '../core/feature-codec.js';
import { loadBundle } from '../gpu-backend/src/bundle.js';
import { createExecutor } from '../gpu-backend/src/executors/create.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SECONDS = Number(args.seconds ?? 8);
const EXECUTORS = (args.executors ?? 'cpu').split(',') as ('webgpu' | 'cuda' | 'cpu')[];
const DIR = args.model ?? 'models/fashion-resnet';
const SECRET = 'bench-backend-secret-0123456789';
const PORT = 8789;

const bundle = loadBundle(DIR);
const m = bundle.manifest;
/** The edge's default split runs every exit at the edge; the backend resumes at the last segment. */
const RESUME = Number(args.segment ?? m.exits.length);
const shape = m.segments[RESUME]!.inputShape;
const per = shape.reduce((a, b) => a * b, 1);
const features = Float32Array.from({ length: per }, (_, i) => Math.abs(Math.sin(i)));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

// 1. Executor alone.
const executorRows: { executor: string; batch: number; samplesPerSec: number }[] = [];
for (const name of EXECUTORS) {
  const { executor } = await createExecutor([name], bundle, { cpuThreads: 0, log: () => undefined });
  for (const batch of [1, 64, 256]) {
    const x = new Float32Array(batch * per);
    for (let i = 0; i < batch; i++) x.set(features, i * per);
    const rates: number[] = [];
    const until = performance.now() + 2000;
    while (performance.now() < until) {
      const t = performance.now();
      let cur: Float32Array = x;
      for (let s = RESUME; s < m.segments.length; s++) {
        cur = (await executor.run('segment', s, cur, [batch, ...m.segments[s]!.inputShape]))[m.segments[s]!.output]!;
        if (s < m.exits.length) await executor.run('exit', s, cur, [batch, ...m.exits[s]!.inputShape]);
      }
      rates.push(batch / ((performance.now() - t) / 1000));
    }
    executorRows.push({ executor: name, batch, samplesPerSec: median(rates) });
    console.error(`executor ${name} batch ${batch}: ${median(rates).toFixed(0)} samples/s`);
  }
  await executor.release();
}

// 2. HTTP service.
/** A signed body as the edge sends it; the request id makes every body (and signature) distinct. */
function signed(requestId: string): { bytes: Uint8Array; header: string } {
  const bytes = encodeFeatures(features, [1, ...shape], 'f16', {
    modelHash: m.backbone.sha256, segment: String(RESUME), policy: 'confidence', requestId,
    thresholds: JSON.stringify(m.exits.slice(RESUME).map((e) => e.defaultThreshold)),
  });
  const t = String(Date.now());
  return { bytes, header: `t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.`).update(bytes).digest('hex')}` };
}

async function startService(env: Record<string, string>): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], { env: { ...process.env, CASCADE_SECRET: SECRET, PORT: String(PORT), MODEL_DIR: DIR, ...env }, stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${PORT}/readyz`)).ok) return p;
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('backend did not start');
}

async function load(clients: number): Promise<{ rps: number; p50: number; p99: number; errors: number; meanBatch: number }> {
  const lat: number[] = [];
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  let batchSum = 0;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let k = 0;
    while (performance.now() < until) {
      const { bytes, header } = signed(`${c}-${k++}`);
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${PORT}/v1/resume`, { method: 'POST', body: bytes as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream', 'x-cascade-signature': header } });
      const j = (await res.json()) as { batchSize?: number };
      if (res.ok) { lat.push(performance.now() - t); batchSum += j.batchSize ?? 1; } else errors++;
    }
  }));
  return { rps: lat.length / SECONDS, p50: pct(lat, 50), p99: pct(lat, 99), errors, meanBatch: batchSum / Math.max(1, lat.length) };
}

const httpRows: { executor: string; mode: string; clients: number; rps: number; p50: number; p99: number; errors: number; meanBatch: number }[] = [];
for (const executor of EXECUTORS) {
  for (const [mode, env] of [['batching on', { MAX_BATCH: '64', MAX_WAIT_MS: '2' }], ['batching off', { MAX_BATCH: '1', MAX_WAIT_MS: '0' }]] as const) {
    const p = await startService({ ...env, EXECUTORS: executor });
    for (const clients of [1, 8, 64]) {
      const r = await load(clients);
      httpRows.push({ executor, mode, clients, ...r });
      console.error(`${executor} ${mode} ${clients} clients: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, mean batch ${r.meanBatch.toFixed(1)}, errors ${r.errors}`);
    }
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
}

const meta = { date: new Date().toISOString(), cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, model: m.name, resumeSegment: RESUME, secondsPerLevel: SECONDS };
const ratio = (ex: string, c: number) => {
  const on = httpRows.find((r) => r.executor === ex && r.mode === 'batching on' && r.clients === c)!;
  const off = httpRows.find((r) => r.executor === ex && r.mode === 'batching off' && r.clients === c)!;
  return on.rps / off.rps;
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/backend.json', JSON.stringify({ ...meta, executorRows, httpRows, batchingSpeedupAt64: Object.fromEntries(EXECUTORS.map((e) => [e, ratio(e, 64)])) }, null, 2) + '\n');
const f = (x: number, d = 1) => x.toFixed(d);
const md = [
  '# GPU backend (`npm run bench:backend`)',
  '',
  `${meta.date}, ${meta.cpus}, model ${m.name}, resuming at segment ${RESUME} (the edge's default split), ${SECONDS} s per level, client and server on the same 2 cores.`,
  '',
  '## Executor alone (in-process)',
  '',
  '| executor | batch | samples/s |',
  '|---|---|---|',
  ...executorRows.map((r) => `| ${r.executor} | ${r.batch} | ${f(r.samplesPerSec, 0)} |`),
  '',
  '## HTTP service',
  '',
  '| executor | batching | clients | req/s | p50 ms | p99 ms | mean batch | errors |',
  '|---|---|---|---|---|---|---|---|',
  ...httpRows.map((r) => `| ${r.executor} | ${r.mode} | ${r.clients} | ${f(r.rps, 0)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.meanBatch)} | ${r.errors} |`),
  '',
  ...EXECUTORS.map((e) => `Batching speed-up at 64 clients (${e}): ${f(ratio(e, 64), 2)}×.`),
  '',
].join('\n');
writeFileSync('bench/results/backend.md', md);
console.log(md);
