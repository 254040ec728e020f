/**
 * `npm run bench:byom`: "bring your own model", measured end to end. For each backbone ONNX file,
 * exactly what a user does, with attach's default options:
 *
 *   1. `npm run train -- attach --backbone=<file> --out=<models-dir>/<stem>` under GNU time
 *      (`/usr/bin/time -v`: wall seconds and peak RSS, the largest process of the tree); its output
 *      streams to the console and to bench/results/byom-<stem>.log, the record of the run;
 *   2. `npm run train -- evaluate --bundle=<models-dir>/<stem>` (re-measures the bundle from its
 *      files; must exit 0; its table is appended to the log);
 *   3. serves the bundle (`tsx scripts/start.ts` with MODEL=<bundle> on free PORT/BACKEND_PORT),
 *      waits for the edge's /readyz (model loaded, backend up), POSTs up to `--images` images of the
 *      bundle's evaluation split (manifest `provenance.calibration.evaluate`: the odd-numbered test
 *      images of each class for mode 'test-half', the test split for 'val'; rebuilt with
 *      training/attach-plan.ts `calibrationPlan`), evenly spread over it, as raw u8, one at a time,
 *      and records accuracy, the share answered at the edge and at the backend, degraded answers
 *      and p50 latency; then stops the cascade with SIGINT and waits for every process to exit;
 *   4. collects from the manifest: backbone MACs, params and accuracy on the calibration and
 *      evaluation images, the default policy with its cost, accuracy, drop, fidelity and exit rates
 *      on the evaluation images (`policies.atDefault` vs `final.accuracy.test`), the oracle's cost,
 *      exits kept / candidates, the feature cache; and checks the targets (PASS/MISS): default cost
 *      ≤ 40 % of the backbone's MACs at ≤ 0.5 pp drop on the evaluation images, no default costing
 *      more than the backbone alone, peak RSS ≤ 24 GB.
 *
 * A model whose attach, evaluate or serving fails is recorded as such and the bench goes on to the
 * next; the exit code is then 1. Bundles are left in place. Options: `npm run bench:byom -- --help`.
 *
 * @example
 * npm run bench:byom                                   # every bench/byom/models/*.onnx → bench/results/byom.{json,md}
 * npx tsx bench/byom.ts --models=.cache/byom-smoke/backbone.onnx --attach-args="--config=smoke" \
 *   --out-dir=.cache/byom-trial --models-dir=models/.tmp-byom-trial   # a quick trial that overwrites nothing committed
 */
import { spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError } from '../core/config-error.js';
import type { Manifest } from '../core/manifest.js';
import { readManifest } from '../core/node/bundle.js';
import { defaultSplit } from '../core/regions.js';
import { cliArgs, text, usageExit } from '../scripts/cli-args.js';
import { ROOT } from '../scripts/gen-edge-bundle.js';
import { calibrationPlan } from '../training/attach-plan.js';
import { resolveCommand } from '../training/commands.js';
import { ATTACH_DEFAULTS, type AttachConfig } from '../training/config.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';

const MODELS_FOLDER = 'bench/byom/models';
const args = cliArgs({
  usage: 'npm run bench:byom -- [options]',
  about:
    "Bring your own model, end to end, with attach's default options: per backbone ONNX file, `npm run train -- attach`\n" +
    '(wall time and peak RSS under GNU time), `npm run train -- evaluate`, then `MODEL=<bundle> npm start` classifying images\n' +
    "of the bundle's evaluation split through the edge and backend; collects the manifest's figures and checks the targets\n" +
    '(default cost ≤ 40 % of the backbone at ≤ 0.5 pp drop, never above the backbone alone, peak RSS ≤ 24 GB).',
  writes:
    '<out-dir>/byom.{json,md} and <out-dir>/byom-<stem>.log per model; the bundles in <models-dir>/<stem> (left in place)',
  options: {
    models: {
      arg: 'a.onnx,b.onnx',
      description: 'Backbone ONNX files, comma-separated',
      defaultText: `every ${MODELS_FOLDER}/*.onnx`,
    },
    'attach-args': {
      arg: '"--key=value …"',
      description: 'Extra attach options, space-separated, for quick trials (the committed results use none)',
      default: '',
    },
    'out-dir': { arg: 'dir', description: 'Folder of the results and logs', default: 'bench/results' },
    'models-dir': {
      arg: 'dir',
      description: 'Folder (inside the repository) the bundles are written to, one per model stem',
      default: 'models',
    },
    images: {
      arg: 'n',
      description: 'Images of the evaluation split classified through the served cascade',
      default: '200',
      schema: text.int(1),
    },
  },
});

