/**
 * `npm run bench:edge:cpu`: CPU-ms per request at the edge, three ways, in one run.
 *
 *   1. Over HTTP, the real worker (workers/edge/src/index.ts) in `wrangler dev`: the CPU time of the
 *      workerd process that runs it (utime + stime from /proc, 10 ms ticks) over bounded runs of
 *      sequential requests, minus its idle rate measured just before, per request served; edge
 *      answers and forwarded requests (answered by a real backend process) apart, and GET /healthz,
 *      the smallest answer the worker gives, as the floor of what every request costs that process
 *      before the worker's own code (workerd's HTTP, wrangler dev's entry and asset-router workers).
 *      wrangler dev's own proxy (the other workerd process) is reported apart: production has none.
 *   2. Inside the isolate (bench/edge-stages/worker.ts, the same app and model): the same classify
 *      requests run N times in a loop through `app.fetch` in one invocation, so the process CPU over
 *      the loop is the worker's own code and the runtime APIs it calls, with no HTTP parsing, dev
 *      layers or load generator: the figure closest to what Cloudflare bills as the worker's CPU time.
 *   3. The breakdown of (2): normalisation, each onnxruntime-web run, the whole edge cascade, the
 *      forward body's encoding, the smallest app answer.
 *
 * wrangler dev runs with its local trace collector off (X_LOCAL_OBSERVABILITY=false): it writes every
 * span of every request into SQLite inside the same workerd process, which a deployed worker does
 * not pay (Workers Logs are collected outside the isolate).
 *
 * @example
 * npm run bench:edge:cpu                     # → bench/results/edge-cpu.{json,md}
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { readManifest } from '../core/node/bundle.js';
import { defaultSplit, manifestDefaults } from '../core/regions.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { applyLocalMigrations } from '../scripts/d1-migrations.js';
import { cpuMs, processTree } from '../scripts/proc.js';
import { putRegion, spawnWranglerDev, waitUntilUp } from '../scripts/wrangler-dev.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import { spread } from './stats.js';

const args = cliArgs({
  usage: 'npm run bench:edge:cpu -- [options]',
  about:
    "CPU-ms per edge request: the worker's workerd process over bounded runs of sequential HTTP requests (edge answers,\n" +
    'forwards to a real backend, GET /healthz as the floor), and inside the isolate (the same requests looped through the\n' +
    'app, and each stage of them), with wrangler dev on loopback.',
  writes: 'bench/results/edge-cpu.{json,md}',
  options: {
    requests: { arg: 'n', description: 'HTTP requests per path and run', default: '600', schema: text.int(50) },
    runs: { arg: 'n', description: 'Runs per figure (median and range reported)', default: '3', schema: text.int(1) },
    loopCpuMs: {
      arg: 'ms',
      description: 'CPU time each in-isolate loop aims at (sets its iterations)',
      default: '1500',
      schema: text.positive(),
    },
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
const PROBE = 'bench/edge-stages/worker.ts';
const m = readManifest(DIR);
const split = defaultSplit(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const range = (xs: number[]) => ({ ...spread(xs), runs: xs });
type Range = ReturnType<typeof range>;
// A deployed worker has no local trace collector: keep wrangler dev's out of the measured process.
process.env.X_LOCAL_OBSERVABILITY = 'false';

rmSync(STATE, { recursive: true, force: true });
const migrate = applyLocalMigrations(['--persist-to', STATE], 'pipe');
if (migrate.status !== 0) throw new Error(`D1 migrations failed: ${migrate.stderr}`);
const backend = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], {
  env: { ...process.env, CASCADE_SECRET: SECRET, PORT: String(BACKEND_PORT), MODEL_DIR: DIR, EXECUTORS: 'cpu' },
  stdio: 'ignore',
});
const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 100 } });
const imageBytes = m.input.shape.reduce((a, b) => a * b, 1);
const images = Array.from({ length: ds.test.count }, (_, i) =>
  ds.test.images.slice(i * imageBytes, (i + 1) * imageBytes),
);

/** The worker (or the probe, `script`) in wrangler dev, its region set; its runtime and proxy workerd processes. */
async function startEdge(script?: string) {
  // A benchmark's throwaway secrets: on the command line for brevity.
  const proc = spawnWranglerDev({
    port: EDGE_PORT,
    vars: { CASCADE_SECRET: SECRET, ADMIN_TOKEN: ADMIN, BACKEND_URL: `http://127.0.0.1:${BACKEND_PORT}` },
    persistTo: STATE,
    extra: script ? [script] : [],
  });
  await waitUntilUp(`${EDGE}/healthz`, proc, 120_000);
  await putRegion(EDGE, ADMIN, REGION, manifestDefaults(m));
  const workerds = processTree(proc.pid!).filter((p) => p.comm === 'workerd');
  const proxy = workerds.find((p) => p.cmd.includes(`entry=127.0.0.1:${EDGE_PORT}`));
  const runtime = workerds.find((p) => p !== proxy);
  if (!proxy || !runtime) throw new Error(`expected wrangler's two workerd processes, found ${workerds.length}`);
  return { proc, runtime: runtime.pid, proxy: proxy.pid };
}
async function stopEdge(e: { proc: ReturnType<typeof spawnWranglerDev> }) {
  if (e.proc.exitCode !== null) return;
  e.proc.kill('SIGTERM');
  await new Promise((r) => e.proc.once('exit', r));
}

