/**
 * `npm run bench:soak`: resident memory of both services under steady, valid traffic.
 *
 * Starts the GPU backend (its own Node process, cpu executor) and the edge worker in `wrangler dev`
 * (workerd), sends real Fashion-MNIST test images (raw u8 and PNG, several regions, a share of
 * them forwarded to the backend) from `--concurrency` clients for `--seconds`, and samples every
 * `--every` seconds:
 *   - RSS of the backend process, of wrangler's own Node process, and of each workerd process;
 *   - the worker isolate's JS heap (`Runtime.getHeapUsage` over wrangler's inspector), which tells
 *     our worker's memory apart from the dev server's.
 * A series "plateaus" when the floor of its last third (lowest sample: garbage-collected memory saws)
 * is less than --plateau-mb (default 8 MB) above the floor of its middle third.
 *
 * Writes bench/results/soak.{json,md,svg}; options: `npm run bench:soak -- --help`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import WebSocket from 'ws';
import { readManifest } from '../core/node/bundle.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { processTree, rssMb } from '../scripts/proc.js';
import { putRegion, spawnWranglerDev, waitUntilUp } from '../scripts/wrangler-dev.js';
import { encodePng } from '../tests/helpers/png-encode.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';

const opt = cliArgs({
  usage: 'npm run bench:soak -- [options]',
  about:
    'Resident memory of both services under steady, valid traffic: starts the GPU backend (cpu executor) and the edge worker\n' +
    'in `wrangler dev`, sends real Fashion-MNIST test images (raw u8 and PNG, several regions, one forwarding everything to the\n' +
    "backend) and samples the RSS of the backend, wrangler and each workerd process, the worker isolate's JS heap and\n" +
    "onnxruntime's wasm heap. A series plateaus when the floor of its last third is less than --plateau-mb above the floor\n" +
    'of its middle third.',
  writes: 'bench/results/soak.{json,md,svg} (--traffic=healthz: soak-healthz.{json,md,svg})',
  options: {
    seconds: { arg: 'n', description: 'Seconds of traffic', default: '120', schema: text.positive() },
    concurrency: { arg: 'n', description: 'Clients sending one request at a time', default: '8', schema: text.int(1) },
    every: { arg: 'n', description: 'Seconds between memory samples', default: '5', schema: text.positive() },
    'plateau-mb': {
      arg: 'MB',
      description: 'Largest floor growth, middle to last third, that still counts as a plateau',
      default: '8',
      schema: text.positive(),
    },
    traffic: {
      choices: ['classify', 'healthz'],
      description: 'classify: images to /v1/classify; healthz: the control run, GET /healthz at the same concurrency',
      default: 'classify',
    },
  },
});
const TRAFFIC = opt.traffic;
const SECONDS = opt.seconds,
  CONC = opt.concurrency,
  EVERY = opt.every,
  PLATEAU_MB = opt['plateau-mb'];
const EDGE_PORT = 8798,
  BACKEND_PORT = 8799,
  INSPECTOR_PORT = 9332;
const EDGE = `http://127.0.0.1:${EDGE_PORT}`;
const SECRET = 'soak-cascade-secret-0123456789',
  ADMIN = 'soak-admin-token';
/** Regions the clients pretend to come from; one of them forwards everything to the backend. */
const REGIONS = ['colo:LHR', 'country:DE', 'continent:NA', 'colo:FWD', 'default'];

const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' };

function drain(p: ChildProcess): () => string {
  // An unread pipe fills up and stalls the child: keep reading, keep the tail for errors.
  let log = '';
  const keep = (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  };
  p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  return () => log;
}

/** RSS (MB) of pid and of each descendant: [{pid, comm, rssMb}]. */
function tree(root: number): { pid: number; comm: string; rssMb: number }[] {
  return processTree(root).map((p) => ({ pid: p.pid, comm: p.comm, rssMb: Math.round(rssMb(p.pid) * 10) / 10 }));
}