function usage(message: string): never {
  usageExit(`${message} (see --help)`);
}
const inRepo = (p: string) => {
  const r = relative(ROOT, resolve(p));
  return !r.startsWith('..') && !isAbsolute(r);
};
const MODELS =
  args.models !== undefined
    ? args.models
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : existsSync(MODELS_FOLDER)
      ? readdirSync(MODELS_FOLDER)
          .filter((f) => f.endsWith('.onnx'))
          .sort()
          .map((f) => `${MODELS_FOLDER}/${f}`)
      : [];
if (!MODELS.length)
  usage(
    args.models !== undefined
      ? '--models names no file'
      : `no backbone in ${MODELS_FOLDER}/*.onnx; name them with --models=a.onnx,b.onnx`,
  );
for (const f of MODELS) if (!existsSync(f)) usage(`--models: ${f} not found`);
const stems = MODELS.map((f) => basename(f, extname(f)));
const twice = stems.filter((s, i) => stems.indexOf(s) !== i);
if (twice.length) usage(`--models: two files share the stem ${twice[0]}, and so the bundle folder`);
const ATTACH_ARGS = args['attach-args'].split(/\s+/).filter(Boolean);
const bad = ATTACH_ARGS.filter((a) => /^--(backbone|out)(=|$)/.test(a));
if (bad.length) usage(`--attach-args: ${bad.join(' ')}: --backbone and --out are the bench's`);
// Checked as `npm run train -- attach` will read them, before the first model's run: a typo would otherwise surface only in its log.
try {
  resolveCommand('attach', ATTACH_ARGS);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  usageExit(`--attach-args: ${e.message}`);
}
const OUT_DIR = args['out-dir'];
const MODELS_DIR = args['models-dir'];
if (!inRepo(MODELS_DIR)) usage(`--models-dir=${MODELS_DIR} is outside the repository, where MODEL cannot serve from`);
const IMAGES = args.images;
if (!existsSync('/usr/bin/time')) usage('/usr/bin/time (GNU time) is missing; install the "time" package');

/** The targets of the brief. */
const TARGET = { maxCost: 0.4, maxDrop: 0.005, maxRssBytes: 24e9 };
const STEP_TIMEOUT_MS = { ready: 240_000, stop: 30_000 };

/** Runs `cmd` (logged as `shown`), streaming its stdout and stderr to the console and to `log`; resolves to its exit code. */
function run(cmd: string, argv: string[], log: WriteStream, shown = [cmd, ...argv].join(' ')): Promise<number> {
  log.write(`$ ${shown}\n`);
  return new Promise((done, fail) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      log.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      log.write(d);
    });
    child.on('error', fail);
    child.on('close', (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

/** Wall seconds and peak RSS (bytes) from GNU time's `-v` report. */
function parseGnuTime(report: string): { wallSeconds: number; peakRssBytes: number } {
  const wall = /Elapsed \(wall clock\) time \([^)]*\): ([\d:.]+)/.exec(report)?.[1];
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(report)?.[1];
  if (!wall || !rss) throw new Error(`GNU time's report lacks the wall time or the peak RSS:\n${report}`);
  return {
    wallSeconds: wall.split(':').reduce((s, part) => s * 60 + Number(part), 0),
    peakRssBytes: Number(rss) * 1024,
  };
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer()
      .once('error', fail)
      .listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => done(port));
      });
  });
}