/** CPU ms so far of the process `pid` and of its main thread (where workerd runs every isolate's JavaScript and wasm). */
const cpu = (pid: number) => ({ process: cpuMs(pid), main: cpuMs(pid, 100, pid) });
type Cpu = ReturnType<typeof cpu>;
/** CPU of `pid` (process, main thread) per second while nothing is sent. */
async function idleRate(pid: number): Promise<Cpu> {
  const c0 = cpu(pid),
    t0 = performance.now();
  await sleep(3000);
  const c = cpu(pid),
    s = (performance.now() - t0) / 1000;
  return { process: (c.process - c0.process) / s, main: (c.main - c0.main) / s };
}
/** CPU per operation since `c0` over `seconds`, `n` operations, minus the idle rate. */
const perOp = (pid: number, c0: Cpu, idle: Cpu, seconds: number, n: number): Cpu => {
  const c = cpu(pid);
  return {
    process: (c.process - c0.process - idle.process * seconds) / n,
    main: (c.main - c0.main - idle.main * seconds) / n,
  };
};

const classify = async (img: Uint8Array) => {
  const r = await fetch(`${EDGE}/v1/classify`, {
    method: 'POST',
    body: img as unknown as BodyInit,
    headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': REGION },
  });
  if (r.status !== 200) throw new Error(`classify: ${r.status} ${await r.text()}`);
  return (await r.json()) as { where: 'edge' | 'backend'; degraded: boolean };
};
const healthz = async () => {
  const r = await fetch(`${EDGE}/healthz`);
  if (!r.ok) throw new Error(`healthz: ${r.status}`);
  await r.arrayBuffer();
};

