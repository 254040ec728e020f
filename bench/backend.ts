/**
 * `npm run bench:backend`: the GPU backend on this machine.
 *
 *   0. parity: every segment and exit on each executor vs the cpu executor (max |Δ|, batch 1 and the
 *      largest batch), on features made by running the bundle from a fixed input;
 *   1. executor alone, in-process: samples/s resuming at the edge's default split point, per batch;
 *   2. HTTP service (BACKEND_PROCESSES server processes sharing a port, gpu-backend/src/cluster.ts)
 *      under closed-loop clients spread over several load-generator processes (bench/backend-load.ts),
 *      dynamic batching on vs off: requests/s, p50/p99 latency, mean batch.
 * Every request carries a fresh HMAC signature (the replay guard refuses repeats), as the edge sends.
 * The results name the machine: CPUs, the WebGPU adapter, and `nvidia-smi -L` where there is one.
 *
 * Options: `npm run bench:backend -- --help`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../core/node/bundle.js';
import { createExecutor } from '../gpu-backend/src/executors/create.js';
import { type AdapterInfo, type Executor, graphList } from '../gpu-backend/src/executors/executor.js';
import { cliArgs, text, usageExit } from '../scripts/cli-args.js';
import type { LoadJob, LoadResult } from './backend-load.js';
import { percentile } from './stats.js';

const CORES = availableParallelism();
const HALF_THE_CORES = String(Math.max(1, Math.floor(CORES / 2)));
const args = cliArgs({
  usage: 'npm run bench:backend -- [options]',
  about:
    'The GPU backend on this machine: (0) parity of every segment and exit on each executor with the cpu executor;\n' +
    '(1) each executor alone, in-process: samples/s resuming at the split point, per batch; (2) the HTTP service (server\n' +
    'processes sharing a port) under closed-loop clients in separate load-generator processes, dynamic batching on vs off,\n' +
    'and with inference made free: requests/s, p50/p99 latency, mean batch. Every request is freshly signed, as the edge sends.',
  writes: '<out>/<name>.{json,md}, rewritten after every stage (a run cut short still reports)',
  options: {
    seconds: { arg: 'n', description: 'Seconds of load per HTTP level', default: '8', schema: text.positive() },
    executors: {
      arg: 'list',
      description: 'Executors to measure, comma-separated: webgpu, cuda, cpu',
      default: 'cpu',
      schema: text.someOf(['webgpu', 'cuda', 'cpu']),
    },
    model: { arg: 'dir', description: 'Bundle folder the backend serves', default: 'models/fashion-resnet' },
    segment: {
      arg: 'n',
      description: 'Segment the backend resumes at',
      defaultText: "the edge's default split, the number of exits",
      schema: text.int(0),
    },
    batches: {
      arg: 'list',
      description: 'Batch sizes of the executor-alone stage, comma-separated',
      default: '1,64,256',
      schema: text.ints(1),
    },
    levels: {
      arg: 'list',
      description: 'Concurrent clients per HTTP level, comma-separated',
      default: '1,8,64',
      schema: text.ints(1),
    },
    'max-batch': {
      arg: 'n',
      description: "The service's largest dynamic batch (MAX_BATCH) with batching on",
      default: '64',
      schema: text.int(1, 4096),
    },
    'server-procs': {
      arg: 'n',
      description: 'Server processes sharing the port (BACKEND_PROCESSES); half the cores',
      default: HALF_THE_CORES,
      schema: text.int(1, 256),
    },
    'client-procs': {
      arg: 'n',
      description: 'Load-generator processes the clients are spread over; half the cores',
      default: HALF_THE_CORES,
      schema: text.int(1),
    },
    'shared-executor': {
      arg: '0|1',
      description: "One executor in the cluster's primary for all server processes (1 or true)",
      default: '0',
      schema: text.bool(),
    },
    'free-executor': {
      arg: '0|1',
      description: 'Also measure the service with inference made free, the ceiling of batching',
      default: '1',
      schema: text.bool(),
    },
    'webgpu-build': {
      choices: ['native', 'jsep'],
      description: 'The onnxruntime-web build of the webgpu executor',
      default: 'native',
    },
    http: {
      arg: '0|1',
      description: '0: no HTTP service, only parity and the executor alone',
      default: '1',
      schema: text.bool(),
    },
    out: { arg: 'dir', description: 'Results folder', default: 'bench/results' },
    name: { arg: 'stem', description: 'File stem of the results', default: 'backend' },
  },
});
const SECONDS = args.seconds;
const EXECUTORS = args.executors;
const DIR = args.model;
const BATCHES = args.batches;
const LEVELS = args.levels;
const MAX_BATCH = args['max-batch'];
const SERVER_PROCS = args['server-procs'];
const CLIENT_PROCS = args['client-procs'];
/** One executor in the cluster's primary, fed by every server process (cluster.ts). */
const SHARED = args['shared-executor'];
/** Also run the HTTP service with a free executor (bench/backend-free-server.ts): the ceiling of any batching. */
const FREE = args['free-executor'];
/** The onnxruntime-web build of the webgpu executor (WEBGPU_BUILD): native or jsep. */
const WEBGPU_BUILD = args['webgpu-build'];
/** 0: only parity and the executor alone, no HTTP service. */
const HTTP = args.http;
const OUT = args.out;
const NAME = args.name;
const SECRET = 'bench-backend-secret-0123456789';
const PORT = 8789;
/** Run as TypeScript (tsx) here, or as the esbuild bundles that travel to the GPU machine. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.mjs';
const script = (rel: string) => fileURLToPath(new URL(rel + EXT, import.meta.url));

const bundle = loadBundle(DIR);
const m = bundle.manifest;
/** The edge's default split runs every exit at the edge; the backend resumes at the last segment. */
const RESUME = args.segment ?? m.exits.length;
if (RESUME >= m.segments.length)
  usageExit(`--segment=${RESUME}: expected 0 to ${m.segments.length - 1}, a segment of ${DIR} (see --help)`);