/** The bundle's evaluation images (what its manifest's "test" figures were measured on), as evaluate.ts rebuilds them. */
function evaluationImages(m: Manifest): { name: string; images: Uint8Array; labels: Uint8Array; count: number } {
  if (m.provenance.dataset !== 'fashion-mnist')
    throw new Error(`serving check supports fashion-mnist bundles; this one used ${m.provenance.dataset}`);
  const cfg = { ...ATTACH_DEFAULTS, ...(m.provenance.config.attach as Partial<AttachConfig>) };
  const lim =
    cfg.limitPerClass > 0
      ? { train: 1, val: 1, test: Math.max(10, Math.round(cfg.limitPerClass / 3)) }
      : { train: 1, val: 1 };
  const ds = loadFashionMnist({ valPerClass: cfg.valPerClass, limitPerClass: lim });
  const e = calibrationPlan(
    { calibration: m.provenance.calibration?.mode ?? 'val', valPerClass: cfg.valPerClass },
    ds,
    undefined,
  ).evaluate;
  return { name: e.name, ...e.split };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

interface Served {
  ok: boolean;
  error?: string;
  split: string;
  images: number;
  answered: number;
  accuracy: number;
  edgeShare: number;
  backendShare: number;
  degraded: number;
  p50Ms: number;
  serverP50Ms: number;
  startSeconds: number;
  stop: { clean: boolean; seconds: number };
}

/** Serves the bundle with `tsx scripts/start.ts` and classifies `n` evaluation images through the edge. */
async function serve(dir: string, m: Manifest, n: number, log: WriteStream): Promise<Served> {
  const data = evaluationImages(m);
  const [edgePort, backendPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MODEL: dir,
    PORT: String(edgePort),
    BACKEND_PORT: String(backendPort),
  };
  delete env.MODEL_DIR;
  log.write(
    `$ MODEL=${dir} PORT=${edgePort} BACKEND_PORT=${backendPort} tsx scripts/start.ts (its output is kept here only if serving fails)\n`,
  );
  const t0 = performance.now();
  // Its own process group, so that whatever is left of it (wrangler's workerd) can be found after it exits.
  const start = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  start.stdout.on('data', keep);
  start.stderr.on('data', keep);
  const exited = new Promise<void>((r) => start.on('exit', () => r()));
  const onSigint = () => start.kill('SIGINT');
  process.once('SIGINT', onSigint);
  const groupAlive = () => {
    try {
      process.kill(-start.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  const pixels = m.input.shape.reduce((a, b) => a * b, 1);
  const count = Math.min(n, data.count);
  const result: Served = {
    ok: false,
    split: data.name,
    images: count,
    answered: 0,
    accuracy: NaN,
    edgeShare: NaN,
    backendShare: NaN,
    degraded: 0,
    p50Ms: NaN,
    serverP50Ms: NaN,
    startSeconds: NaN,
    stop: { clean: false, seconds: NaN },
  };
  const edge = `http://127.0.0.1:${edgePort}`;
  try {
    for (;;) {
      try {
        const res = await fetch(`${edge}/readyz`);
        const body = (await res.json()) as { checks?: { model?: { name?: string }; backend?: { ok?: boolean } } };
        if (res.ok && body.checks?.model?.name === m.name && body.checks.backend?.ok) break;
      } catch {
        // not up yet
      }
      if (start.exitCode !== null) throw new Error(`npm start exited (${start.exitCode}) before the edge was ready`);
      if (performance.now() - t0 > STEP_TIMEOUT_MS.ready)
        throw new Error(
          `the edge's /readyz was not ready (model ${m.name}, backend up) within ${STEP_TIMEOUT_MS.ready / 1000} s`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
    result.startSeconds = (performance.now() - t0) / 1000;
    let correct = 0,
      atEdge = 0,
      atBackend = 0;
    const latency: number[] = [],
      server: number[] = [];
    for (let k = 0; k < count; k++) {
      const i = Math.floor((k * data.count) / count);
      const t = performance.now();
      const res = await fetch(`${edge}/v1/classify`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: data.images.slice(i * pixels, (i + 1) * pixels),
      });
      const text = await res.text();
      latency.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`image ${i}: HTTP ${res.status}: ${text}`);
      const a = JSON.parse(text) as {
        classIndex: number;
        where: 'edge' | 'backend';
        degraded: boolean;
        timings: { totalMs: number };
      };
      result.answered++;
      if (a.classIndex === data.labels[i]) correct++;
      if (a.where === 'edge') atEdge++;
      else atBackend++;
      if (a.degraded) result.degraded++;
      server.push(a.timings.totalMs);
    }
    Object.assign(result, {
      accuracy: correct / count,
      edgeShare: atEdge / count,
      backendShare: atBackend / count,
      p50Ms: median(latency),
      serverP50Ms: median(server),
      ok: result.degraded === 0,
    });
    if (result.degraded) result.error = `${result.degraded} degraded answer(s)`;
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    const t = performance.now();
    start.kill('SIGINT');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STEP_TIMEOUT_MS.stop).unref());
    const stopped = await Promise.race([exited.then(() => 'exited' as const), timeout]);
    // The group is gone once every process of the cascade has exited; give the last ones a moment.
    for (let w = 0; groupAlive() && w < 20; w++) await new Promise((r) => setTimeout(r, 250));
    result.stop = { clean: stopped === 'exited' && !groupAlive(), seconds: (performance.now() - t) / 1000 };
    if (groupAlive()) process.kill(-start.pid!, 'SIGKILL');
    process.removeListener('SIGINT', onSigint);
    rmSync(resolve(ROOT, `.wrangler-served-${edgePort}.toml`), { force: true });
  }
  if (!result.stop.clean) {
    result.ok = false;
    result.error = [
      result.error,
      `the cascade did not stop cleanly on SIGINT within ${STEP_TIMEOUT_MS.stop / 1000} s (killed)`,
    ]
      .filter(Boolean)
      .join('; ');
  }
  if (!result.ok) {
    log.write(output);
    console.error(`[byom] serving failed: ${result.error}\n--- npm start output (last 20 kB) ---\n${output}`);
  }
  return result;
}

/** What a manifest says, in the bench's terms (cost as a fraction of the backbone's MACs, accuracies on the evaluation images). */
function fromManifest(m: Manifest) {
  const c = m.provenance.calibration;
  const E = m.exits.length,
    split = defaultSplit(m);
  const d = m.policies.atDefault;
  return {
    name: m.name,
    backbone: {
      macs: m.backbone.macs,
      params: m.backbone.params,
      accuracy: {
        calibration: c?.calibrate.backboneAccuracy ?? m.backbone.accuracy.val,
        evaluation: c?.evaluate.backboneAccuracy ?? m.backbone.accuracy.test,
      },
    },
    calibration: {
      mode: c?.mode ?? 'val',
      reason: c?.reason,
      warning: c?.warning,
      exitTraining: c?.exitTraining,
      calibrate: { split: c?.calibrate.split ?? 'validation split', images: m.provenance.counts.val },
      evaluate: { split: c?.evaluate.split ?? 'test split', images: m.provenance.counts.test },
    },
    default: {
      policy: m.policies.default,
      thresholds: m.exits.map((e) => e.defaultThreshold),
      cost: d.cost,
      accuracy: d.accuracy,
      drop: m.final.accuracy.test - d.accuracy,
      fidelity: d.fidelity,
      exitRates: d.exitRates,
      answeredByAnExit: 1 - d.exitRates[E]!,
      split,
      edgeShare: d.exitRates.slice(0, split).reduce((a, b) => a + b, 0),
    },
    oracle: m.policies.oracle.test,
    exits: {
      kept: E,
      candidates: m.provenance.candidates?.length ?? E,
      at: m.exits.map((e) => e.input),
      backboneFractions: m.exits.map((e) => e.backboneFraction),
    },
    featureCache: m.provenance.featureCache,
  };
}

interface ModelResult {
  /** When this model was measured (a later run for other models keeps it). */
  date?: string;
  model: string;
  backbone: string;
  bundle: string;
  log: string;
  attachArgs: string[];
  attach: { exitCode: number; wallSeconds: number; peakRssBytes: number; resumed: boolean };
  evaluate?: { exitCode: number; seconds: number };
  manifest?: ReturnType<typeof fromManifest>;
  served?: Served;
  targets?: { costAtDrop: boolean; notAboveBackbone: boolean; peakRss: boolean };
  failed?: string;
}

async function bench(file: string, stem: string): Promise<ModelResult> {
  const bundle = `${MODELS_DIR.replace(/\/+$/, '')}/${stem}`;
  const logFile = join(OUT_DIR, `byom-${stem}.log`);
  const log = createWriteStream(logFile);
  log.write(
    `# bench:byom ${stem}: ${new Date().toISOString()}, ${cpus().length}-core ${process.arch} (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}\n`,
  );
  const r: ModelResult = {
    model: stem,
    backbone: file,
    bundle,
    log: logFile,
    attachArgs: ATTACH_ARGS,
    attach: {
      exitCode: -1,
      wallSeconds: NaN,
      peakRssBytes: NaN,
      resumed: existsSync(join(bundle, 'attach-checkpoint.safetensors')),
    },
  };
  try {
    console.error(
      `[byom] ${stem}: attach${r.attach.resumed ? ' (resuming: an attach checkpoint is in the bundle folder)' : ''}`,
    );
    const timeDir = mkdtempSync(join(tmpdir(), 'byom-time-'));
    try {
      const attach = ['npm', 'run', 'train', '--', 'attach', `--backbone=${file}`, `--out=${bundle}`, ...ATTACH_ARGS];
      r.attach.exitCode = await run(
        '/usr/bin/time',
        ['-v', '-o', join(timeDir, 'time.txt'), ...attach],
        log,
        `/usr/bin/time -v ${attach.join(' ')}`,
      );
      Object.assign(r.attach, parseGnuTime(readFileSync(join(timeDir, 'time.txt'), 'utf8')));
    } finally {
      rmSync(timeDir, { recursive: true, force: true });
    }
    log.write(
      `# attach: exit ${r.attach.exitCode}, ${r.attach.wallSeconds.toFixed(1)} s wall, peak RSS ${(r.attach.peakRssBytes / 1e9).toFixed(2)} GB\n`,
    );
    if (r.attach.exitCode !== 0) throw new Error(`attach exited ${r.attach.exitCode} (see ${logFile})`);
    const m = readManifest(bundle);
    r.manifest = fromManifest(m);
    const d = r.manifest.default;
    r.targets = {
      costAtDrop: d.cost <= TARGET.maxCost && d.drop <= TARGET.maxDrop + 1e-12,
      notAboveBackbone: d.cost <= 1 + 1e-12,
      peakRss: r.attach.peakRssBytes <= TARGET.maxRssBytes,
    };

    console.error(`[byom] ${stem}: evaluate`);
    const t = performance.now();
    r.evaluate = {
      exitCode: await run('npm', ['run', 'train', '--', 'evaluate', `--bundle=${bundle}`], log),
      seconds: 0,
    };
    r.evaluate.seconds = (performance.now() - t) / 1000;
    if (r.evaluate.exitCode !== 0) throw new Error(`evaluate exited ${r.evaluate.exitCode} (see ${logFile})`);

    console.error(
      `[byom] ${stem}: serving ${bundle} (MODEL=${bundle} npm start), ${Math.min(IMAGES, m.provenance.counts.test)} evaluation images`,
    );
    r.served = await serve(bundle, m, IMAGES, log);
    log.write(`# served: ${JSON.stringify(r.served)}\n`);
    if (!r.served.ok) throw new Error(`serving: ${r.served.error}`);
  } catch (e) {
    r.failed = (e as Error).message;
    log.write(`# FAILED: ${r.failed}\n`);
    console.error(`[byom] ${stem}: FAILED: ${r.failed}`);
  } finally {
    await new Promise((done) => log.end(done));
  }
  return r;
}

const pct = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? '—' : `${(v * 100).toFixed(d)} %`);
const mark = (ok: boolean | undefined) => (ok === undefined ? '—' : ok ? 'PASS' : 'MISS');

function modelTable(r: ModelResult): string[] {
  const x = r.manifest,
    s = r.served;
  const head = [`## ${r.model} (\`${r.backbone}\` → \`${r.bundle}\`)`, ''];
  const attach = `${r.attach.wallSeconds.toFixed(0)} s wall, peak RSS ${(r.attach.peakRssBytes / 1e9).toFixed(2)} GB${r.attach.resumed ? ' (resumed from a checkpoint)' : ''}`;
  if (!x)
    return [
      ...head,
      `**Failed**: ${r.failed}. Attach: exit ${r.attach.exitCode}, ${attach}. Log: \`${basename(r.log)}\`.`,
      '',
    ];
  const d = x.default;
  const rows: [string, string][] = [
    ['backbone', `${(x.backbone.macs / 1e6).toFixed(2)} M MACs, ${(x.backbone.params / 1e3).toFixed(1)} k params`],
    [
      'backbone accuracy: calibration / evaluation images',
      `${pct(x.backbone.accuracy.calibration, 2)} / ${pct(x.backbone.accuracy.evaluation, 2)}`,
    ],
    [
      'calibrated on / evaluated on',
      `${x.calibration.calibrate.images} images: ${x.calibration.calibrate.split} / ${x.calibration.evaluate.images} images: ${x.calibration.evaluate.split}`,
    ],
    [
      'exits kept / candidates',
      `${x.exits.kept} / ${x.exits.candidates} (at ${x.exits.at.map((t, i) => `${t} ${pct(x.exits.backboneFractions[i])}`).join(', ')})`,
    ],
    [
      'default policy (thresholds)',
      `${d.policy} [${d.thresholds.map((t) => (t > 1 ? 'off' : t.toFixed(3))).join(', ')}]`,
    ],
    ['default cost (share of backbone MACs)', `**${pct(d.cost)}**`],
    [
      'default accuracy on evaluation (drop vs backbone)',
      `${pct(d.accuracy, 2)} (**${(d.drop * 100).toFixed(2)} pp**)`,
    ],
    ['fidelity to the backbone', pct(d.fidelity, 2)],
    ['exit rates (exits…, final head)', d.exitRates.map((v) => pct(v)).join(' / ')],
    [
      `answered by an exit / at the edge (first ${d.split} segments)`,
      `${pct(d.answeredByAnExit)} / ${pct(d.edgeShare)}`,
    ],
    ['oracle (labels known) cost / accuracy', `${pct(x.oracle.cost)} / ${pct(x.oracle.accuracy, 2)}`],
    ['feature cache', x.featureCache ? `${x.featureCache.mode}, ${(x.featureCache.bytes / 1e9).toFixed(2)} GB` : '—'],
    ['attach', attach],
    ['evaluate', r.evaluate ? `exit ${r.evaluate.exitCode}, ${r.evaluate.seconds.toFixed(0)} s` : '—'],
    [
      'served (edge + backend, raw u8, one at a time)',
      s
        ? `${s.answered}/${s.images} answered, accuracy ${pct(s.accuracy, 1)}, edge ${pct(s.edgeShare)} / backend ${pct(s.backendShare)}, degraded ${s.degraded}, p50 ${s.p50Ms.toFixed(1)} ms (server ${s.serverP50Ms.toFixed(1)} ms), ready after ${s.startSeconds.toFixed(0)} s, stopped ${s.stop.clean ? 'cleanly' : '**not cleanly**'} in ${s.stop.seconds.toFixed(1)} s${s.error ? `: **${s.error}**` : ''}`
        : '—',
    ],
    [`target: cost ≤ ${TARGET.maxCost * 100} % at ≤ ${TARGET.maxDrop * 100} pp drop`, mark(r.targets?.costAtDrop)],
    ['target: default ≤ backbone alone', mark(r.targets?.notAboveBackbone)],
    [`target: peak RSS ≤ ${TARGET.maxRssBytes / 1e9} GB`, mark(r.targets?.peakRss)],
  ];
  return [
    ...head,
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    ...(x.calibration.warning ? [`Warning from attach: ${x.calibration.warning}`, ''] : []),
    ...(r.failed ? [`**Failed**: ${r.failed}`, ''] : []),
    `Log of the run: [\`${basename(r.log)}\`](${basename(r.log)}).`,
    '',
  ];
}

function whatOnWhat(results: ModelResult[]): string {
  const ms = results.flatMap((r) => (r.manifest ? [r.manifest] : []));
  if (!ms.length) return 'No model produced a bundle.';
  const c = ms[0]!.calibration;
  const same = ms.every(
    (m) =>
      m.calibration.mode === c.mode &&
      m.calibration.calibrate.images === c.calibrate.images &&
      m.calibration.evaluate.images === c.evaluate.images,
  );
  if (same && c.mode === 'test-half') {
    return `The exits train on ${c.exitTraining?.images ?? '?'} images (${c.exitTraining?.split ?? 'the standard training set'}). The operating points are calibrated on half the Fashion-MNIST test set (${c.calibrate.images} images: ${c.calibrate.split}), and every "evaluation" figure is on the other half (${c.evaluate.images} images: ${c.evaluate.split}): images that neither the backbone's training nor calibration saw. The served check classifies up to ${IMAGES} of the evaluation images, evenly spread over them.`;
  }
  return `Per model, the table names the images that calibrated the operating points and those that evaluated them (calibration mode: ${ms.map((m) => `${m.name} ${m.calibration.mode}`).join(', ')}). The served check classifies up to ${IMAGES} of the evaluation images, evenly spread over them.`;
}

function write(results: ModelResult[], date: string): void {
  const result = {
    date,
    machine: `2-core x86 VM: ${cpus().length}-core ${process.arch} (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}`,
    targets: TARGET,
    attachArgs: ATTACH_ARGS,
    models: results,
  };
  const md = [
    '# Bring your own model (`npm run bench:byom`)',
    '',
    `${date.slice(0, 10)}, 2-core x86 VM (Node ${process.version}). Per backbone, what a user runs, with default options${ATTACH_ARGS.length ? ` plus \`${ATTACH_ARGS.join(' ')}\` (a trial, not the defaults)` : ''}: \`npm run train -- attach --backbone=<file> --out=${MODELS_DIR}/<stem>\` under GNU time, \`npm run train -- evaluate\`, then \`MODEL=${MODELS_DIR}/<stem> npm start\` classifying evaluation images through the edge and the backend.`,
    '',
    whatOnWhat(results),
    '',
    '| model | measured | default cost | drop | cost ≤ 40 % at ≤ 0.5 pp | ≤ backbone | peak RSS ≤ 24 GB | attach | served accuracy |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.model} | ${(r.date ?? date).slice(0, 10)} | ${pct(r.manifest?.default.cost)} | ${r.manifest ? `${(r.manifest.default.drop * 100).toFixed(2)} pp` : '—'} | ${mark(r.targets?.costAtDrop)} | ${mark(r.targets?.notAboveBackbone)} | ${mark(r.targets?.peakRss)} | ${Number.isNaN(r.attach.wallSeconds) ? '—' : `${(r.attach.wallSeconds / 60).toFixed(1)} min, ${(r.attach.peakRssBytes / 1e9).toFixed(2)} GB`}${r.failed ? ` (**failed**)` : ''} | ${pct(r.served?.accuracy)} |`,
    ),
    '',
    ...results.flatMap(modelTable),
  ].join('\n');
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'byom.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(OUT_DIR, 'byom.md'), md);
}