/** Local TCP ports each pid listens on (its socket fds' inodes, looked up in /proc/net/tcp). */
function listeningPorts(pids: number[]): Map<number, number[]> {
  const byInode = new Map<string, number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A') byInode.set(f[9]!, parseInt(f[1]!.split(':')[1]!, 16)); // 0A: LISTEN
  }
  return new Map(
    pids.map((pid) => {
      const ports: number[] = [];
      try {
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          const port = inode ? byInode.get(inode) : undefined;
          if (port !== undefined) ports.push(port);
        }
      } catch {
        // exited
      }
      return [pid, ports];
    }),
  );
}

/** The worker isolate's JS heap over wrangler's inspector proxy (it wants a DevTools origin). */
async function isolateHeapMb(): Promise<number | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${INSPECTOR_PORT}/ws`, {
      headers: { Origin: 'https://devtools.devprod.cloudflare.dev' },
    });
    const done = (v: number | null) => {
      clearTimeout(timer);
      ws.terminate();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), 3000);
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, method: 'Runtime.getHeapUsage' })));
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { id?: number; result?: { usedSize: number } };
      if (m.id === 1) done(m.result ? Math.round((m.result.usedSize / 2 ** 20) * 10) / 10 : null);
    });
    ws.on('error', () => done(null));
  });
}

const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 20 } });
const bodies = Array.from({ length: ds.test.count }, (_, i) => {
  const px = ds.test.images.slice(i * 784, (i + 1) * 784);
  return i % 4 === 0
    ? { type: 'image/png', body: encodePng({ width: 28, height: 28, colorType: 0, bitDepth: 8, samples: px }) }
    : { type: 'application/octet-stream', body: px };
});

mkdirSync('.cache', { recursive: true });
const backend = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], {
  env: { ...env, PORT: String(BACKEND_PORT), CASCADE_SECRET: SECRET, EXECUTORS: 'cpu' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const backendLog = drain(backend);
const worker = spawnWranglerDev({
  port: EDGE_PORT,
  vars: { CASCADE_SECRET: SECRET, ADMIN_TOKEN: ADMIN, BACKEND_URL: `http://127.0.0.1:${BACKEND_PORT}` },
  persistTo: '.cache/soak-wrangler-state',
  extra: ['--inspector-port', String(INSPECTOR_PORT)],
  stdio: 'pipe',
});
const workerLog = drain(worker);
const stopAll = () => {
  worker.kill('SIGTERM');
  backend.kill('SIGTERM');
};
process.on('exit', stopAll);