const shape = m.segments[RESUME]!.inputShape;
const per = shape.reduce((a, b) => a * b, 1);
const features = Float32Array.from({ length: per }, (_, i) => Math.abs(Math.sin(i)));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const log = (s: string) => console.error(`[bench] ${s}`);

function nvidiaSmi(): string | undefined {
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

// 0 + 1. Parity and the executor alone.
const cpuRef = EXECUTORS.some((e) => e !== 'cpu')
  ? (await createExecutor(['cpu'], bundle, { cpuThreads: 0, log: () => undefined })).executor
  : undefined;
/** Each graph's input at batch n: the bundle run from a fixed image-like input, on the cpu executor. */
async function graphInputs(ref: Executor, n: number): Promise<Map<string, Float32Array>> {
  const inputs = new Map<string, Float32Array>();
  let cur: Float32Array = Float32Array.from(
    { length: n * m.input.shape.reduce((a, b) => a * b, 1) },
    (_, i) => Math.sin((i + 1) * 0.731) * 1.5,
  );
  for (const s of m.segments) {
    inputs.set(`segment ${s.index}`, cur);
    cur = (await ref.run('segment', s.index, cur, [n, ...s.inputShape]))[s.output]!;
    if (m.exits[s.index]) inputs.set(`exit ${s.index}`, cur);
  }
  return inputs;
}
async function parity(
  ex: Executor,
  ref: Executor,
  n: number,
): Promise<{ batch: number; maxAbsDiff: number; worst: string }> {
  const inputs = await graphInputs(ref, n);
  let worst = '',
    max = 0;
  for (const g of graphList(m)) {
    const x = inputs.get(`${g.kind} ${g.index}`)!;
    const [a, b] = [
      await ex.run(g.kind, g.index, x, [n, ...g.inputShape]),
      await ref.run(g.kind, g.index, x, [n, ...g.inputShape]),
    ];
    for (const k of Object.keys(b)) {
      for (let i = 0; i < b[k]!.length; i++) {
        const d = Math.abs(a[k]![i]! - b[k]![i]!);
        if (!(d <= max)) {
          max = d;
          worst = `${g.kind} ${g.index} ${k}`;
        }
      }
    }
  }
  return { batch: n, maxAbsDiff: max, worst };
}

const executorRows: { executor: string; batch: number; samplesPerSec: number; msPerBatch: number }[] = [];
/** Shared-executor mode: how the primary merged the server processes' runs, per level. */
const sharedRows: { executor: string; mode: string; clients: number; runs: number; calls: number; samples: number }[] =
  [];
const httpRows: {
  executor: string;
  mode: string;
  clients: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  errorCodes: Record<string, number>;
  meanBatch: number;
}[] = [];
const parityRows: { executor: string; batch: number; maxAbsDiff: number; worst: string }[] = [];
const adapters: Record<string, AdapterInfo | undefined> = {};
/** What failed (an executor that would not start, a service that died): reported, not fatal. */
const failures: string[] = [];
const FREE_NAME = 'free executor (no inference)';
/** The executors alone; cpu also as onnxruntime configures it by default (spinning threads), which the service turns off (CPU_SPINNING). */
const variants = EXECUTORS.flatMap((e): { label: string; name: (typeof EXECUTORS)[number]; spinning: boolean }[] =>
  e === 'cpu'
    ? [
        { label: 'cpu', name: e, spinning: false },
        { label: 'cpu (spinning threads)', name: e, spinning: true },
      ]
    : [{ label: e, name: e, spinning: false }],
);
for (const { label, name, spinning } of variants) {
  const t0 = performance.now();
  let executor: Executor;
  try {
    ({ executor } = await createExecutor([name], bundle, {
      cpuThreads: 0,
      cpuSpinning: spinning,
      webgpuBuild: WEBGPU_BUILD,
      log: () => undefined,
    }));
  } catch (e) {
    failures.push(`executor ${label}: ${(e as Error).message}`);
    log(failures.at(-1)!);
    continue;
  }
  log(
    `executor ${label} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s${executor.info ? ` on ${JSON.stringify(executor.info)}` : ''}`,
  );
  adapters[name] = executor.info;
  if (cpuRef && name !== 'cpu' && !spinning) {
    for (const n of [...new Set([1, Math.max(...BATCHES)])]) {
      const p = await parity(executor, cpuRef, n);
      parityRows.push({ executor: name, ...p });
      log(`parity ${name} vs cpu, batch ${n}: max |Δ| ${p.maxAbsDiff.toExponential(2)} (${p.worst})`);
    }
  }
  for (const batch of BATCHES) {
    const x = new Float32Array(batch * per);
    for (let i = 0; i < batch; i++) x.set(features, i * per);
    const times: number[] = [];
    const until = performance.now() + 2000;
    while (performance.now() < until || times.length < 3) {
      const t = performance.now();
      let cur: Float32Array = x;
      for (let s = RESUME; s < m.segments.length; s++) {
        cur = (await executor.run('segment', s, cur, [batch, ...m.segments[s]!.inputShape]))[m.segments[s]!.output]!;
        if (s < m.exits.length) await executor.run('exit', s, cur, [batch, ...m.exits[s]!.inputShape]);
      }
      times.push(performance.now() - t);
    }
    const ms = median(times);
    executorRows.push({ executor: label, batch, samplesPerSec: batch / (ms / 1000), msPerBatch: ms });
    log(
      `executor ${label} batch ${batch}: ${(batch / (ms / 1000)).toFixed(0)} samples/s (${ms.toFixed(2)} ms per batch)`,
    );
  }
  await executor.release();
}
await cpuRef?.release();
report();

// 2. HTTP service.
async function startService(env: Record<string, string>, entry = '../gpu-backend/src/cluster'): Promise<ChildProcess> {
  const p = spawn(process.execPath, [...process.execArgv, script(entry)], {
    env: {
      ...process.env,
      CASCADE_SECRET: SECRET,
      PORT: String(PORT),
      MODEL_DIR: DIR,
      BACKEND_PROCESSES: String(SERVER_PROCS),
      BACKEND_SHARED_EXECUTOR: SHARED ? '1' : '0',
      WEBGPU_BUILD,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errText = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`backend did not start in 300 s: ${errText.slice(-2000)}`)),
      300_000,
    );
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (c: string) => {
      errText += c;
      if (/backend processes ready/.test(c)) {
        clearTimeout(timer);
        resolve(p);
      }
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backend exited (${code}): ${errText.slice(-2000)}`));
    });
  });
}

function loadProcess(job: LoadJob): Promise<LoadResult> {
  const p = spawn(process.execPath, [...process.execArgv, script('./backend-load'), JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout!.setEncoding('utf8');
  p.stdout!.on('data', (c: string) => (out += c));
  return new Promise((resolve, reject) =>
    p.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`)),
    ),
  );
}

