/**
 * `npm run bench:e2e`: the whole cascade under load, with real processes on loopback: the GPU backend
 * (`gpu-backend/src/server.ts`, its own process) and the edge worker in `wrangler dev` (workerd),
 * fresh state. autocannon posts real Fashion-MNIST test images (an even mix of the ten classes:
 * easy ones the first exit answers, hard ones that go to the backend) at 1, 10, 50 and 200
 * connections, against three regions served by the same code in the same run:
 *   - cascade: the bundle's default thresholds and split;
 *   - always forward: every edge exit off, so every request goes to the backend;
 *   - full model at the edge: split after the last segment, exits off: the edge runs the whole backbone.
 * Per arm and level: throughput, client p50/p99, server-side p50/p99 per path (the worker's
 * `timings.totalMs` for answers from the edge and from the backend), errors, and the peak RSS of the
 * backend and of workerd (both of wrangler's processes), sampled from /proc during the level. Every
 * level runs --repeats times (the arms interleaved within each repeat): the tables give the median
 * and range, and the throughput ratios between arms are taken within each repeat. wrangler dev runs
 * with its local trace collector off (X_LOCAL_OBSERVABILITY=false): it writes every span into
 * SQLite in the worker's own process, which a deployed worker does not pay.
 *
 * @example
 * npm run bench:e2e                      # 5 s per level, 3 repeats → bench/results/e2e.{json,md}
 * npm run bench:e2e -- --seconds=3 --repeats=1   # a quick look
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { readManifest } from '../core/node/bundle.js';
import { manifestDefaults } from '../core/regions.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { applyLocalMigrations } from '../scripts/d1-migrations.js';
import { processTree, rssMb } from '../scripts/proc.js';
import { putRegion, spawnWranglerDev, waitUntilUp } from '../scripts/wrangler-dev.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import { percentile, spread } from './stats.js';

const args = cliArgs({
  usage: 'npm run bench:e2e -- [options]',
  about:
    'The cascade under load end to end (backend process + wrangler dev), against "always forward" and "full model at the\n' +
    'edge" served by the same code in the same run: throughput, latency per path, errors, memory of both processes.',
  writes: 'bench/results/e2e.{json,md}',
  options: {
    seconds: { arg: 'n', description: 'Seconds per level and arm', default: '5', schema: text.positive() },
    repeats: {
      arg: 'n',
      description: 'Runs of every level and arm (median and range)',
      default: '3',
      schema: text.int(1),
    },
    images: {
      arg: 'n',
      description: 'Test images cycled (a multiple of 10: as many per class)',
      default: '200',
      schema: text.int(10),
    },
  },
});
const EDGE_PORT = 8870;
const BACKEND_PORT = 8871;
const EDGE = `http://127.0.0.1:${EDGE_PORT}`;
const SECRET = 'bench-e2e-secret-0123456789';
const ADMIN = 'bench-e2e-admin';
const DIR = 'models/fashion-resnet';
const STATE = '.cache/bench-e2e-state';
const LEVELS = [1, 10, 50, 200];
const m = readManifest(DIR);

/** A percentile, null (printed '–') for no samples. */
const pct = (xs: number[], p: number): number | null => (xs.length ? percentile(xs, p) : null);

const drain = (p: ChildProcess) => {
  p.stdout?.resume();
  p.stderr?.resume();
};

