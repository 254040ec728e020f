/**
 * `npm run bench:edge`: the edge worker in `wrangler dev` (workerd, local KV, D1 and Durable
 * Objects) on loopback, no backend (forwards fail fast and answer degraded: the edge's own path).
 *
 *   - isolate start-up: `wrangler check startup` profiles the global scope of the worker as built for
 *     deploy, --startupRuns times, for two variants: as shipped (the global scope starts
 *     onnxruntime-web, creates the edge's sessions and runs them once) and lazy (the same app and
 *     model with nothing done at load: bench/edge-stages/worker.ts). Each profile is split into
 *     onnxruntime-web's runtime init, session creation, the warm-up run, JavaScript (module
 *     evaluation, the app's set-up) and GC, by the onnxruntime-web call each sample sits under;
 *   - cold start: per variant, --coldRuns fresh `wrangler dev` processes and their first 100
 *     requests (sequential; client time, and the worker's own totalMs), so the first request's cost
 *     and the p99 over the first 100 can be compared between the variants;
 *   - warm load: autocannon at 1, 10 and 50 connections, --repeats times each, posting real
 *     Fashion-MNIST test images (raw u8) at the bundle's default thresholds, twice: with the load
 *     generator sharing both cores with wrangler dev, and pinned (taskset) to one core with wrangler
 *     dev's processes on the other. Median and range over the repeats;
 *   - bundle size raw and gzip (bench/results/worker-bundle.json from `npm run build:worker`).
 *
 * wrangler dev runs with its local trace collector off (X_LOCAL_OBSERVABILITY=false, as in
 * bench:edge:cpu): it writes every span into SQLite in the worker's own process, which a deployed
 * worker does not pay. Writes bench/results/edge.{json,md}; options: `npm run bench:edge -- --help`.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { readManifest } from '../core/node/bundle.js';
import { manifestDefaults } from '../core/regions.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { applyLocalMigrations } from '../scripts/d1-migrations.js';
import { node22 } from '../scripts/node22.js';
import { processTree } from '../scripts/proc.js';
import { buildWorkerBundle } from '../scripts/worker-bundle.js';
import { putRegion, spawnWranglerDev, waitUntilUp } from '../scripts/wrangler-dev.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import { percentile, type Spread, spread } from './stats.js';

const args = cliArgs({
  usage: 'npm run bench:edge -- [options]',
  about:
    'The edge worker in `wrangler dev` on loopback, no backend: isolate start-up CPU (`wrangler check startup`, by phase)\n' +
    'as shipped and with lazy sessions, cold start (the first 100 requests of fresh processes, both variants), and warm\n' +
    'load with autocannon at 1, 10 and 50 connections, repeated, with the load generator sharing the cores and pinned.',
  writes: 'bench/results/edge.{json,md} (and bench/results/worker-bundle.json via npm run build:worker)',
  options: {
    seconds: { arg: 'n', description: 'Seconds of load per level and repeat', default: '5', schema: text.positive() },
    repeats: {
      arg: 'n',
      description: 'Repeats of each load level (median and range)',
      default: '3',
      schema: text.int(1),
    },
    coldRuns: {
      arg: 'n',
      description: 'Fresh `wrangler dev` processes per variant',
      default: '3',
      schema: text.int(1),
    },
    startupRuns: {
      arg: 'n',
      description: '`wrangler check startup` runs per variant',
      default: '5',
      schema: text.int(1),
    },
  },
});
const PORT = 8797;
const URL_ = `http://127.0.0.1:${PORT}`;
const ADMIN = 'bench-edge-admin';
const STATE = '.cache/bench-edge-state';
const REGION = 'colo:EDG';
const DIR = 'models/fashion-resnet';
/** Distinct test images cycled through by the load generator. */
const IMAGES = 200;
/** Requests per cold process: the first 100 a new isolate serves. */
const FIRST = 100;
const m = readManifest(DIR);
// A deployed worker has no local trace collector: keep wrangler dev's out of the worker's process.
process.env.X_LOCAL_OBSERVABILITY = 'false';

const variants = [
  { id: 'lazy', name: 'lazy: nothing at load, sessions on first use', entry: 'bench/edge-stages/worker.ts' },
  { id: 'shipped', name: 'as shipped: global-scope warm-up', entry: undefined },
] as const;
type VariantId = (typeof variants)[number]['id'];

const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: IMAGES / 10 } });
const images = Array.from({ length: ds.test.count }, (_, i) => ds.test.images.slice(i * 784, (i + 1) * 784));

spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bundle-worker.ts'], { stdio: 'inherit' });
const bundle = JSON.parse(readFileSync('bench/results/worker-bundle.json', 'utf8')) as {
  rawBytes: number;
  gzipBytes: number;
};

/** bench:edge:cpu's headline (`npm run bench:edge` runs it first), quoted with its own date. */
function cpuSection(): string[] {
  let c: {
    meta: { date: string; runs: number };
    summary: {
      isolate: Record<string, { main: Spread }>;
      http: Record<string, { runtime: Spread }>;
    };
  };
  try {
    c = JSON.parse(readFileSync('bench/results/edge-cpu.json', 'utf8'));
  } catch {
    return [];
  }
  const x = (v: Spread) => `${v.median.toFixed(2)} (${v.min.toFixed(2)}–${v.max.toFixed(2)})`;
  const i = c.summary.isolate,
    h = c.summary.http;
  if (!i['classify-edge'] || !i['classify-backend'] || !h.edge || !h.healthz) return [];
  return [
    '## CPU per request',
    '',
    `From \`npm run bench:edge:cpu\` (${c.meta.date}, median (min–max) of ${c.meta.runs} runs; bench/results/edge-cpu.md has the stages): the worker's own CPU inside the isolate, workerd's main thread, **${x(i['classify-edge'].main)} CPU-ms per edge answer** and ${x(i['classify-backend'].main)} per forward; the whole workerd process over HTTP ${x(h.edge.runtime)} per edge answer, of which ${x(h.healthz.runtime)} is what GET /healthz costs it (workerd and wrangler dev).`,
    '',
  ];
}

// ---- Isolate start-up, by phase ------------------------------------------------------------------
interface Profile {
  startTime: number;
  endTime: number;
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}
const PHASES = ['ortInit', 'sessions', 'warmUpRun', 'ortOther', 'javascript', 'gc', 'other'] as const;
type Phase = (typeof PHASES)[number];
const PHASE_NAMES: Record<Phase, string> = {
  ortInit: "onnxruntime-web's runtime init (_OrtInit)",
  sessions: 'session creation (_OrtCreateSession)',
  warmUpRun: 'the warm-up run (_OrtRun)',
  ortOther: 'other onnxruntime-web wasm (instantiation, tensors)',
  javascript: "JavaScript: module evaluation, the app's set-up",
  gc: 'garbage collection',
  other: 'other (runtime)',
};
/** Which phase each JS function of the bundle belongs to, from the onnxruntime-web call it makes first. */
function phaseOfFunction(lines: string[], line0: number): Phase | undefined {
  for (let k = line0; k < Math.min(lines.length, line0 + 60); k++) {
    const l = lines[k]!;
    if (k > line0 && l.includes('__name(') && l.includes('=>')) return undefined;
    if (l.includes('._OrtInit(')) return 'ortInit';
    if (l.includes('._OrtCreateSession(')) return 'sessions';
    if (l.includes('._OrtRun(')) return 'warmUpRun';
  }
  return undefined;
}
/** CPU ms by phase (idle excluded): each sample goes to the outermost bundle function directly above a js-to-wasm frame. */
function phases(p: Profile, lines: string[], js: string): Record<Phase, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Phase | 'idle'>();
  const phaseOf = (id: number): Phase | 'idle' => {
    const hit = memo.get(id);
    if (hit) return hit;
    const chain: Profile['nodes'] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) chain.unshift(byId.get(x)!);
    const leaf = chain.at(-1)!.callFrame.functionName;
    let ph: Phase | 'idle' =
      leaf === '(idle)'
        ? 'idle'
        : leaf === '(garbage collector)'
          ? 'gc'
          : leaf === '(program)'
            ? 'other'
            : chain.some((n) => n.callFrame.url.endsWith(js))
              ? 'javascript'
              : 'other';
    for (let i = 0; i + 1 < chain.length && ph !== 'idle' && ph !== 'gc'; i++)
      if (chain[i]!.callFrame.url.endsWith(js) && chain[i + 1]!.callFrame.functionName === 'js-to-wasm') {
        ph = phaseOfFunction(lines, chain[i]!.callFrame.lineNumber) ?? 'ortOther';
        break;
      }
    memo.set(id, ph);
    return ph;
  };
  const out = Object.fromEntries(PHASES.map((k) => [k, 0])) as Record<Phase, number>;
  p.samples.forEach((id, i) => {
    const ph = phaseOf(id);
    if (ph !== 'idle') out[ph] += (p.timeDeltas[i + 1] ?? 0) / 1000;
  });
  return out;
}
const startup: Record<VariantId, { runs: (Record<Phase, number> & { cpuMs: number })[] }> = {
  lazy: { runs: [] },
  shipped: { runs: [] },
};
mkdirSync('.cache', { recursive: true });
for (const v of variants) {
  const dir = `.cache/bench-edge-${v.id}`;
  const file = `${dir}.bundle`;
  await buildWorkerBundle(dir, ['--outfile', file, ...(v.entry ? [v.entry] : [])]);
  // The entry's JavaScript, named after the entry file (index.js, worker.js).
  const js = readdirSync(dir).find((f) => f.endsWith('.js'));
  if (!js) throw new Error(`no JavaScript in ${dir}`);
  const lines = readFileSync(`${dir}/${js}`, 'utf8').split('\n');
  for (let r = 0; r < args.startupRuns; r++) {
    const out = `.cache/bench-edge-${v.id}.cpuprofile`;
    const res = spawnSync(
      node22(),
      ['node_modules/wrangler/bin/wrangler.js', 'check', 'startup', '--worker', file, '--outfile', out],
      {
        env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
        encoding: 'utf8',
      },
    );
    if (res.status !== 0) throw new Error(`wrangler check startup failed:\n${res.stdout}\n${res.stderr}`);
    const ph = phases(JSON.parse(readFileSync(out, 'utf8')) as Profile, lines, js);
    const row = { ...ph, cpuMs: PHASES.reduce((a, k) => a + ph[k], 0) };
    console.error(`start-up ${v.id}`, JSON.stringify(row));
    startup[v.id].runs.push(row);
  }
}
const startupSummary = Object.fromEntries(
  variants.map((v) => {
    const runs = startup[v.id].runs;
    return [
      v.id,
      {
        cpuMs: spread(runs.map((r) => r.cpuMs)),
        phases: Object.fromEntries(
          PHASES.map((k) => [
            k,
            percentile(
              runs.map((r) => r[k]),
              50,
            ),
          ]),
        ) as Record<Phase, number>,
      },
    ];
  }),
) as Record<VariantId, { cpuMs: Spread; phases: Record<Phase, number> }>;