try {
  await waitUntilUp(`http://127.0.0.1:${BACKEND_PORT}/healthz`, backend, 90_000, backendLog);
  await waitUntilUp(`${EDGE}/healthz`, worker, 90_000, workerLog);
  // One region forwards every request (no exit is confident at threshold 2), so the backend works too.
  await putRegion(EDGE, ADMIN, 'colo:FWD', {
    policy: 'confidence',
    thresholds: readManifest('models/fashion-resnet').exits.map(() => 2),
    split: 1,
    encoding: 'f16',
  });

  const t0 = Date.now();
  const counts: Record<string, number> = {};
  let sent = 0;
  const client = async (k: number) => {
    for (let i = k; Date.now() - t0 < SECONDS * 1000; i += CONC) {
      if (TRAFFIC === 'healthz') {
        const r = await fetch(`${EDGE}/healthz`);
        await r.arrayBuffer();
        counts[`healthz ${r.status}`] = (counts[`healthz ${r.status}`] ?? 0) + 1;
        sent++;
        continue;
      }
      const b = bodies[i % bodies.length]!;
      const r = await fetch(`${EDGE}/v1/classify`, {
        method: 'POST',
        body: b.body as unknown as BodyInit,
        headers: { 'content-type': b.type, 'x-cascade-region': REGIONS[i % REGIONS.length]! },
      });
      const j = (await r.json()) as { where?: string; degraded?: boolean };
      const key = r.status !== 200 ? `status ${r.status}` : `${j.where}${j.degraded ? ' (degraded)' : ''}`;
      counts[key] = (counts[key] ?? 0) + 1;
      sent++;
    }
  };
  // wrangler dev runs two workerd processes: its dev proxy (ProxyWorker + InspectorProxyWorker), which
  // owns the public port and the inspector port, and the runtime that runs our worker behind it.
  // Looked up at every sample: wrangler restarts the runtime when a source file changes.
  const roles = () => {
    const workerds = tree(worker.pid!)
      .filter((p) => p.comm === 'workerd')
      .map((p) => p.pid);
    const ports = listeningPorts(workerds);
    const proxyPid = workerds.find((pid) => ports.get(pid)!.includes(EDGE_PORT));
    return { proxyPid, edgePid: workerds.find((pid) => pid !== proxyPid) };
  };
  const edgePids = new Set<number>();
  type Sample = {
    t: number;
    requests: number;
    backendMb: number;
    wranglerMb: number;
    proxyWorkerdMb: number;
    edgeWorkerdMb: number;
    isolateHeapMb: number | null;
    wasmHeapMb: number | null;
  };
  const samples: Sample[] = [];
  const wasmHeapMb = async () => {
    try {
      const j = (await (await fetch(`${EDGE}/readyz`)).json()) as {
        checks: { model: { wasmHeapBytes?: number | null } };
      };
      const b = j.checks.model.wasmHeapBytes;
      return typeof b === 'number' ? Math.round((b / 2 ** 20) * 10) / 10 : null;
    } catch {
      return null;
    }
  };
  const sample = async () => {
    const w = tree(worker.pid!);
    const { proxyPid, edgePid } = roles();
    if (edgePid !== undefined) edgePids.add(edgePid);
    samples.push({
      t: Math.round((Date.now() - t0) / 100) / 10,
      requests: sent,
      backendMb: tree(backend.pid!)[0]?.rssMb ?? NaN,
      wranglerMb: w.find((p) => p.pid === worker.pid)?.rssMb ?? NaN,
      proxyWorkerdMb: w.find((p) => p.pid === proxyPid)?.rssMb ?? NaN,
      edgeWorkerdMb: w.find((p) => p.pid === edgePid)?.rssMb ?? NaN,
      isolateHeapMb: await isolateHeapMb(),
      wasmHeapMb: await wasmHeapMb(),
    });
    const s = samples.at(-1)!;
    console.log(
      `t=${s.t}s requests=${s.requests} backend=${s.backendMb}MB wrangler=${s.wranglerMb}MB proxy workerd=${s.proxyWorkerdMb}MB edge workerd=${s.edgeWorkerdMb}MB isolate heap=${s.isolateHeapMb}MB wasm heap=${s.wasmHeapMb}MB`,
    );
  };
  await sample();
  const timer = setInterval(() => void sample(), EVERY * 1000);
  await Promise.all(Array.from({ length: CONC }, (_, k) => client(k)));
  clearInterval(timer);
  await sample();

  const series: Record<string, number[]> = {
    'backend RSS': samples.map((s) => s.backendMb),
    'wrangler (Node) RSS': samples.map((s) => s.wranglerMb),
    "wrangler's dev proxy (workerd) RSS": samples.map((s) => s.proxyWorkerdMb),
    'edge worker runtime (workerd) RSS': samples.map((s) => s.edgeWorkerdMb),
    'worker isolate JS heap': samples.map((s) => s.isolateHeapMb ?? NaN),
    "onnxruntime's wasm heap": samples.map((s) => s.wasmHeapMb ?? NaN),
  };
  // Plateau: garbage-collected memory saws up and down, so compare floors: the lowest sample of the
  // last third against the lowest of the middle third. Memory that is retained lifts the floor.
  const verdict = Object.fromEntries(
    Object.entries(series).map(([name, xs]) => {
      const third = Math.floor(xs.length / 3);
      const floor = (a: number[]) => Math.min(...a.filter(Number.isFinite));
      const growth = floor(xs.slice(2 * third)) - floor(xs.slice(third, 2 * third));
      return [
        name,
        {
          first: xs[0],
          last: xs.at(-1),
          max: Math.max(...xs.filter(Number.isFinite)),
          floorGrowthMb: Math.round(growth * 10) / 10,
          plateau: growth < PLATEAU_MB,
        },
      ];
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  const meta = {
    traffic: TRAFFIC,
    date: new Date().toISOString(),
    hardware: `${cpus().length}-core ${process.arch} VM`,
    seconds: Math.round(seconds),
    concurrency: CONC,
    requests: sent,
    reqPerSec: Math.round(sent / seconds),
    outcomes: counts,
    plateauMb: PLATEAU_MB,
    edgeRuntimeRestarts: edgePids.size - 1,
  };
  mkdirSync('bench/results', { recursive: true });
  const name = TRAFFIC === 'classify' ? 'soak' : 'soak-healthz';
  writeFileSync(`bench/results/${name}.json`, `${JSON.stringify({ ...meta, verdict, samples }, null, 2)}\n`);
  writeFileSync(
    `bench/results/${name}.svg`,
    svg(
      samples.map((s) => s.t),
      series,
    ),
  );
  const md = [
    '# Soak: resident memory under steady valid traffic',
    '',
    `${meta.date}, ${meta.hardware}; \`npm run bench:soak -- --seconds=${SECONDS} --concurrency=${CONC} --traffic=${TRAFFIC}\`. Backend (cpu executor) and edge worker in \`wrangler dev\` on loopback,`,
    TRAFFIC === 'classify'
      ? `${sent} requests in ${meta.seconds} s (${meta.reqPerSec} req/s) of real Fashion-MNIST test images (raw u8 and PNG) from ${REGIONS.length} regions, one of them forwarding everything.`
      : `${sent} requests in ${meta.seconds} s (${meta.reqPerSec} req/s) of GET /healthz: the control (no model, KV or backend work).`,
    `Outcomes: ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}.${meta.edgeRuntimeRestarts ? ` wrangler restarted the worker's runtime ${meta.edgeRuntimeRestarts}× (a source file changed): the run is not clean.` : ''}`,
    '',
    '| series | first MB | last MB | max MB | floor growth, middle → last third (MB) | plateau |',
    '|---|---|---|---|---|---|',
    ...Object.entries(verdict).map(
      ([k, v]) => `| ${k} | ${v.first} | ${v.last} | ${v.max} | ${v.floorGrowthMb} | ${v.plateau ? 'yes' : '**no**'} |`,
    ),
    '',
    `![memory over time](${name}.svg)`,
    '',
  ].join('\n');
  writeFileSync(`bench/results/${name}.md`, md);
  console.log(md);
} finally {
  stopAll();
}
process.exit(0);

/** A line per series over time (MB), with axes; plain SVG. */
function svg(t: number[], series: Record<string, number[]>): string {
  const W = 720,
    H = 360,
    L = 60,
    R = 200,
    T = 20,
    B = 40;
  const all = Object.values(series).flat().filter(Number.isFinite);
  const ymax = Math.max(10, ...all) * 1.05,
    xmax = Math.max(1, ...t);
  const x = (v: number) => L + (v / xmax) * (W - L - R),
    y = (v: number) => H - B - (v / ymax) * (H - T - B);
  const colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
  const lines = Object.entries(series).map(([name, xs], i) => {
    const pts = xs
      .map((v, j) => (Number.isFinite(v) ? `${x(t[j]!).toFixed(1)},${y(v).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
    return `<polyline fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${pts}"/><text x="${W - R + 10}" y="${T + 16 * i + 10}" font-size="12" fill="${colours[i % colours.length]}">${name}</text>`;
  });
  const ticks = Array.from({ length: 5 }, (_, i) => (ymax * i) / 4).map(
    (v) =>
      `<text x="${L - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(0)}</text><line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${ticks.join('\n')}
<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>
<text x="${(L + W - R) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">seconds of steady traffic</text>
<text x="14" y="${(T + H - B) / 2}" font-size="12" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">MB</text>
${lines.join('\n')}
</svg>
`;
}
