/**
 * `npm run bench:metrics`: what the decision metrics (workers/edge/src/metrics/: aggregated in the
 * isolate, flushed to D1 in batches under waitUntil) cost a classify request, and that they never
 * change its answer. Two arms, the same worker in two `wrangler dev` processes on loopback (workerd,
 * local KV and D1, each in a fresh temporary state dir with the D1 migrations applied), differing only
 * in `METRICS_ENABLED` (true on :8810, false on :8811); both forward to one real GPU backend started in
 * this process (CPU executor, models/fashion-resnet), so edge exits and backend answers both occur.
 * Requests are real Fashion-MNIST test images (raw 28×28 u8) with `x-cascade-region: colo:BEN`.
 *
 *   - answers: the same --n test images, sequentially, to each arm; every answer's class, classIndex,
 *     exit, where, confidence (exactly) and degraded compared between the arms;
 *   - sequential latency: those requests' client latency (one connection), sent in blocks of --block
 *     alternating between the arms (ABBA: which arm goes first alternates) so drift hits both;
 *     p50/p95/p99 per arm, the p50 ratio on/off, and the spread of that ratio over the block pairs
 *     (each pair: the same images to both arms, so the images' own latency mix cancels);
 *   - load: autocannon at --connections for --seconds per round, --rounds rounds per arm, the arms
 *     alternating (ABBA), after one unmeasured 2 s warm-up round per arm; each round drains (no request
 *     is cut off in flight) so every answer is counted; median req/s, p50 and p99 per arm across
 *     rounds, ratios on/off, round-to-round spread;
 *   - counts: after the load, waits for the flush (both arms get METRICS_FLUSH_SECONDS=--flushSeconds)
 *     and reads `GET /v1/metrics` on each arm: the on-arm's totals.requests (and its edge / forwarded /
 *     degraded / errors split) must equal the classify answers counted here, the off-arm's must be 0.
 *
 * Exits 1 when an answer differs between the arms or a count does not match; latency is reported, not
 * judged. Writes bench/results/metrics.{json,md}; options: `npm run bench:metrics -- --help`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { setLogLevel } from '../core/log.js';
import { type RunningBackend, startBackend } from '../gpu-backend/src/start-backend.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { applyLocalMigrations, WRANGLER_ENV } from '../scripts/d1-migrations.js';
import { node22 } from '../scripts/node22.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import { percentile } from './stats.js';

const args = cliArgs({
  usage: 'npm run bench:metrics -- [options]',
  about:
    'Decision metrics on vs off: the same edge worker in two `wrangler dev` processes (METRICS_ENABLED true on :8810,\n' +
    'false on :8811), both forwarding to one real GPU backend (CPU executor) started in process. Checks that the same\n' +
    'Fashion-MNIST test images get identical answers from both (class, exit, where, confidence, degraded), measures\n' +
    'sequential client latency (alternating blocks) and autocannon load (alternating rounds), and checks that the\n' +
    "on-arm's GET /v1/metrics counts exactly the classify answers it gave and the off-arm's counts none. Exits 1 if\n" +
    'an answer differs or a count does not match.',
  writes: 'bench/results/metrics.{json,md}',
  options: {
    n: {
      arg: 'n',
      description: 'Test images sent sequentially to each arm',
      default: '500',
      schema: text.int(1, 10000),
    },
    block: {
      arg: 'n',
      description: 'Sequential requests per block (the arms alternate by block)',
      default: '50',
      schema: text.int(1),
    },
    seconds: { arg: 'n', description: 'Seconds of autocannon load per round', default: '8', schema: text.positive() },
    rounds: { arg: 'n', description: 'Load rounds per arm (the arms alternate)', default: '3', schema: text.int(1) },
    connections: { arg: 'n', description: 'autocannon connections', default: '10', schema: text.int(1) },
    flushSeconds: {
      arg: 'n',
      description: 'METRICS_FLUSH_SECONDS for both arms (the default of the worker is 10)',
      default: '2',
      schema: text.int(1, 25),
    },
  },
});

const SECRET = 'bench-metrics-secret-0123456789';
const ADMIN = 'bench-metrics-admin-token';
const REGION = 'colo:BEN';
const WARMUP = 20;
/** Seconds of the unmeasured load round per arm before the measured ones. */
const LOAD_WARMUP_S = 2;

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}
/** (max - min) / median: how far a statistic moved between this run's own rounds (or blocks). */
const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / median(xs);