async function load(clients: number): Promise<{
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  errorCodes: Record<string, number>;
  meanBatch: number;
}> {
  const procs = Math.min(CLIENT_PROCS, clients);
  const metadata = {
    modelHash: m.backbone.sha256,
    segment: String(RESUME),
    policy: 'confidence',
    thresholds: JSON.stringify(m.exits.slice(RESUME).map((e) => e.defaultThreshold)),
  };
  const rs = await Promise.all(
    Array.from({ length: procs }, (_, i) =>
      loadProcess({
        url: `http://127.0.0.1:${PORT}`,
        clients: Math.floor(clients / procs) + (i < clients % procs ? 1 : 0),
        seconds: SECONDS,
        secret: SECRET,
        shape: [1, ...shape],
        metadata,
        tag: `${clients}-${i}-${Date.now()}`,
      }),
    ),
  );
  const lat = rs.flatMap((r) => r.latencies);
  const errorCodes: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.errorCodes)) errorCodes[k] = (errorCodes[k] ?? 0) + v;
  const batchSum = rs.reduce((a, r) => a + r.batchSum, 0);
  return {
    rps: lat.length / SECONDS,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    errorCodes,
    meanBatch: batchSum / Math.max(1, lat.length),
  };
}

/** The shared executor's counters from the service's /metrics (the primary's sum; absent without a shared executor). */
async function sharedCounters(): Promise<{ runs: number; calls: number; samples: number } | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text();
  const get = (k: string) =>
    Number(new RegExp(`^cascade_shared_executor_${k}_total (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  const c = { runs: get('runs'), calls: get('calls'), samples: get('samples') };
  return Number.isNaN(c.runs) ? undefined : c;
}

/** Starts the service, loads it at every level, stops it; a service that fails to start is reported, not fatal. */
async function measureService(
  executor: string,
  mode: string,
  env: Record<string, string>,
  entry?: string,
): Promise<void> {
  let p: ChildProcess;
  try {
    p = await startService(
      { ...env, MAX_WAIT_MS: '0', MAX_QUEUE: String(Math.max(1024, 4 * Math.max(...LEVELS))) },
      entry,
    );
  } catch (e) {
    failures.push(`HTTP ${executor} ${mode}: ${(e as Error).message}`);
    log(failures.at(-1)!);
    return;
  }
  for (const clients of LEVELS) {
    const before = SHARED ? await sharedCounters() : undefined;
    const r = await load(clients);
    httpRows.push({ executor, mode, clients, ...r });
    log(
      `${executor} ${mode} ${clients} clients: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, mean batch ${r.meanBatch.toFixed(1)}, errors ${r.errors} ${JSON.stringify(r.errorCodes)}`,
    );
    const after = before && (await sharedCounters());
    if (before && after) {
      const d = {
        runs: after.runs - before.runs,
        calls: after.calls - before.calls,
        samples: after.samples - before.samples,
      };
      sharedRows.push({ executor, mode, clients, ...d });
      log(
        `${executor} ${mode} ${clients} clients: the primary ran ${d.runs} runs in ${d.calls} executor calls (${(d.samples / Math.max(1, d.calls)).toFixed(1)} samples per call)`,
      );
    }
  }
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  report();
}

for (const executor of HTTP ? EXECUTORS : []) {
  // CPU executor: share the cores between the server processes (onnxruntime would take all per process);
  // one shared executor gets half of them (the server and load processes use the rest).
  const threads: Record<string, string> =
    executor === 'cpu' ? { CPU_THREADS: String(Math.max(1, Math.floor(CORES / (SHARED ? 2 : SERVER_PROCS)))) } : {};
  await measureService(executor, 'batching on', { ...threads, EXECUTORS: executor, MAX_BATCH: String(MAX_BATCH) });
  await measureService(executor, 'batching off', { ...threads, EXECUTORS: executor, MAX_BATCH: '1' });
}
// The same service and load with inference made free: what batching could reach at most here.
if (FREE && HTTP)
  await measureService(FREE_NAME, 'batching on', { MAX_BATCH: String(MAX_BATCH) }, './backend-free-server');
console.log(report());

/** Writes the results so far (JSON + markdown): a run cut short by its time limit still reports. */
function report(): string {
  const top = Math.max(...LEVELS);
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    nvidiaSmi: nvidiaSmi(),
    adapters,
    model: m.name,
    modelHash: m.backbone.sha256,
    resumeSegment: RESUME,
    secondsPerLevel: SECONDS,
    serverProcesses: SERVER_PROCS,
    sharedExecutor: SHARED,
    webgpuBuild: WEBGPU_BUILD,
    clientProcesses: CLIENT_PROCS,
    maxBatch: MAX_BATCH,
    failures,
  };
  const ratio = (ex: string, c: number) => {
    const on = httpRows.find((r) => r.executor === ex && r.mode === 'batching on' && r.clients === c);
    const off = httpRows.find((r) => r.executor === ex && r.mode === 'batching off' && r.clients === c);
    return on && off ? on.rps / off.rps : NaN;
  };
  /** The most batching could gain: the service with free inference over the service with batching off. */
  const free = httpRows.find((r) => r.executor === FREE_NAME && r.clients === top);
  const ceiling = (ex: string) => {
    const off = httpRows.find((r) => r.executor === ex && r.mode === 'batching off' && r.clients === top);
    return free && off ? free.rps / off.rps : NaN;
  };
  /** The issue's targets for the GPU path (on the H100): executor alone, HTTP at 256 clients, parity. */
  const targets = EXECUTORS.filter((e) => e !== 'cpu').map((e) => {
    const exec = Math.max(0, ...executorRows.filter((r) => r.executor === e).map((r) => r.samplesPerSec));
    const http = httpRows.find((r) => r.executor === e && r.mode === 'batching on' && r.clients === top)?.rps ?? NaN;
    const diff = Math.max(0, ...parityRows.filter((r) => r.executor === e).map((r) => r.maxAbsDiff));
    return {
      executor: e,
      executorSamplesPerSec: exec,
      executorOk: exec >= 50_000,
      httpClients: top,
      httpRps: http,
      httpOk: top >= 256 && http >= 15_000,
      maxAbsDiff: diff,
      parityOk: diff <= 1e-4,
    };
  });
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    `${OUT}/${NAME}.json`,
    `${JSON.stringify(
      {
        ...meta,
        targets,
        parityRows,
        executorRows,
        httpRows,
        sharedRows,
        batchingSpeedupAtTop: Object.fromEntries(EXECUTORS.map((e) => [e, ratio(e, top)])),
        batchingCeilingAtTop: Object.fromEntries(EXECUTORS.map((e) => [e, ceiling(e)])),
      },
      null,
      2,
    )}\n`,
  );
  const f = (x: number, d = 1) => x.toFixed(d);
  const adapterLine = (e: string) => {
    const a = adapters[e];
    return a
      ? `${e}: ${a.vendor} / ${a.architecture} / ${a.device}${a.isFallbackAdapter ? ' (software fallback adapter)' : ''}${a.description ? ` — ${a.description}` : ''}${a.build ? `; onnxruntime-web ${a.build} build` : ''}`
      : undefined;
  };
  const md = [
    `# GPU backend (\`npm run bench:${NAME.replaceAll('-', ':')}\`)`,
    '',
    `${meta.date}, Node ${meta.node}, ${meta.cpus}, model ${m.name}, resuming at segment ${RESUME}${RESUME === m.exits.length ? " (the edge's default split)" : ''}, ${SECONDS} s per level; ` +
      `${SERVER_PROCS} server${SHARED ? ' (sharing one executor in the cluster primary)' : ''} and ${CLIENT_PROCS} load-generator processes on the same machine.`,
    '',
    ...(meta.nvidiaSmi ? ['```', meta.nvidiaSmi, '```', ''] : []),
    ...EXECUTORS.map(adapterLine)
      .filter((x): x is string => !!x)
      .map((x) => `- adapter ${x}`),
    ...failures.map((x) => `- FAILED: ${x}`),
    '',
    ...(targets.length
      ? [
          '## Targets (H100: executor ≥ 50,000 samples/s, HTTP ≥ 15,000 req/s at 256 clients, max |Δ| ≤ 1e-4)',
          '',
          '| executor | best executor samples/s | HTTP req/s (clients) | max \\|Δ\\| vs cpu |',
          '|---|---|---|---|',
          ...targets.map(
            (t) =>
              `| ${t.executor} | ${f(t.executorSamplesPerSec, 0)} ${t.executorOk ? '✔' : '✘'} | ${f(t.httpRps, 0)} (${t.httpClients}) ${t.httpOk ? '✔' : '✘'} | ${t.maxAbsDiff.toExponential(2)} ${t.parityOk ? '✔' : '✘'} |`,
          ),
          '',
        ]
      : []),
    ...(parityRows.length
      ? [
          '## Parity with the cpu executor (every segment and exit)',
          '',
          '| executor | batch | max \\|Δ\\| | worst output |',
          '|---|---|---|---|',
          ...parityRows.map((r) => `| ${r.executor} | ${r.batch} | ${r.maxAbsDiff.toExponential(2)} | ${r.worst} |`),
          '',
        ]
      : []),
    '## Executor alone (in-process)',
    '',
    '| executor | batch | samples/s | ms per batch |',
    '|---|---|---|---|',
    ...executorRows.map((r) => `| ${r.executor} | ${r.batch} | ${f(r.samplesPerSec, 0)} | ${f(r.msPerBatch, 2)} |`),
    '',
    ...(HTTP ? [] : ['(No HTTP service in this run: `--http=0`.)', '']),
    ...(!HTTP
      ? []
      : [
          '## HTTP service',
          '',
          '| executor | batching | clients | req/s | p50 ms | p99 ms | mean batch | errors |',
          '|---|---|---|---|---|---|---|---|',
        ]),
    ...httpRows.map(
      (r) =>
        `| ${r.executor} | ${r.mode} | ${r.clients} | ${f(r.rps, 0)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.meanBatch)} | ${r.errors} |`,
    ),
    '',
    ...(SHARED
      ? [
          '"mean batch" counts the samples of the executor call that ran each request: the primary merges the server processes\' batches.',
          '',
        ]
      : []),
    ...(sharedRows.length
      ? [
          "### The shared executor's calls",
          '',
          '| executor | batching | clients | runs sent by the server processes | executor calls | samples per call |',
          '|---|---|---|---|---|---|',
          ...sharedRows.map(
            (r) =>
              `| ${r.executor} | ${r.mode} | ${r.clients} | ${r.runs} | ${r.calls} | ${f(r.samples / Math.max(1, r.calls))} |`,
          ),
          '',
        ]
      : []),
    ...(!HTTP ? [] : EXECUTORS.map((e) => `Batching speed-up at ${top} clients (${e}): ${f(ratio(e, top), 2)}×.`)),
    ...(free
      ? [
          '',
          `With inference free (${FREE_NAME}: the same service, zeros for outputs) it answers ${f(free.rps, 0)} req/s at ${top} clients: ` +
            EXECUTORS.map((e) => `${f(ceiling(e), 2)}× the ${e} service with batching off`).join(', ') +
            ', the most any batching can gain on this machine.',
        ]
      : []),
    '',
  ].join('\n');
  writeFileSync(`${OUT}/${NAME}.md`, md);
  return md;
}
