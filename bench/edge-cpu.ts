/**
 * `npm run bench:edge:cpu`: CPU-ms per request at the edge, measured the way Cloudflare bills it:
 * the CPU time of the workerd process that runs the worker (utime + stime from /proc, 10 ms ticks)
 * over a bounded run of sequential requests, minus that process's idle rate measured just before,
 * divided by the requests served. wrangler dev's own proxy (the other workerd process, which owns
 * the public port) is reported apart: production has no such layer. Two paths, each on the images
 * that take it at the bundle's defaults (found by a first pass): answered at the edge, and forwarded
 * to a real backend (its own process, cpu executor) and answered there. The cost model's operator
 * view (core/cost-model.ts) bills CPU-ms at $0.02 per million.
 *
 * @example
 * npm run bench:edge:cpu                     # 600 requests per path and run, 3 runs → bench/results/edge-cpu.{json,md}
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { readManifest } from '../core/node/bundle.js';
import { manifestDefaults } from '../core/regions.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { applyLocalMigrations } from '../scripts/d1-migrations.js';
import { cpuMs, processTree } from '../scripts/proc.js';
import { putRegion, spawnWranglerDev, waitUntilUp } from '../scripts/wrangler-dev.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';

const args = cliArgs({
  usage: 'npm run bench:edge:cpu -- [options]',
  about:
    "CPU-ms per request of the edge worker's workerd process (edge answers and forwarded requests apart), over bounded\n" +
    'runs of sequential requests minus the idle rate, with wrangler dev and a real backend on loopback.',
  writes: 'bench/results/edge-cpu.{json,md}',
  options: {
    requests: { arg: 'n', description: 'Requests per path and run', default: '600', schema: text.int(50) },
    runs: { arg: 'n', description: 'Runs per path (median and range reported)', default: '3', schema: text.int(1) },
  },
});
const EDGE_PORT = 8824;
const BACKEND_PORT = 8825;
const EDGE = `http://127.0.0.1:${EDGE_PORT}`;
const SECRET = 'bench-edge-cpu-secret-0123456789';
const ADMIN = 'bench-edge-cpu-admin';
const STATE = '.cache/bench-edge-cpu-state';
const DIR = 'models/fashion-resnet';
const REGION = 'colo:CPU';
const m = readManifest(DIR);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

rmSync(STATE, { recursive: true, force: true });
const migrate = applyLocalMigrations(['--persist-to', STATE], 'pipe');
if (migrate.status !== 0) throw new Error(`D1 migrations failed: ${migrate.stderr}`);
const backend = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], {
  env: { ...process.env, CASCADE_SECRET: SECRET, PORT: String(BACKEND_PORT), MODEL_DIR: DIR, EXECUTORS: 'cpu' },
  stdio: 'ignore',
});
// A benchmark's throwaway secrets: on the command line for brevity.
const worker = spawnWranglerDev({
  port: EDGE_PORT,
  vars: { CASCADE_SECRET: SECRET, ADMIN_TOKEN: ADMIN, BACKEND_URL: `http://127.0.0.1:${BACKEND_PORT}` },
  persistTo: STATE,
});
try {
  await waitUntilUp(`http://127.0.0.1:${BACKEND_PORT}/readyz`, backend, 120_000);
  await waitUntilUp(`${EDGE}/healthz`, worker, 120_000);
  await putRegion(EDGE, ADMIN, REGION, manifestDefaults(m));
  const workerds = processTree(worker.pid!).filter((p) => p.comm === 'workerd');
  const proxy = workerds.find((p) => p.cmd.includes(`entry=127.0.0.1:${EDGE_PORT}`));
  const runtime = workerds.find((p) => p !== proxy);
  if (!proxy || !runtime) throw new Error(`expected wrangler's two workerd processes, found ${workerds.length}`);

  const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 100 } });
  const images = Array.from({ length: ds.test.count }, (_, i) => ds.test.images.slice(i * 784, (i + 1) * 784));
  const classify = async (img: Uint8Array) => {
    const r = await fetch(`${EDGE}/v1/classify`, {
      method: 'POST',
      body: img as unknown as BodyInit,
      headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': REGION },
    });
    if (r.status !== 200) throw new Error(`classify: ${r.status} ${await r.text()}`);
    return (await r.json()) as { where: 'edge' | 'backend'; degraded: boolean };
  };
  // Which images take which path at the defaults (this pass also warms the isolate and the backend).
  const byPath: Record<'edge' | 'backend', Uint8Array[]> = { edge: [], backend: [] };
  for (const img of images) {
    const r = await classify(img);
    if (r.degraded) throw new Error('a degraded answer: the backend did not answer');
    byPath[r.where].push(img);
  }

  /** CPU of `pid` per second while nothing is sent. */
  const idleRate = async (pid: number) => {
    const c0 = cpuMs(pid),
      t0 = performance.now();
    await sleep(3000);
    return (cpuMs(pid) - c0) / ((performance.now() - t0) / 1000);
  };
  const rows: { path: string; run: number; requests: number; runtimeMs: number; proxyMs: number; seconds: number }[] =
    [];
  for (let run = 1; run <= args.runs; run++)
    for (const path of ['edge', 'backend'] as const) {
      const idle = { runtime: await idleRate(runtime.pid), proxy: await idleRate(proxy.pid) };
      const c0 = { runtime: cpuMs(runtime.pid), proxy: cpuMs(proxy.pid) };
      const t0 = performance.now();
      for (let i = 0; i < args.requests; i++) await classify(byPath[path][i % byPath[path].length]!);
      const s = (performance.now() - t0) / 1000;
      const per = (pid: number, c: number, rate: number) => (cpuMs(pid) - c - rate * s) / args.requests;
      const row = {
        path,
        run,
        requests: args.requests,
        runtimeMs: per(runtime.pid, c0.runtime, idle.runtime),
        proxyMs: per(proxy.pid, c0.proxy, idle.proxy),
        seconds: s,
      };
      console.error(JSON.stringify(row));
      rows.push(row);
    }
  const summary = (['edge', 'backend'] as const).map((path) => {
    const r = rows.filter((x) => x.path === path);
    const w = r.map((x) => x.runtimeMs),
      p = r.map((x) => x.proxyMs);
    return {
      path,
      images: byPath[path].length,
      runtime: { median: median(w), min: Math.min(...w), max: Math.max(...w) },
      proxy: { median: median(p), min: Math.min(...p), max: Math.max(...p) },
    };
  });
  const meta = {
    date: new Date().toISOString(),
    machine: `${cpus().length}-core x86 VM`,
    node: process.version,
    model: m.name,
    requestsPerRun: args.requests,
    runs: args.runs,
    resolutionMs: 10,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/edge-cpu.json', `${JSON.stringify({ meta, summary, rows }, null, 2)}\n`);
  const f = (x: number) => x.toFixed(2);
  const md = [
    '# Edge CPU per request (`npm run bench:edge:cpu`)',
    '',
    `${meta.date}, ${meta.machine}, Node ${meta.node}, model ${meta.model}, the bundle's default thresholds and split. ${meta.runs} runs of ${meta.requestsPerRun} sequential requests per path; per run, CPU time (utime + stime, /proc, 10 ms ticks) of the process over the run, minus its idle rate over the 3 s before, divided by the requests. "Worker runtime" is the workerd process that runs the worker (what Cloudflare bills as CPU time); "dev proxy" is wrangler dev's own front workerd, which production does not have. Paths: the 1,000 test images (100 per class) split by the path they take at the defaults; forwarded ones are answered by a real backend process.`,
    '',
    '| path | images | worker runtime CPU-ms per request: median (min–max) | dev proxy CPU-ms per request: median (min–max) |',
    '|---|---:|---|---|',
    ...summary.map(
      (s) =>
        `| ${s.path === 'edge' ? 'answered at the edge' : 'forwarded, answered by the backend'} | ${s.images} | ${f(s.runtime.median)} (${f(s.runtime.min)}–${f(s.runtime.max)}) | ${f(s.proxy.median)} (${f(s.proxy.min)}–${f(s.proxy.max)}) |`,
    ),
    '',
    `At $0.02 per million CPU-ms, ${f(summary[0]!.runtime.median)} CPU-ms is $${((summary[0]!.runtime.median * 0.02) / 1).toFixed(4)} per million edge answers.`,
    '',
    "Measured under wrangler dev (workerd on this machine), not on Cloudflare; the worker runtime figure includes workerd's own request handling there.",
    '',
  ].join('\n');
  writeFileSync('bench/results/edge-cpu.md', md);
  console.log(md);
} finally {
  for (const p of [worker, backend]) if (p.exitCode === null) p.kill('SIGTERM');
  await Promise.all(
    [worker, backend].map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)),
  );
}