const byPath: Record<'edge' | 'backend', Uint8Array[]> = { edge: [], backend: [] };
const http: { path: string; run: number; requests: number; runtime: Cpu; proxyMs: number; seconds: number }[] = [];
const probeRows: { stage: string; run: number; n: number; cpu: Cpu }[] = [];
let edge: Awaited<ReturnType<typeof startEdge>> | undefined;
try {
  await waitUntilUp(`http://127.0.0.1:${BACKEND_PORT}/readyz`, backend, 120_000);

  // 1. Over HTTP, the real worker.
  edge = await startEdge();
  // Which images take which path at the defaults (this pass also warms the isolate and the backend).
  for (const img of images) {
    const r = await classify(img);
    if (r.degraded) throw new Error('a degraded answer: the backend did not answer');
    byPath[r.where].push(img);
  }
  const send: Record<string, (i: number) => Promise<unknown>> = {
    edge: (i) => classify(byPath.edge[i % byPath.edge.length]!),
    backend: (i) => classify(byPath.backend[i % byPath.backend.length]!),
    healthz: () => healthz(),
  };
  for (let run = 1; run <= args.runs; run++)
    for (const path of ['edge', 'backend', 'healthz']) {
      const idle = { runtime: await idleRate(edge.runtime), proxy: await idleRate(edge.proxy) };
      const c0 = { runtime: cpu(edge.runtime), proxy: cpu(edge.proxy) };
      const t0 = performance.now();
      for (let i = 0; i < args.requests; i++) await send[path]!(i);
      const s = (performance.now() - t0) / 1000;
      const row = {
        path,
        run,
        requests: args.requests,
        runtime: perOp(edge.runtime, c0.runtime, idle.runtime, s, args.requests),
        proxyMs: perOp(edge.proxy, c0.proxy, idle.proxy, s, args.requests).process,
        seconds: s,
      };
      console.error(JSON.stringify(row));
      http.push(row);
    }
  await stopEdge(edge);

  // 2 and 3. Inside the isolate: the probe, the same app and model.
  edge = await startEdge(PROBE);
  const pack = (xs: Uint8Array[]) => new Uint8Array(Buffer.concat(xs.slice(0, 200)));
  const bodies: Record<string, Uint8Array> = { 'classify-backend': pack(byPath.backend), default: pack(byPath.edge) };
  const probe = async (stage: string, n: number) => {
    const name = stage.startsWith('classify') ? 'classify' : stage;
    const r = await fetch(`${EDGE}/__stage/${name}?n=${n}&region=${REGION}`, {
      method: 'POST',
      body: (bodies[stage] ?? bodies.default) as unknown as BodyInit,
    });
    if (!r.ok) throw new Error(`probe ${stage}: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  };
  const stages = [
    'classify-edge',
    'classify-backend',
    'healthz',
    'normalise',
    'cascade',
    ...Array.from({ length: split }, (_, i) => [`segment${i}`, ...(i < m.exits.length ? [`exit${i}`] : [])]).flat(),
    'encode',
    'forward',
  ];
  for (const stage of stages) {
    // Calibrate the iterations so a loop takes about loopCpuMs of CPU (the /proc clock ticks in 10 ms).
    const c = cpuMs(edge.runtime);
    await probe(stage, 200);
    const per = Math.max(0.005, (cpuMs(edge.runtime) - c) / 200);
    const n = Math.max(200, Math.min(200_000, Math.round(args.loopCpuMs / per)));
    for (let run = 1; run <= args.runs; run++) {
      const idle = await idleRate(edge.runtime);
      const c0 = cpu(edge.runtime),
        t0 = performance.now();
      await probe(stage, n);
      const row = { stage, run, n, cpu: perOp(edge.runtime, c0, idle, (performance.now() - t0) / 1000, n) };
      console.error(JSON.stringify(row));
      probeRows.push(row);
    }
  }
} finally {
  if (edge) await stopEdge(edge);
  if (backend.exitCode === null) {
    backend.kill('SIGTERM');
    await new Promise((r) => backend.once('exit', r));
  }
}

const httpOf = (path: string, k: (r: (typeof http)[number]) => number) =>
  range(http.filter((r) => r.path === path).map(k));
const probeOf = (stage: string, k: keyof Cpu) => range(probeRows.filter((r) => r.stage === stage).map((r) => r.cpu[k]));
const summary = {
  http: Object.fromEntries(
    ['edge', 'backend', 'healthz'].map((p) => [
      p,
      {
        runtime: httpOf(p, (r) => r.runtime.process),
        runtimeMain: httpOf(p, (r) => r.runtime.main),
        proxy: httpOf(p, (r) => r.proxyMs),
      },
    ]),
  ) as Record<'edge' | 'backend' | 'healthz', { runtime: Range; runtimeMain: Range; proxy: Range }>,
  /** Per stage: `main`, the main thread's CPU (the worker's own, as billed), and the whole process's (V8's background threads too). */
  isolate: Object.fromEntries(
    [...new Set(probeRows.map((r) => r.stage))].map((s) => [
      s,
      { main: probeOf(s, 'main'), process: probeOf(s, 'process') },
    ]),
  ) as Record<string, { main: Range; process: Range }>,
  images: { edge: byPath.edge.length, backend: byPath.backend.length },
};
const meta = {
  date: new Date().toISOString(),
  machine: `${cpus().length}-core x86 VM`,
  node: process.version,
  model: m.name,
  split,
  requestsPerRun: args.requests,
  runs: args.runs,
  loopCpuMs: args.loopCpuMs,
  resolutionMs: 10,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/edge-cpu.json',
  `${JSON.stringify({ meta, summary, http, isolate: probeRows }, null, 2)}\n`,
);
const f = (x: number) => x.toFixed(3);
const r = (x: Range) => `${f(x.median)} (${f(x.min)}–${f(x.max)})`;
const iso = summary.isolate;
const h = summary.http;
const stageRows = Object.keys(iso).filter((s) => !s.startsWith('classify'));
const describe: Record<string, string> = {
  healthz: 'GET /healthz through the app (routing, middleware, a JSON answer)',
  normalise: 'u8 pixels → normalised f32 (the manifest’s mean and std)',
  cascade: `the edge cascade: normalise, segments and exits to the first confident exit (split ${split}), the rule`,
  encode: 'the forward body: the split’s features as f16 safetensors with the resume metadata',
  forward: 'the forward: that body encoded, signed, POSTed to the backend, its answer read and checked',
};
const edgeMain = iso['classify-edge']!.main;
const md = [
  '# Edge CPU per request (`npm run bench:edge:cpu`)',
  '',
  `${meta.date}, ${meta.machine}, Node ${meta.node}, model ${meta.model}, the bundle's default thresholds and split (${split}), wrangler dev with its local trace collector off. Every figure: median (min–max) of ${meta.runs} runs, CPU-ms per request, from /proc (utime + stime, 10 ms ticks) minus the idle rate measured over the 3 s before. Images: the 1,000 test images (100 per class) split by the path they take at the defaults: ${summary.images.edge} answered at the edge, ${summary.images.backend} forwarded (to a real backend process on loopback, cpu executor).`,
  '',
  "## The worker's own CPU (inside the isolate)",
  '',
  `The same classify requests looped through the worker's app (\`app.fetch\`, with the real KV, D1 and Durable Object bindings) inside one invocation of the probe worker (bench/edge-stages/worker.ts: the edge's app and model, without the global warm-up), about ${meta.loopCpuMs} CPU-ms of iterations per run: no HTTP parsing, no dev layers, no load generator. "Main thread" is workerd's thread that runs every isolate's JavaScript and wasm: the figure closest to what Cloudflare bills as the worker's CPU time. "Process" adds V8's background threads (concurrent GC, compilation).`,
  '',
  '| request | main thread | process |',
  '|---|---|---|',
  `| answered at the edge | **${r(edgeMain)}** | ${r(iso['classify-edge']!.process)} |`,
  `| forwarded, answered by the backend | **${r(iso['classify-backend']!.main)}** | ${r(iso['classify-backend']!.process)} |`,
  '',
  'Where it goes, each stage looped the same way:',
  '',
  '| stage | main thread, CPU-ms per call | process |',
  '|---|---|---|',
  ...stageRows.map(
    (s) =>
      `| ${describe[s] ?? `onnxruntime-web run: ${s.replace(/(\d+)$/, ' $1')}`} | ${r(iso[s]!.main)} | ${r(iso[s]!.process)} |`,
  ),
  '',
  '## The workerd process over HTTP',
  '',
  `The real worker (workers/edge/src/index.ts) in wrangler dev, ${meta.requestsPerRun} sequential requests per path and run. "Worker runtime" is the workerd process that runs the worker; besides the worker it runs workerd's HTTP handling and wrangler dev's entry and asset-router workers, all on its main thread. "Dev proxy" is wrangler dev's own front workerd, which production does not have.`,
  '',
  '| request | worker runtime, main thread | worker runtime, process | dev proxy, process |',
  '|---|---|---|---|',
  `| classify, answered at the edge | ${r(h.edge.runtimeMain)} | ${r(h.edge.runtime)} | ${r(h.edge.proxy)} |`,
  `| classify, forwarded, answered by the backend | ${r(h.backend.runtimeMain)} | ${r(h.backend.runtime)} | ${r(h.backend.proxy)} |`,
  `| GET /healthz (the floor: the smallest answer) | ${r(h.healthz.runtimeMain)} | ${r(h.healthz.runtime)} | ${r(h.healthz.proxy)} |`,
  '',
  `Above the floor, an edge answer costs the runtime's main thread ${f(h.edge.runtimeMain.median - h.healthz.runtimeMain.median)} CPU-ms and a forward ${f(h.backend.runtimeMain.median - h.healthz.runtimeMain.median)} (medians' differences), against ${f(edgeMain.median - iso.healthz!.main.median)} and ${f(iso['classify-backend']!.main.median - iso.healthz!.main.median)} measured inside the isolate. The rest of an HTTP request's CPU is not the worker's code: the floor (workerd's request handling and wrangler dev's entry and asset-router workers, paid by a GET /healthz too) and, for a classify, the ${f(h.edge.runtimeMain.median - h.healthz.runtimeMain.median - (edgeMain.median - iso.healthz!.main.median))} CPU-ms more that a POST with a body costs those layers beyond a GET (its body streamed through each of them), which this benchmark does not split further.`,
  '',
  `At $0.02 per million CPU-ms, ${f(edgeMain.median)} CPU-ms is $${(edgeMain.median * 0.02).toFixed(4)} per million edge answers; ${f(h.edge.runtime.median)} (the whole runtime process, the upper bound) is $${(h.edge.runtime.median * 0.02).toFixed(4)}. The cost dashboard prices Workers CPU with the in-isolate main-thread medians (workers/edge/src/metrics/cpu.ts) unless EDGE_CPU_MS gives Cloudflare's own figures.`,
  '',
  'Measured under wrangler dev (workerd on this machine), not on Cloudflare: absolute figures are this machine’s; the split between the stages is what carries over.',
  '',
].join('\n');
writeFileSync('bench/results/edge-cpu.md', md);
console.log(md);