// A deployed worker has no local trace collector: keep wrangler dev's out of the worker's process.
process.env.X_LOCAL_OBSERVABILITY = 'false';
rmSync(STATE, { recursive: true, force: true });
const migrate = applyLocalMigrations(['--persist-to', STATE], 'pipe');
if (migrate.status !== 0) throw new Error(`D1 migrations failed: ${migrate.stderr}`);
const backend = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/server.ts'], {
  env: { ...process.env, CASCADE_SECRET: SECRET, PORT: String(BACKEND_PORT), MODEL_DIR: DIR, EXECUTORS: 'cpu' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
drain(backend);
// A benchmark's throwaway secrets (never a real deployment's): on the command line for brevity.
const worker = spawnWranglerDev({
  port: EDGE_PORT,
  vars: {
    CASCADE_SECRET: SECRET,
    ADMIN_TOKEN: ADMIN,
    BACKEND_URL: `http://127.0.0.1:${BACKEND_PORT}`,
    BACKEND_TIMEOUT_MS: '5000',
    METRICS_ENABLED: 'true',
  },
  persistTo: STATE,
  stdio: 'pipe',
});
drain(worker);
const stopAll = async () => {
  for (const p of [worker, backend]) if (p.exitCode === null) p.kill('SIGTERM');
  await Promise.all(
    [worker, backend].map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)),
  );
};
try {
  await waitUntilUp(`http://127.0.0.1:${BACKEND_PORT}/readyz`, backend, 120_000);
  await waitUntilUp(`${EDGE}/healthz`, worker, 120_000);

  const defaults = manifestDefaults(m);
  const off = m.exits.map(() => 2);
  const ARMS = [
    { name: 'cascade', region: 'colo:CAS', settings: defaults },
    { name: 'always forward', region: 'colo:FWD', settings: { ...defaults, policy: 'max-softmax', thresholds: off } },
    {
      name: 'full model at the edge',
      region: 'colo:EDG',
      settings: { ...defaults, policy: 'max-softmax', thresholds: off, split: m.segments.length },
    },
  ] as const;
  for (const a of ARMS) await putRegion(EDGE, ADMIN, a.region, { ...a.settings, note: `bench:e2e ${a.name}` });

  const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: args.images / 10 } });
  const images = Array.from({ length: ds.test.count }, (_, i) =>
    Buffer.from(ds.test.images.slice(i * 784, (i + 1) * 784)),
  );
  // Warm both sides (isolate, sessions, the backend's executor) on every arm.
  for (const a of ARMS)
    for (const img of images.slice(0, 20))
      await fetch(`${EDGE}/v1/classify`, {
        method: 'POST',
        body: img,
        headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': a.region },
      });

  interface Row {
    arm: string;
    connections: number;
    repeat: number;
    requests: number;
    rps: number;
    errors: number;
    degraded: number;
    accuracy: number | null;
    correct: number;
    answered: number;
    client: { p50: number; p99: number };
    edgeAnswers: { count: number; serverP50: number | null; serverP99: number | null };
    backendAnswers: { count: number; serverP50: number | null; serverP99: number | null };
    peakRssMb: { backend: number; workerd: number };
  }
  const rows: Row[] = [];
  for (let repeat = 1; repeat <= args.repeats; repeat++)
    for (const a of ARMS)
      for (const connections of LEVELS) {
        const edge: number[] = [],
          backendMs: number[] = [];
        let degraded = 0,
          k = 0,
          correct = 0,
          answered = 0;
        const labelOf = new Map<number, number>();
        const peak = { backend: 0, workerd: 0 };
        const pids = processTree(worker.pid!)
          .filter((p) => p.comm === 'workerd')
          .map((p) => p.pid);
        const sampler = setInterval(() => {
          peak.backend = Math.max(peak.backend, rssMb(backend.pid!));
          peak.workerd = Math.max(
            peak.workerd,
            pids.reduce((s, p) => s + rssMb(p), 0),
          );
        }, 200);
        const result = (await autocannon({
          url: `${EDGE}/v1/classify`,
          connections,
          duration: args.seconds,
          requests: [
            {
              method: 'POST',
              headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': a.region },
              setupRequest: (req: Record<string, unknown>) => {
                const i = k++ % images.length;
                return {
                  ...req,
                  body: images[i]!,
                  headers: { ...(req.headers as object), 'x-request-id': `bench-${i}-${k}` },
                };
              },
              onResponse: (status: number, body: string, ctx: unknown, headers?: Record<string, string>) => {
                void ctx;
                void headers;
                if (status !== 200) return;
                const r = JSON.parse(body) as {
                  where: string;
                  degraded: boolean;
                  classIndex: number;
                  requestId?: string;
                  timings: { totalMs: number };
                };
                (r.where === 'edge' ? edge : backendMs).push(r.timings.totalMs);
                if (r.degraded) degraded++;
                answered++;
                const i = Number(/^bench-(\d+)-/.exec(r.requestId ?? '')?.[1] ?? -1);
                if (i >= 0) {
                  labelOf.set(i, r.classIndex);
                  if (r.classIndex === ds.test.labels[i]) correct++;
                }
              },
            },
          ],
        } as never)) as autocannon.Result;
        clearInterval(sampler);
        const row = {
          arm: a.name,
          connections,
          repeat,
          requests: result.requests.total,
          rps: result.requests.average,
          errors: result.errors + result.non2xx + result.timeouts,
          degraded,
          accuracy: labelOf.size ? correct / answered : null,
          correct,
          answered,
          client: { p50: result.latency.p50, p99: result.latency.p99 },
          edgeAnswers: { count: edge.length, serverP50: pct(edge, 50), serverP99: pct(edge, 99) },
          backendAnswers: { count: backendMs.length, serverP50: pct(backendMs, 50), serverP99: pct(backendMs, 99) },
          peakRssMb: { backend: Math.round(peak.backend), workerd: Math.round(peak.workerd) },
        };
        console.error(JSON.stringify(row));
        rows.push(row);
      }

  const meta = {
    date: new Date().toISOString(),
    machine: `${cpus().length}-core x86 VM (${cpus()[0]?.model ?? 'unknown CPU'})`,
    node: process.version,
    model: m.name,
    images: images.length,
    secondsPerLevel: args.seconds,
    setup:
      'backend (cpu executor) and wrangler dev (workerd, local trace collector off) as separate processes on loopback, sharing the cores with autocannon',
    repeats: args.repeats,
  };
  const range = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? spread(v) : null;
  };
  const summary = ARMS.flatMap((a) =>
    LEVELS.map((connections) => {
      const r = rows.filter((x) => x.arm === a.name && x.connections === connections);
      const sum = (k: (x: Row) => number) => r.reduce((t, x) => t + k(x), 0);
      return {
        arm: a.name,
        connections,
        rps: range(r.map((x) => x.rps)),
        errors: sum((x) => x.errors),
        accuracy: sum((x) => x.answered) ? sum((x) => x.correct) / sum((x) => x.answered) : null,
        clientP50: range(r.map((x) => x.client.p50)),
        clientP99: range(r.map((x) => x.client.p99)),
        edgeServerP50: range(r.map((x) => x.edgeAnswers.serverP50)),
        backendServerP50: range(r.map((x) => x.backendAnswers.serverP50)),
        peakRssMb: {
          backend: Math.max(...r.map((x) => x.peakRssMb.backend)),
          workerd: Math.max(...r.map((x) => x.peakRssMb.workerd)),
        },
      };
    }),
  );
  // The cascade's throughput over each other arm's, within each repeat (the same minutes of the machine).
  const ratios = LEVELS.map((connections) => {
    const of = (arm: string, repeat: number) =>
      rows.find((x) => x.arm === arm && x.connections === connections && x.repeat === repeat)!.rps;
    const per = (other: string) =>
      range(Array.from({ length: args.repeats }, (_, i) => of('cascade', i + 1) / of(other, i + 1)));
    return {
      connections,
      overAlwaysForward: per('always forward'),
      overFullModelAtEdge: per('full model at the edge'),
    };
  });
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/e2e.json', `${JSON.stringify({ meta, summary, ratios, rows }, null, 2)}\n`);
  const f = (v: number | null, d = 1) => (v === null ? '–' : v.toFixed(d));
  const rg = (v: { median: number; min: number; max: number } | null, d = 1) =>
    v === null ? '–' : `${f(v.median, d)} (${f(v.min, d)}–${f(v.max, d)})`;
  const md = [
    '# End to end under load (`npm run bench:e2e`)',
    '',
    `${meta.date}, ${meta.machine}, Node ${meta.node}, model ${meta.model}; ${meta.images} test images (${meta.images / 10} per class) cycled, ${meta.secondsPerLevel} s per level, ${meta.repeats} repeats (arms interleaved). ${meta.setup}. Figures: median (min–max) over the repeats.`,
    '',
    "Arms, served by the same code in the same run (a region each): **cascade** (the bundle defaults), **always forward** (every edge exit off: the backend answers everything), **full model at the edge** (split after the last segment, exits off: the edge runs the whole backbone). Server-side = the worker's `timings.totalMs` (arrival to answer, backend round trip included); client = autocannon through wrangler dev's proxy. Peak RSS is sampled during each level (the highest over the repeats); the two processes serve every arm, so a row includes what earlier rows left. Accuracy is over the answered requests (the images repeat as they cycle). Absolute figures are this machine's only; the ratios between arms, taken within each repeat, are the portable part.",
    '',
    "The cascade's throughput over the other arms (the ratio within each repeat):",
    '',
    '| connections | over always forward | over full model at the edge |',
    '|---:|---|---|',
    ...ratios.map((r) => `| ${r.connections} | ${rg(r.overAlwaysForward, 2)}× | ${rg(r.overFullModelAtEdge, 2)}× |`),
    '',
    '| arm | connections | req/s | errors | accuracy | client p50 ms | client p99 ms | edge answers, server p50 ms | backend answers, server p50 ms | peak RSS backend / workerd MB |',
    '|---|---:|---|---:|---:|---|---|---|---|---|',
    ...summary.map(
      (r) =>
        `| ${r.arm} | ${r.connections} | ${rg(r.rps, 0)} | ${r.errors} | ${r.accuracy === null ? '–' : `${(r.accuracy * 100).toFixed(1)} %`} | ${rg(r.clientP50, 0)} | ${rg(r.clientP99, 0)} | ${rg(r.edgeServerP50)} | ${rg(r.backendServerP50)} | ${r.peakRssMb.backend} / ${r.peakRssMb.workerd} |`,
    ),
    '',
  ].join('\n');
  writeFileSync('bench/results/e2e.md', md);
  console.log(md);
} finally {
  await stopAll();
}
