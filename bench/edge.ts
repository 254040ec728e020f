/**
 * `npm run bench:edge`: the edge path in `wrangler dev` (workerd, local KV) on loopback.
 *
 *   - isolate start-up: `wrangler check startup` profiles the global scope, where the worker starts
 *     onnxruntime-web and creates the first segment's and exit's sessions (median of 3);
 *   - cold start: a fresh `wrangler dev` (new isolate); its first request's server-side and client
 *     time, then a second request for comparison (median of --coldRuns, default 3);
 *   - warm load: autocannon with 1, 10 and 50 connections posting real Fashion-MNIST test images
 *     (raw u8), default thresholds; server-side `timings.edgeMs` and `computeMs` split by where the answer came
 *     from (edge exit vs not confident → forward; no backend runs here, so forwards fail fast and
 *     answer degraded), client-side latency percentiles from autocannon;
 *   - bundle size raw and gzip (bench/results/worker-bundle.json from `npm run build:worker`).
 *
 * Writes bench/results/edge.{json,md}; options: `npm run bench:edge -- --help`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { cliArgs, text } from '../scripts/cli-args.js';
import { node22 } from '../scripts/node22.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';

const args = cliArgs({
  usage: 'npm run bench:edge -- [options]',
  about:
    'The edge worker in `wrangler dev` (workerd, local KV) on loopback, no backend: isolate start-up CPU time\n' +
    '(`wrangler check startup`, median of 3), cold start (first and second request of fresh `wrangler dev` processes), and\n' +
    'warm load with autocannon at 1, 10 and 50 connections posting real Fashion-MNIST test images (server-side timings split\n' +
    'by edge exit vs forward, client latency percentiles); builds the worker first for its bundle size (raw and gzip).',
  writes: 'bench/results/edge.{json,md} (and bench/results/worker-bundle.json via npm run build:worker)',
  options: {
    seconds: { arg: 'n', description: 'Seconds of load per connection level', default: '10', schema: text.positive() },
    coldRuns: {
      arg: 'n',
      description: 'Fresh `wrangler dev` processes timed for the cold start (median)',
      default: '3',
      schema: text.int(1),
    },
  },
});
const SECONDS = args.seconds;
const PORT = 8797;
const URL_ = `http://127.0.0.1:${PORT}`;
/** Distinct test images cycled through by the load generator. */
const IMAGES = 200;

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function startWorker(): Promise<{ proc: ChildProcess; readyMs: number }> {
  const t0 = performance.now();
  const proc = spawn(
    node22(),
    [
      'node_modules/wrangler/bin/wrangler.js',
      'dev',
      '--env',
      'dev',
      '--port',
      String(PORT),
      '--ip',
      '127.0.0.1',
      '--var',
      'CASCADE_SECRET:bench',
      '--var',
      'BACKEND_URL:http://127.0.0.1:9',
      '--var',
      'BACKEND_TIMEOUT_MS:200',
    ],
    {
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // wrangler logs a line per request: an unread pipe fills up and stalls the worker, so keep draining
  // (the tail is printed if start-up fails).
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  for (;;) {
    try {
      if ((await fetch(`${URL_}/healthz`)).ok) return { proc, readyMs: performance.now() - t0 };
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 60_000) throw new Error(`wrangler dev did not start within 60 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}

interface Reply {
  where: string;
  degraded: boolean;
  timings: { edgeMs: number; computeMs: number; totalMs: number };
}

async function classify(body: Uint8Array): Promise<{ reply: Reply; clientMs: number }> {
  const t = performance.now();
  const res = await fetch(`${URL_}/v1/classify`, {
    method: 'POST',
    body: body as unknown as BodyInit,
    headers: { 'content-type': 'application/octet-stream' },
  });
  const reply = (await res.json()) as Reply;
  return { reply, clientMs: performance.now() - t };
}

const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: IMAGES / 10 } });
const images = Array.from({ length: ds.test.count }, (_, i) => ds.test.images.slice(i * 784, (i + 1) * 784));

spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bundle-worker.ts'], { stdio: 'inherit' });
const bundle = JSON.parse(readFileSync('bench/results/worker-bundle.json', 'utf8')) as {
  rawBytes: number;
  gzipBytes: number;
};

// Isolate start-up (global scope: module evaluation and the warm-up of onnxruntime-web and the first
// sessions) profiled by `wrangler check startup` in local workerd; CPU time = samples minus idle.
function startupProfile(): { totalMs: number; cpuMs: number } {
  const out = '.cache/worker-startup.cpuprofile';
  mkdirSync('.cache', { recursive: true });
  const r = spawnSync(node22(), ['node_modules/wrangler/bin/wrangler.js', 'check', 'startup', '--outfile', out], {
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`wrangler check startup failed:\n${r.stdout}\n${r.stderr}`);
  const p = JSON.parse(readFileSync(out, 'utf8')) as {
    startTime: number;
    endTime: number;
    nodes: { id: number; callFrame: { functionName: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const idleUs = p.samples.reduce((a, id, i) => a + (idle.has(id) ? p.timeDeltas[i]! : 0), 0);
  return { totalMs: (p.endTime - p.startTime) / 1000, cpuMs: (p.endTime - p.startTime - idleUs) / 1000 };
}
const STARTUP_RUNS = 3;
const startups = Array.from({ length: STARTUP_RUNS }, () => startupProfile());
const startup = {
  runs: startups,
  medianCpuMs: pct(
    startups.map((x) => x.cpuMs),
    50,
  ),
  medianTotalMs: pct(
    startups.map((x) => x.totalMs),
    50,
  ),
};
console.error('isolate start-up', startup);

// Cold start: a fresh wrangler dev (new isolate) and its first request, COLD_RUNS times; the last
// process stays up for the load levels.
const COLD_RUNS = args.coldRuns;
const coldRuns: {
  wranglerReadyMs: number;
  firstServerMs: number;
  firstComputeMs: number;
  firstClientMs: number;
  secondServerMs: number;
  secondClientMs: number;
}[] = [];
let cold!: { proc: ChildProcess; readyMs: number };
for (let i = 0; i < COLD_RUNS; i++) {
  if (cold) await stop(cold.proc);
  cold = await startWorker();
  const first = await classify(images[0]!);
  const second = await classify(images[0]!);
  coldRuns.push({
    wranglerReadyMs: cold.readyMs,
    firstServerMs: first.reply.timings.totalMs,
    firstComputeMs: first.reply.timings.computeMs,
    firstClientMs: first.clientMs,
    secondServerMs: second.reply.timings.totalMs,
    secondClientMs: second.clientMs,
  });
  console.error('cold start', coldRuns.at(-1));
}
const med = (k: keyof (typeof coldRuns)[number]) =>
  pct(
    coldRuns.map((r) => r[k]),
    50,
  );
const coldStart = {
  runs: coldRuns,
  median: {
    firstServerMs: med('firstServerMs'),
    firstComputeMs: med('firstComputeMs'),
    firstClientMs: med('firstClientMs'),
    secondServerMs: med('secondServerMs'),
    secondClientMs: med('secondClientMs'),
    wranglerReadyMs: med('wranglerReadyMs'),
  },
};

const levels = [];
for (const connections of [1, 10, 50]) {
  const edge: number[] = [],
    fwd: number[] = [],
    edgeCompute: number[] = [],
    fwdCompute: number[] = [];
  let k = 0;
  const result = (await autocannon({
    url: `${URL_}/v1/classify`,
    connections,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        setupRequest: (req: Record<string, unknown>) => ({ ...req, body: Buffer.from(images[k++ % images.length]!) }),
        onResponse: (status: number, body: string) => {
          if (status !== 200) return;
          const r = JSON.parse(body) as Reply;
          (r.degraded ? fwd : edge).push(r.timings.edgeMs);
          (r.degraded ? fwdCompute : edgeCompute).push(r.timings.computeMs);
        },
      },
    ],
  } as never)) as autocannon.Result;
  const row = {
    connections,
    requests: result.requests.total,
    rps: result.requests.average,
    errors: result.errors + result.non2xx,
    client: { p50: result.latency.p50, p99: result.latency.p99 },
    edgeExit: {
      count: edge.length,
      serverP50: pct(edge, 50),
      serverP99: pct(edge, 99),
      computeP50: pct(edgeCompute, 50),
      computeP99: pct(edgeCompute, 99),
    },
    notConfident: {
      count: fwd.length,
      serverEdgeP50: pct(fwd, 50),
      serverEdgeP99: pct(fwd, 99),
      computeP50: pct(fwdCompute, 50),
      computeP99: pct(fwdCompute, 99),
    },
  };
  console.error(JSON.stringify(row));
  levels.push(row);
}
await stop(cold.proc);

const meta = {
  date: new Date().toISOString(),
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
  secondsPerLevel: SECONDS,
  images: images.length,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/edge.json',
  `${JSON.stringify({ ...meta, bundle, startup, coldStart, levels }, null, 2)}\n`,
);
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const md = [
  '# Edge worker (`npm run bench:edge`)',
  '',
  `${meta.date}, ${meta.cpus}, wrangler dev (workerd) on loopback, ${SECONDS} s per level, ${images.length} real test images cycled, default thresholds, no backend (forwards fail fast: degraded).`,
  '',
  `Bundle: ${(bundle.rawBytes / 2 ** 20).toFixed(2)} MiB raw, ${(bundle.gzipBytes / 2 ** 20).toFixed(2)} MiB gzip.`,
  '',
  `Isolate start-up (\`wrangler check startup\`, median of ${STARTUP_RUNS}): ${f(startup.medianCpuMs)} ms CPU (${f(startup.medianTotalMs)} ms profiled), most of it onnxruntime-web's runtime init, the edge's sessions and one warm-up run of them, done in global scope so that requests do not pay it.`,
  '',
  `Cold start, full: start-up + first request ≈ ${f(startup.medianCpuMs + coldStart.median.firstServerMs)} ms.`,
  '',
  `Cold start (median of ${COLD_RUNS} fresh \`wrangler dev\` processes): first request ${f(coldStart.median.firstServerMs)} ms server-side (of which ${f(coldStart.median.firstComputeMs)} ms inference), ${f(coldStart.median.firstClientMs)} ms at the client; second request ${f(coldStart.median.secondServerMs)} ms server-side; wrangler dev itself ready after ${f(coldStart.median.wranglerReadyMs)} ms.`,
  '',
  "Server-side = the worker's own `timings.edgeMs` (arrival to decision, in the isolate); compute = `timings.computeMs`, the part spent in this request's own inference (waiting for the isolate's one inference thread excluded). Client = autocannon, through wrangler dev's local proxy.",
  '',
  '| connections | req/s | client p50 ms | client p99 ms | edge exits | edge-exit server p50 / p99 ms | edge-exit compute p50 / p99 ms | not confident | their edge server p50 / p99 ms | their compute p50 ms |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...levels.map(
    (l) =>
      `| ${l.connections} | ${f(l.rps)} | ${f(l.client.p50)} | ${f(l.client.p99)} | ${l.edgeExit.count} | ${f(l.edgeExit.serverP50)} / ${f(l.edgeExit.serverP99)} | ${f(l.edgeExit.computeP50)} / ${f(l.edgeExit.computeP99)} | ${l.notConfident.count} | ${f(l.notConfident.serverEdgeP50)} / ${f(l.notConfident.serverEdgeP99)} | ${f(l.notConfident.computeP50)} |`,
  ),
  '',
].join('\n');
writeFileSync('bench/results/edge.md', md);
console.log(md);