/** The fields of a classify answer that metrics must not change (the rest, timings and ids, differ per request). */
interface Answer {
  label: string;
  classIndex: number;
  exit: number;
  where: 'edge' | 'backend';
  confidence: number;
  degraded: boolean;
  reason?: string;
  timings: { edgeMs: number; computeMs: number; backendMs?: number; totalMs: number };
}
const COMPARED = ['label', 'classIndex', 'exit', 'where', 'confidence', 'degraded'] as const;

/** How the worker's metrics classify an answer (routes/classify.ts): a degraded answer is one whose forward failed. */
type Outcome = 'edge' | 'forwarded' | 'degraded' | 'errors';
const outcomeOf = (status: number, a: Answer | undefined): Outcome =>
  status < 200 || status >= 300 || !a
    ? 'errors'
    : a.where === 'backend'
      ? 'forwarded'
      : a.timings.backendMs !== undefined
        ? 'degraded'
        : 'edge';

interface Arm {
  name: 'on' | 'off';
  enabled: boolean;
  port: number;
  url: string;
  dir: string;
  proc?: ChildProcess;
  log: string;
  /** Epoch ms before this arm's first classify: the start of its GET /v1/metrics range. */
  since: number;
  /** Classify answers this arm gave, by outcome (non-2xx under errors). */
  answered: Record<Outcome, number>;
}

function makeArm(name: Arm['name'], enabled: boolean, port: number): Arm {
  return {
    name,
    enabled,
    port,
    url: `http://127.0.0.1:${port}`,
    dir: mkdtempSync(join(tmpdir(), `bench-metrics-${name}-`)),
    log: '',
    since: 0,
    answered: { edge: 0, forwarded: 0, degraded: 0, errors: 0 },
  };
}
const total = (a: Arm) => a.answered.edge + a.answered.forwarded + a.answered.degraded + a.answered.errors;