// ---- Cold start: the first 100 requests of fresh processes ----------------------------------------
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
    headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': REGION },
  });
  if (res.status !== 200) throw new Error(`classify: ${res.status} ${await res.text()}`);
  const reply = (await res.json()) as Reply;
  return { reply, clientMs: performance.now() - t };
}
async function startWorker(entry?: string): Promise<{ proc: ChildProcess; readyMs: number }> {
  const t0 = performance.now();
  // A benchmark's throwaway secrets: on the command line for brevity.
  const proc = spawnWranglerDev({
    port: PORT,
    vars: { CASCADE_SECRET: 'bench', ADMIN_TOKEN: ADMIN, BACKEND_URL: 'http://127.0.0.1:9', BACKEND_TIMEOUT_MS: '200' },
    persistTo: STATE,
    extra: entry ? [entry] : [],
  });
  await waitUntilUp(`${URL_}/healthz`, proc, 120_000);
  const readyMs = performance.now() - t0;
  await putRegion(URL_, ADMIN, REGION, manifestDefaults(m));
  return { proc, readyMs };
}
async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}
rmSync(STATE, { recursive: true, force: true });
const migrate = applyLocalMigrations(['--persist-to', STATE], 'pipe');
if (migrate.status !== 0) throw new Error(`D1 migrations failed: ${migrate.stderr}`);

const cold: Record<
  VariantId,
  { firstClientMs: number; firstServerMs: number; p50ClientMs: number; p99ClientMs: number; readyMs: number }[]