mkdirSync(OUT_DIR, { recursive: true });
const date = new Date().toISOString();
// Models measured by an earlier run and not by this one stay in the results, with their own date.
const previous = existsSync(join(OUT_DIR, 'byom.json'))
  ? (JSON.parse(readFileSync(join(OUT_DIR, 'byom.json'), 'utf8')) as { date: string; models: ModelResult[] })
  : undefined;
const kept = (previous?.models ?? [])
  .filter((r) => !stems.includes(r.model))
  .map((r) => ({ ...r, date: r.date ?? previous!.date }));
const results: ModelResult[] = [...kept];
for (const [i, file] of MODELS.entries()) {
  results.push({ date, ...(await bench(file, stems[i]!)) });
  write(results, date);
}
console.log(`\nbench:byom: wrote ${join(OUT_DIR, 'byom.json')} and ${join(OUT_DIR, 'byom.md')}`);
for (const r of results) {
  const t = r.targets;
  const figures = r.manifest
    ? ` (cost ${pct(r.manifest.default.cost)}, drop ${(r.manifest.default.drop * 100).toFixed(2)} pp, peak RSS ${(r.attach.peakRssBytes / 1e9).toFixed(2)} GB)`
    : '';
  console.log(
    `${r.model}: cost ≤ 40 % at ≤ 0.5 pp ${mark(t?.costAtDrop)}; default ≤ backbone ${mark(t?.notAboveBackbone)}; peak RSS ≤ 24 GB ${mark(t?.peakRss)}; ${r.failed ? `FAILED: ${r.failed}` : 'attach, evaluate and serving OK'}${figures}`,
  );
}
if (results.some((r) => r.failed)) process.exitCode = 1;