async function startWorker(arm: Arm, backendUrl: string): Promise<void> {
  const migrate = applyLocalMigrations(['--persist-to', arm.dir], 'pipe');
  if (migrate.status !== 0) throw new Error(`wrangler d1 migrations apply failed: ${migrate.stderr}`);
  const t0 = performance.now();
  const proc = spawn(
    node22(),
    [
      'node_modules/wrangler/bin/wrangler.js',
      'dev',
      '--env',
      'dev',
      '--port',
      String(arm.port),
      '--ip',
      '127.0.0.1',
      '--var',
      `CASCADE_SECRET:${SECRET}`,
      '--var',
      `ADMIN_TOKEN:${ADMIN}`,
      '--var',
      `BACKEND_URL:${backendUrl}`,
      '--var',
      'BACKEND_TIMEOUT_MS:5000',
      '--var',
      `METRICS_ENABLED:${arm.enabled}`,
      '--var',
      `METRICS_FLUSH_SECONDS:${args.flushSeconds}`,
      '--persist-to',
      arm.dir,
    ],
    { env: WRANGLER_ENV, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  arm.proc = proc;
  // wrangler logs a line per request: an unread pipe fills up and stalls the worker, so keep draining
  // (the tail is printed if start-up fails).
  const keep = (d: Buffer) => {
    arm.log = (arm.log + d.toString()).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  for (;;) {
    try {
      if ((await fetch(`${arm.url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error(`wrangler dev (${arm.name}) exited ${proc.exitCode}:\n${arm.log}`);
    if (performance.now() - t0 > 90_000)
      throw new Error(`wrangler dev (${arm.name}) did not start within 90 s:\n${arm.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopWorker(arm: Arm): Promise<void> {
  const p = arm.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

const HEADERS = { 'content-type': 'application/octet-stream', 'x-cascade-region': REGION };

/** One classify request on its own (sequential), counted in the arm's answers. */
async function classify(arm: Arm, body: Uint8Array): Promise<{ status: number; answer?: Answer; ms: number }> {
  const t = performance.now();
  const res = await fetch(`${arm.url}/v1/classify`, {
    method: 'POST',
    body: body as unknown as BodyInit,
    headers: HEADERS,
  });
  const raw = await res.text();
  const ms = performance.now() - t;
  const answer = res.ok ? (JSON.parse(raw) as Answer) : undefined;
  arm.answered[outcomeOf(res.status, answer)]++;
  if (!res.ok) console.error(`${arm.name}: classify answered ${res.status}: ${raw.slice(0, 300)}`);
  return { status: res.status, answer, ms };
}

interface Round {
  round: number;
  arm: Arm['name'];
  /** 2xx answers counted here (onResponse), and autocannon's own 2xx count. */
  ok: number;
  autocannon2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Requests autocannon sent minus responses it read: 0 when the round drained. */
  unanswered: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
}

/**
 * One autocannon round: `connections` connections for `seconds`, then a drain: past the deadline each
 * connection sends nothing more after its next response (autocannon's own stop would destroy the
 * connections with requests in flight, which the worker may still answer and count, unseen here).
 */
async function load(arm: Arm, images: Uint8Array[], round: number, seconds = args.seconds): Promise<Round> {
  let k = (round + 1) * 997;
  let ok = 0;
  let last = 0;
  const counts: Record<Outcome, number> = { edge: 0, forwarded: 0, degraded: 0, errors: 0 };
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${arm.url}/v1/classify`,
        connections: args.connections,
        // A backstop only: the drain below ends the round.
        duration: seconds + 60,
        requests: [
          {
            method: 'POST',
            headers: HEADERS,
            setupRequest: (req: Record<string, unknown>) => ({
              ...req,
              body: Buffer.from(images[k++ % images.length]!),
            }),
            onResponse: (status: number, body: string) => {
              const a = status >= 200 && status < 300 ? (JSON.parse(body) as Answer) : undefined;
              counts[outcomeOf(status, a)]++;
              if (a) ok++;
              last = performance.now();
            },
          },
        ],
      } as never,
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    inst.on('response', (client) => {
      const c = client as unknown as { reqsMade: number; responseMax?: number };
      if (performance.now() >= deadline) c.responseMax = c.reqsMade;
    });
  });
  for (const o of Object.keys(counts) as Outcome[]) arm.answered[o] += counts[o];
  const elapsed = (last - t0) / 1000;
  return {
    round,
    arm: arm.name,
    ok,
    autocannon2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    unanswered: result.requests.sent - (result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx']),
    seconds: elapsed,
    rps: ok / elapsed,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

interface MetricsTotals {
  requests: number;
  edge: number;
  forwarded: number;
  degraded: number;
  errors: number;
}
async function readTotals(arm: Arm): Promise<MetricsTotals> {
  const res = await fetch(`${arm.url}/v1/metrics?from=${arm.since}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (!res.ok) throw new Error(`GET /v1/metrics (${arm.name}) answered ${res.status}: ${await res.text()}`);
  const { totals: t } = (await res.json()) as { totals: MetricsTotals };
  return { requests: t.requests, edge: t.edge, forwarded: t.forwarded, degraded: t.degraded, errors: t.errors };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- setup -------------------------------------------------------------------------------------------

const N = args.n;
const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: Math.ceil(N / 10) } });
const images = Array.from({ length: Math.min(N, ds.test.count) }, (_, i) =>
  ds.test.images.slice(i * 784, (i + 1) * 784),
);

setLogLevel('warn');
const on = makeArm('on', true, 8810);
const off = makeArm('off', false, 8811);
const arms = [on, off];
let backend: RunningBackend | undefined;
let failed = false;

const sequential = { on: [] as number[], off: [] as number[] };
const answers = { on: [] as (Answer | undefined)[], off: [] as (Answer | undefined)[] };
const rounds: Round[] = [];
const loadWarmup: Round[] = [];
const counts: { arm: Arm['name']; enabled: boolean; answered: Record<Outcome, number>; totals: MetricsTotals }[] = [];
let flushWaitS = 0;
let firstAnswer: unknown;

try {
  backend = await startBackend(
    { CASCADE_SECRET: SECRET, PORT: '0', MODEL_DIR: 'models/fashion-resnet', EXECUTORS: 'cpu', LOG_LEVEL: 'warn' },
    () => undefined,
  );
  // One after the other: each picks its own free inspector port.
  for (const arm of arms) {
    await startWorker(arm, backend.url);
    console.error(`${arm.name}: wrangler dev up on ${arm.url} (METRICS_ENABLED=${arm.enabled})`);
  }
  for (const arm of arms) arm.since = Date.now();

  // Warm-up (counted like every other classify answer): the isolates' first requests, the backend's first batches.
  for (let i = 0; i < WARMUP; i++)
    for (const arm of arms) {
      const r = await classify(arm, images[i % images.length]!);
      firstAnswer ??= r.answer;
    }
  console.error('an answer:', JSON.stringify(firstAnswer));

  // 1 + 2. The same images to both arms, sequentially, in alternating blocks (ABBA).
  for (let b = 0, start = 0; start < images.length; b++, start += args.block) {
    for (const arm of b % 2 ? [off, on] : [on, off])
      for (let i = start; i < Math.min(start + args.block, images.length); i++) {
        const r = await classify(arm, images[i]!);
        answers[arm.name][i] = r.answer;
        sequential[arm.name][i] = r.ms;
      }
  }
  console.error(
    `sequential: p50 on ${median(sequential.on).toFixed(2)} ms, off ${median(sequential.off).toFixed(2)} ms`,
  );

  // 3. Load rounds, the arms alternating (ABBA), after one unmeasured (but counted) warm-up round per
  // arm: the first concurrent requests of an isolate are slower, and would weigh on whichever arm goes first.
  for (const arm of arms) {
    const w = await load(arm, images, -1, LOAD_WARMUP_S);
    loadWarmup.push(w);
    console.error('warm-up', JSON.stringify(w));
  }
  for (let r = 0; r < args.rounds; r++)
    for (const arm of r % 2 ? [off, on] : [on, off]) {
      const row = await load(arm, images, r);
      console.error(JSON.stringify(row));
      rounds.push(row);
    }

  // 4. The on-arm's counts once flushed (polled until they reach the answers counted here, then read
  // again a flush period later, to see that they stay there); the off-arm's after the same wait.
  const tWait = performance.now();
  const limitMs = (3 * args.flushSeconds + 30) * 1000;
  while ((await readTotals(on)).requests < total(on) && performance.now() - tWait < limitMs) await sleep(500);
  await sleep((2 * args.flushSeconds + 1) * 1000);
  flushWaitS = (performance.now() - tWait) / 1000;
  for (const arm of arms)
    counts.push({ arm: arm.name, enabled: arm.enabled, answered: { ...arm.answered }, totals: await readTotals(arm) });
  console.error('counts', JSON.stringify(counts));
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  for (const arm of arms) {
    await stopWorker(arm);
    rmSync(arm.dir, { recursive: true, force: true });
  }
  await backend?.stop();
}
if (failed) process.exit(1);

// --- results -----------------------------------------------------------------------------------------

const identical = images.filter((_, i) => {
  const a = answers.on[i];
  const b = answers.off[i];
  return a !== undefined && b !== undefined && COMPARED.every((k) => a[k] === b[k]);
}).length;
const differing = images
  .map((_, i) => ({ image: i, on: answers.on[i], off: answers.off[i] }))
  .filter(({ on: a, off: b }) => !(a && b && COMPARED.every((k) => a[k] === b[k])))
  .slice(0, 20)
  .map(({ image, on: a, off: b }) => ({
    image,
    on: a && Object.fromEntries(COMPARED.map((k) => [k, a[k]])),
    off: b && Object.fromEntries(COMPARED.map((k) => [k, b[k]])),
  }));
const answerMix = (xs: (Answer | undefined)[]) => ({
  edge: xs.filter((a) => a && outcomeOf(200, a) === 'edge').length,
  forwarded: xs.filter((a) => a && outcomeOf(200, a) === 'forwarded').length,
  degraded: xs.filter((a) => a && outcomeOf(200, a) === 'degraded').length,
  failed: xs.filter((a) => !a).length,
});

const blockP50 = (xs: number[]) => {
  const out: number[] = [];
  for (let s = 0; s < xs.length; s += args.block) out.push(median(xs.slice(s, s + args.block)));
  return out;
};
const seqArm = (xs: number[]) => ({
  requests: xs.length,
  p50: percentile(xs, 50),
  p95: percentile(xs, 95),
  p99: percentile(xs, 99),
  mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  blockP50: blockP50(xs),
  blockSpread: spread(blockP50(xs)),
});
const seq = { on: seqArm(sequential.on), off: seqArm(sequential.off) };
const seqRatio = seq.on.p50 / seq.off.p50;
/** The on/off p50 ratio of each block pair (the two arms' blocks of the same images, one after the other). */
const blockRatios = seq.on.blockP50.map((x, i) => x / seq.off.blockP50[i]!);
// The sequential noise is the pairs' spread, not an arm's block-to-block one: blocks hold different
// images (more or fewer forwards), a pair the same images in both arms.
const seqNoise = spread(blockRatios);

const loadArm = (name: Arm['name']) => {
  const rs = rounds.filter((r) => r.arm === name);
  return {
    rounds: rs.length,
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    rpsSpread: spread(rs.map((r) => r.rps)),
    p50Spread: spread(rs.map((r) => r.p50)),
  };
};
const loadSummary = { on: loadArm('on'), off: loadArm('off') };
const loadRatio = {
  rps: loadSummary.on.rps / loadSummary.off.rps,
  p50: loadSummary.on.p50 / loadSummary.off.p50,
  p99: loadSummary.on.p99 / loadSummary.off.p99,
};
/** The on/off ratios of each round pair (the two arms' rounds of the same index, one after the other). */
const roundRatios = Array.from({ length: args.rounds }, (_, r) => {
  const [a, b] = [
    rounds.find((x) => x.round === r && x.arm === 'on'),
    rounds.find((x) => x.round === r && x.arm === 'off'),
  ];
  return { round: r, rps: a && b ? a.rps / b.rps : NaN, p50: a && b ? a.p50 / b.p50 : NaN };
});
const loadNoise = {
  rps: Math.max(loadSummary.on.rpsSpread, loadSummary.off.rpsSpread),
  p50: Math.max(loadSummary.on.p50Spread, loadSummary.off.p50Spread),
};

const KEYS: (keyof MetricsTotals & Outcome)[] = ['edge', 'forwarded', 'degraded', 'errors'];
const countChecks = counts.map((c) => {
  const answered = KEYS.reduce((a, k) => a + c.answered[k], 0);
  const match = c.enabled
    ? c.totals.requests === answered && KEYS.every((k) => c.totals[k] === c.answered[k])
    : c.totals.requests === 0;
  return { ...c, answeredTotal: answered, expected: c.enabled ? answered : 0, match };
});
const drained = [...loadWarmup, ...rounds].every((r) => r.unanswered === 0 && r.ok === r.autocannon2xx);
const answersOk = identical === images.length;
const countsOk = countChecks.length === 2 && countChecks.every((c) => c.match);

const within = {
  sequentialP50: Math.abs(seqRatio - 1) <= seqNoise,
  loadP50: Math.abs(loadRatio.p50 - 1) <= loadNoise.p50,
  loadRps: Math.abs(loadRatio.rps - 1) <= loadNoise.rps,
};
const hypervisor = (() => {
  try {
    return /\bhypervisor\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();
const arch = process.arch === 'x64' || process.arch === 'ia32' ? 'x86' : process.arch;
const meta = {
  date: new Date().toISOString(),
  hardware: `${cpus().length}-core ${arch} ${hypervisor ? 'VM' : 'machine'}`,
  command: ['npm run bench:metrics', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  options: args,
  region: REGION,
  warmupPerArm: WARMUP,
  loadWarmupSeconds: LOAD_WARMUP_S,
  flushWaitSeconds: flushWaitS,
};

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const range = (xs: number[]) => `${f(Math.min(...xs), 3)}–${f(Math.max(...xs), 3)}`;
const pc = (x: number) => `${Number.isFinite(x) ? (100 * x).toFixed(1) : '—'} %`;
const verdicts = [
  `sequential p50 ratio ${f(seqRatio, 3)} (block-pair spread ${pc(seqNoise)})`,
  `load p50 ratio ${f(loadRatio.p50, 3)} (round-to-round spread ${pc(loadNoise.p50)})`,
  `load req/s ratio ${f(loadRatio.rps, 3)} (round-to-round spread ${pc(loadNoise.rps)})`,
];
const outside = verdicts.filter((_, i) => !Object.values(within)[i]);
// A consistent sign across the pairs is evidence the spread criterion cannot see: say so when every
// pair (at least 3) put the on-arm on the slow side.
const allSlower = [
  { what: 'sequential p50 per block pair', xs: blockRatios, slower: (x: number) => x > 1 },
  { what: 'load p50 per round pair', xs: roundRatios.map((r) => r.p50), slower: (x: number) => x > 1 },
  { what: 'load req/s per round pair', xs: roundRatios.map((r) => r.rps), slower: (x: number) => x < 1 },
].filter((c) => c.xs.length >= 3 && c.xs.every(c.slower));
const caveat = allSlower.length
  ? `, though every pair had the on-arm slower (${allSlower.map((c) => `${c.what} ${range(c.xs)}`).join('; ')}), so a small cost is not ruled out by this run`
  : '';
const conclusion =
  `${answersOk ? `Metrics on changed none of the ${images.length} answers` : `Metrics on changed ${images.length - identical} of ${images.length} answers`}` +
  `${countsOk ? ' and counted every decision exactly' : ', and the counts did not match'}; on/off: ${verdicts.join(', ')}: ` +
  (outside.length === 0
    ? `every ratio's distance from 1 is within the run's own spread, i.e. no latency beyond noise${caveat}.`
    : `${outside.length} of 3 ratios are farther from 1 than the run's own spread (${outside.map((v) => v.split(' (')[0]).join('; ')})${caveat}.`);

mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/metrics.json',
  `${JSON.stringify(
    {
      ...meta,
      pass: answersOk && countsOk,
      answers: {
        images: images.length,
        compared: COMPARED,
        identical,
        differing: images.length - identical,
        examples: differing,
        mix: { on: answerMix(answers.on), off: answerMix(answers.off) },
      },
      sequential: { ...seq, p50Ratio: seqRatio, blockRatios, noise: seqNoise, withinNoise: within.sequentialP50 },
      load: {
        connections: args.connections,
        seconds: args.seconds,
        warmup: loadWarmup,
        rounds,
        drained,
        median: loadSummary,
        ratio: loadRatio,
        roundRatios,
        noise: loadNoise,
        withinNoise: { p50: within.loadP50, rps: within.loadRps },
      },
      counts: countChecks,
      conclusion,
    },
    null,
    2,
  )}\n`,
);

const mixText = (m: ReturnType<typeof answerMix>) =>
  `${m.edge} / ${m.forwarded} / ${m.degraded}${m.failed ? ` (${m.failed} failed)` : ''}`;
const md = [
  '# Decision metrics on vs off (`npm run bench:metrics`)',
  '',
  `${meta.date}, ${meta.hardware}, \`${meta.command}\`.`,
  '',
  `Two \`wrangler dev --env dev\` processes of the same worker on loopback (workerd, local KV and D1, fresh state each), differing only in \`METRICS_ENABLED\` (on: true, :8810; off: false, :8811); both with \`METRICS_FLUSH_SECONDS=${args.flushSeconds}\` (default 10, shortened so the counts can be read sooner) and one real GPU backend in process (CPU executor, models/fashion-resnet). Real Fashion-MNIST test images (raw u8), region ${REGION} (default thresholds), ${WARMUP} warm-up requests per arm first.`,
  '',
  '## Answers',
  '',
  `The same ${images.length} images, sequentially, to each arm; compared: ${COMPARED.join(', ')} (confidence exactly).`,
  '',
  '| images | identical | differing | on: edge / forwarded / degraded | off: edge / forwarded / degraded |',
  '|---|---|---|---|---|',
  `| ${images.length} | ${identical} | ${images.length - identical} | ${mixText(answerMix(answers.on))} | ${mixText(answerMix(answers.off))} |`,
  '',
  '## Sequential latency (1 connection)',
  '',
  `Client latency of those requests, blocks of ${args.block} alternating between the arms (ABBA); spread = (max − min) / median, here of the arm's per-block p50 (blocks hold different images, so it includes their own latency mix).`,
  '',
  '| arm | requests | p50 ms | p95 ms | p99 ms | mean ms | block-to-block spread of p50 |',
  '|---|---|---|---|---|---|---|',
  ...(['on', 'off'] as const).map(
    (a) =>
      `| ${a} | ${seq[a].requests} | ${f(seq[a].p50)} | ${f(seq[a].p95)} | ${f(seq[a].p99)} | ${f(seq[a].mean)} | ${pc(seq[a].blockSpread)} |`,
  ),
  '',
  `p50 ratio on/off: **${f(seqRatio, 3)}**; per block pair (the same ${args.block} images to each arm, one after the other): ${range(blockRatios)}, spread ${pc(seqNoise)}.`,
  '',
  `## Load (autocannon, ${args.connections} connections, ${args.seconds} s per round)`,
  '',
  `${args.rounds} rounds per arm, alternating (ABBA), after one unmeasured ${LOAD_WARMUP_S} s warm-up round per arm (its answers counted below); each round drains at its end (no request cut off in flight), req/s = 2xx answers / time to the last one.`,
  '',
  '| round | arm | 2xx | non-2xx | errors | req/s | p50 ms | p99 ms |',
  '|---|---|---|---|---|---|---|---|',
  ...rounds.map(
    (r) =>
      `| ${r.round + 1} | ${r.arm} | ${r.ok} | ${r.non2xx} | ${r.errors} | ${f(r.rps, 1)} | ${f(r.p50)} | ${f(r.p99)} |`,
  ),
  '',
  '| arm | median req/s | median p50 ms | median p99 ms | round-to-round spread req/s | round-to-round spread p50 |',
  '|---|---|---|---|---|---|',
  ...(['on', 'off'] as const).map(
    (a) =>
      `| ${a} | ${f(loadSummary[a].rps, 1)} | ${f(loadSummary[a].p50)} | ${f(loadSummary[a].p99)} | ${pc(loadSummary[a].rpsSpread)} | ${pc(loadSummary[a].p50Spread)} |`,
  ),
  `| on/off | ${f(loadRatio.rps, 3)} | ${f(loadRatio.p50, 3)} | ${f(loadRatio.p99, 3)} | | |`,
  '',
  `Per round pair (the two arms' rounds of the same number, one after the other), on/off: req/s ${range(roundRatios.map((r) => r.rps))}, p50 ${range(roundRatios.map((r) => r.p50))}.`,
  '',
  '## Counts (`GET /v1/metrics`)',
  '',
  `Read ${f(flushWaitS, 1)} s after the load (after the on-arm's counts reached the answers, one more wait of 2 × flush + 1 s to see them stay). Answered = classify answers counted here (warm-up, sequential, and autocannon's 2xx incl. its warm-up rounds), by outcome.`,
  '',
  '| arm | METRICS_ENABLED | answered | expected totals.requests | totals.requests | answered edge / forwarded / degraded / errors | totals edge / forwarded / degraded / errors | match |',
  '|---|---|---|---|---|---|---|---|',
  ...countChecks.map(
    (c) =>
      `| ${c.arm} | ${c.enabled} | ${c.answeredTotal} | ${c.expected} | ${c.totals.requests} | ${KEYS.map((k) => c.answered[k]).join(' / ')} | ${KEYS.map((k) => c.totals[k]).join(' / ')} | ${c.match ? 'yes' : '**no**'} |`,
  ),
  '',
  '## Conclusion',
  '',
  conclusion,
  '',
].join('\n');
writeFileSync('bench/results/metrics.md', md);
console.log(md);
if (!drained) console.error('warning: a load round ended with requests unanswered or autocannon 2xx ≠ counted 2xx');
if (!answersOk) console.error(`FAIL: ${images.length - identical} answers differ between the arms`);
if (!countsOk) console.error('FAIL: the decision counts do not match the answers');
process.exit(answersOk && countsOk ? 0 : 1);