> = {
  lazy: [],
  shipped: [],
};
let worker: { proc: ChildProcess; readyMs: number } | undefined;
try {
  for (const v of variants)
    for (let i = 0; i < args.coldRuns; i++) {
      if (worker) await stop(worker.proc);
      worker = await startWorker(v.entry);
      const client: number[] = [];
      let firstServerMs = Number.NaN;
      for (let k = 0; k < FIRST; k++) {
        const r = await classify(images[k % images.length]!);
        if (k === 0) firstServerMs = r.reply.timings.totalMs;
        client.push(r.clientMs);
      }
      const row = {
        firstClientMs: client[0]!,
        firstServerMs,
        p50ClientMs: percentile(client, 50),
        p99ClientMs: percentile(client, 99),
        readyMs: worker.readyMs,
      };
      console.error(`cold ${v.id}`, JSON.stringify(row));
      cold[v.id].push(row);
    }

  // ---- Warm load: the shipped worker, still up from its last cold run ------------------------------
  const tree = () => processTree(worker!.proc.pid!).map((p) => p.pid);
  const pin = (pids: number[], cpuList: string) => {
    for (const pid of pids) spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
  };
  const levels: {
    placement: 'shared' | 'pinned';
    connections: number;
    repeat: number;
    rps: number;
    errors: number;
    client: { p50: number; p99: number };
    edgeExit: { count: number; serverP50: number; serverP99: number; computeP50: number };
    notConfident: { count: number; serverP50: number };
  }[] = [];
  for (const placement of ['shared', 'pinned'] as const) {
    if (placement === 'pinned') {
      pin(tree(), '0');
      pin([process.pid], '1');
    }
    for (const connections of [1, 10, 50])
      for (let repeat = 1; repeat <= args.repeats; repeat++) {
        const edge: number[] = [],
          fwd: number[] = [],
          edgeCompute: number[] = [];
        let k = 0;
        const result = (await autocannon({
          url: `${URL_}/v1/classify`,
          connections,
          duration: args.seconds,
          requests: [
            {
              method: 'POST',
              headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': REGION },
              setupRequest: (req: Record<string, unknown>) => ({
                ...req,
                body: Buffer.from(images[k++ % images.length]!),
              }),
              onResponse: (status: number, body: string) => {
                if (status !== 200) return;
                const r = JSON.parse(body) as Reply;
                if (r.degraded) fwd.push(r.timings.edgeMs);
                else {
                  edge.push(r.timings.edgeMs);
                  edgeCompute.push(r.timings.computeMs);
                }
              },
            },
          ],
        } as never)) as autocannon.Result;
        const row = {
          placement,
          connections,
          repeat,
          rps: result.requests.average,
          errors: result.errors + result.non2xx,
          client: { p50: result.latency.p50, p99: result.latency.p99 },
          edgeExit: {
            count: edge.length,
            serverP50: percentile(edge, 50),
            serverP99: percentile(edge, 99),
            computeP50: percentile(edgeCompute, 50),
          },
          notConfident: { count: fwd.length, serverP50: percentile(fwd, 50) },
        };
        console.error(JSON.stringify(row));
        levels.push(row);
      }
    if (placement === 'pinned') {
      pin(tree(), `0-${cpus().length - 1}`);
      pin([process.pid], `0-${cpus().length - 1}`);
    }
  }
  await stop(worker!.proc);

  // ---- Results --------------------------------------------------------------------------------------
  const coldSummary = Object.fromEntries(
    variants.map((v) => {
      const r = cold[v.id];
      const of = (k: keyof (typeof r)[number]) => spread(r.map((x) => x[k]));
      return [
        v.id,
        {
          firstClientMs: of('firstClientMs'),
          firstServerMs: of('firstServerMs'),
          p50ClientMs: of('p50ClientMs'),
          p99ClientMs: of('p99ClientMs'),
          readyMs: of('readyMs'),
          // As a new isolate meets its first request on Cloudflare: the global scope, then the request.
          startupPlusFirstMs:
            startupSummary[v.id].cpuMs.median +
            percentile(
              r.map((x) => x.firstClientMs),
              50,
            ),
        },
      ];
    }),
  ) as Record<
    VariantId,
    Record<'firstClientMs' | 'firstServerMs' | 'p50ClientMs' | 'p99ClientMs' | 'readyMs', Spread> & {
      startupPlusFirstMs: number;
    }
  >;
  const levelSummary = (['shared', 'pinned'] as const).flatMap((placement) =>
    [1, 10, 50].map((connections) => {
      const r = levels.filter((l) => l.placement === placement && l.connections === connections);
      return {
        placement,
        connections,
        rps: spread(r.map((x) => x.rps)),
        errors: r.reduce((a, x) => a + x.errors, 0),
        clientP50: spread(r.map((x) => x.client.p50)),
        clientP99: spread(r.map((x) => x.client.p99)),
        edgeServerP50: spread(r.map((x) => x.edgeExit.serverP50)),
        edgeServerP99: spread(r.map((x) => x.edgeExit.serverP99)),
        edgeComputeP50: spread(r.map((x) => x.edgeExit.computeP50)),
        edgeShare:
          r.reduce((a, x) => a + x.edgeExit.count, 0) /
          r.reduce((a, x) => a + x.edgeExit.count + x.notConfident.count, 0),
      };
    }),
  );
  const meta = {
    date: new Date().toISOString(),
    machine: `${cpus().length}-core x86 VM`,
    node: process.version,
    model: m.name,
    secondsPerLevel: args.seconds,
    repeats: args.repeats,
    coldRuns: args.coldRuns,
    startupRuns: args.startupRuns,
    images: images.length,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/edge.json',
    `${JSON.stringify({ meta, bundle, startup: { summary: startupSummary, runs: startup }, cold: { summary: coldSummary, runs: cold }, levels: { summary: levelSummary, runs: levels } }, null, 2)}\n`,
  );
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  const r = (x: Spread, d = 1) => `${f(x.median, d)} (${f(x.min, d)}–${f(x.max, d)})`;
  const md = [
    '# Edge worker (`npm run bench:edge`)',
    '',
    `${meta.date}, ${meta.machine}, Node ${meta.node}, model ${meta.model}, wrangler dev (workerd) on loopback with its local trace collector off, no backend (forwards fail fast and answer degraded). Figures: median (min–max) over the runs named. Absolute times are this machine's; the ratios between variants, levels and stages are what carries over.`,
    '',
    `Bundle: ${(bundle.rawBytes / 2 ** 20).toFixed(2)} MiB raw, ${(bundle.gzipBytes / 2 ** 20).toFixed(2)} MiB gzip (limit 64 MiB raw).`,
    '',
    '## Isolate start-up',
    '',
    `\`wrangler check startup\` on the worker as built for deploy, ${meta.startupRuns} runs per variant; CPU time of the global scope (the profile's samples, idle excluded), split by the onnxruntime-web call each sample sits under (medians per phase). Cloudflare's start-up limit is 1 s.`,
    '',
    `| phase | ${variants.map((v) => v.name).join(' | ')} |`,
    `|---|${variants.map(() => '---:').join('|')}|`,
    ...PHASES.map(
      (k) => `| ${PHASE_NAMES[k]} | ${variants.map((v) => f(startupSummary[v.id].phases[k])).join(' | ')} |`,
    ),
    `| **start-up CPU ms** | ${variants.map((v) => `**${r(startupSummary[v.id].cpuMs)}**`).join(' | ')} |`,
    '',
    '## Cold start',
    '',
    `${meta.coldRuns} fresh \`wrangler dev\` processes per variant, each sent its first ${FIRST} requests one after another (client time through wrangler dev's proxy; the worker's own totalMs for the first). wrangler dev loads the worker before it answers, so the global scope has run by the first request; on Cloudflare a new isolate runs it for its first request, hence the last row: start-up CPU + the first request.`,
    '',
    `| | ${variants.map((v) => v.name).join(' | ')} |`,
    `|---|${variants.map(() => '---:').join('|')}|`,
    `| first request, client ms | ${variants.map((v) => r(coldSummary[v.id].firstClientMs)).join(' | ')} |`,
    `| first request, worker's totalMs | ${variants.map((v) => r(coldSummary[v.id].firstServerMs)).join(' | ')} |`,
    `| first ${FIRST}: client p50 ms | ${variants.map((v) => r(coldSummary[v.id].p50ClientMs)).join(' | ')} |`,
    `| first ${FIRST}: client p99 ms | ${variants.map((v) => r(coldSummary[v.id].p99ClientMs)).join(' | ')} |`,
    `| **start-up CPU + first request, ms** | ${variants.map((v) => `**${f(coldSummary[v.id].startupPlusFirstMs)}**`).join(' | ')} |`,
    '',
    ...cpuSection(),
    '## Warm load',
    '',
    `The shipped worker, autocannon posting ${images.length} test images cycled at the default thresholds, ${meta.secondsPerLevel} s per level, ${meta.repeats} repeats. "shared": the load generator and wrangler dev share both cores; "pinned": the load generator on one core, wrangler dev (its node process and both workerd processes) on the other. Server = the worker's \`timings.edgeMs\` (arrival in the handler to the edge decision), compute = \`computeMs\` (its own inference), for the confident edge answers.`,
    '',
    '| placement | connections | req/s | client p50 ms | client p99 ms | edge server p50 ms | edge server p99 ms | edge compute p50 ms | edge share | errors |',
    '|---|---:|---|---|---|---|---|---|---:|---:|',
    ...levelSummary.map(
      (l) =>
        `| ${l.placement} | ${l.connections} | ${r(l.rps, 0)} | ${r(l.clientP50)} | ${r(l.clientP99)} | ${r(l.edgeServerP50)} | ${r(l.edgeServerP99)} | ${r(l.edgeComputeP50)} | ${(l.edgeShare * 100).toFixed(1)} % | ${l.errors} |`,
    ),
    '',
  ].join('\n');
  writeFileSync('bench/results/edge.md', md);
  console.log(md);
} finally {
  if (worker) await stop(worker.proc);
}
