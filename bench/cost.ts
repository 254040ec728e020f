/**
 * `npm run bench:cost`: what the shipped bundle costs, in USD per million requests, on real traffic
 * through the whole local cascade, against each counterfactual. Starts `npm start` (backend + wrangler
 * dev, fresh STATE_DIR), sends --images real Fashion-MNIST test images (the first of each class in
 * turn, raw u8) with no region entry set, so every request runs at the bundle's default operating
 * point, waits for the isolate's flush to D1, and reads GET /v1/metrics: the counts (which must equal
 * the requests sent), the measured edge-exit rate, the accuracy of the answers against the labels,
 * and the cost model's figures (core/cost-model.ts) for the actual mix and the counterfactuals. It
 * then opens the cost dashboard in Debian's Chromium and keeps a screenshot of it.
 *
 * Writes bench/results/cost.{json,md} and bench/results/dashboard.png; options: `npm run bench:cost -- --help`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { cliArgs, text } from '../scripts/cli-args.js';
import { waitForUp } from '../tests/helpers/wait-for.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import type { Metrics } from '../workers/edge/dashboard/src/api.js';

const args = cliArgs({
  usage: 'npm run bench:cost -- [options]',
  about:
    'USD per million requests of the shipped bundle at its default operating point, on real Fashion-MNIST test images\n' +
    'sent through npm start (edge worker + GPU backend, fresh local state), read back from GET /v1/metrics, against\n' +
    'every request on the GPU backend, the full model in the Worker and Workers AI ResNet-50; plus a dashboard screenshot.',
  writes: 'bench/results/cost.{json,md}, bench/results/dashboard.png',
  options: {
    images: {
      arg: 'n',
      description: 'Test images sent (balanced over the classes)',
      default: '2000',
      schema: text.int(10, 10_000),
    },
    concurrency: { arg: 'n', description: 'Requests in flight', default: '4', schema: text.int(1, 64) },
  },
});

const PORT = 8820;
const BACKEND_PORT = 8821;
const EDGE = `http://127.0.0.1:${PORT}`;
const ADMIN = 'dev-admin-token'; // npm start's
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const state = mkdtempSync(join(tmpdir(), 'bench-cost-state-'));
const cascade = spawn('npm', ['start'], {
  env: { ...process.env, PORT: String(PORT), BACKEND_PORT: String(BACKEND_PORT), STATE_DIR: state },
  stdio: 'ignore',
  detached: true,
});
const stop = () => {
  try {
    process.kill(-cascade.pid!, 'SIGTERM');
  } catch {
    // gone
  }
};
try {
  await waitForUp(`${EDGE}/healthz`, cascade, 180_000, 'npm start');
  await waitForUp(`http://127.0.0.1:${BACKEND_PORT}/healthz`, cascade, 180_000, 'npm start');

  const perClass = Math.ceil(args.images / 10);
  const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: perClass } });
  const n = Math.min(args.images, ds.test.count);
  const px = ds.test.images.length / ds.test.count;
  // Interleave the classes (the loader returns them class by class).
  const order = Array.from({ length: ds.test.count }, (_, i) => i)
    .sort((a, b) => (a % perClass) - (b % perClass) || a - b)
    .slice(0, n);
  const from = Date.now() - 60_000;
  let next = 0;
  let correct = 0;
  let ok = 0;
  const where = { edge: 0, backend: 0, degraded: 0 };
  const worker = async () => {
    while (next < order.length) {
      const i = order[next++]!;
      const res = await fetch(`${EDGE}/v1/classify`, {
        method: 'POST',
        body: ds.test.images.slice(i * px, (i + 1) * px),
        headers: { 'content-type': 'application/octet-stream' },
      });
      const a = (await res.json()) as { classIndex: number; where: 'edge' | 'backend'; degraded: boolean };
      if (res.status !== 200) throw new Error(`classify answered ${res.status}: ${JSON.stringify(a)}`);
      ok++;
      if (a.classIndex === ds.test.labels[i]) correct++;
      if (a.degraded) where.degraded++;
      else where[a.where]++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  const sendSeconds = (performance.now() - t0) / 1000;

  const metrics = async () => {
    const res = await fetch(`${EDGE}/v1/metrics?from=${from}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    if (!res.ok) throw new Error(`GET /v1/metrics answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Metrics;
  };
  let m = await metrics();
  const waitStart = Date.now();
  while (m.totals.requests < ok && Date.now() - waitStart < 60_000) {
    await new Promise((r) => setTimeout(r, 2000));
    m = await metrics();
  }
  if (m.totals.requests !== ok) throw new Error(`D1 counts ${m.totals.requests} decisions, ${ok} were answered`);

  // The dashboard over the same traffic.
  let screenshot: string | null = null;
  if (existsSync(CHROMIUM)) {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${EDGE}/dashboard/?range=15m`);
    await page.fill('#token', ADMIN);
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 30_000 });
    screenshot = 'bench/results/dashboard.png';
    await page.screenshot({ path: screenshot, fullPage: true });
    await browser.close();
  }

  const t = m.totals;
  const c = t.cost;
  const figures = {
    actual: c.actual,
    allOnGpu: c.counterfactuals.allOnGpu,
    fullModelAtEdge: c.counterfactuals.fullModelAtEdge,
    workersAiResnet50: c.counterfactuals.workersAiResnet50,
  };
  const result = {
    date: new Date().toISOString(),
    hardware: `${cpus().length}-core ${process.arch === 'x64' ? 'x86' : process.arch} VM`,
    command: `npm run bench:cost -- --images=${args.images} --concurrency=${args.concurrency}`,
    model: m.model,
    sent: n,
    answered: ok,
    counted: t.requests,
    accuracy: correct / ok,
    answeredWhere: where,
    edgeRate: t.edgeRate,
    forwarded: t.forwarded,
    degraded: t.degraded,
    errors: t.errors,
    bytesForwarded: t.bytesForwarded,
    latencyMs: t.latencyMs,
    exits: t.exits,
    requestsPerSecond: ok / sendSeconds,
    usdPerMillion: Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.value])),
    items: Object.fromEntries(
      Object.entries(figures).map(([k, f]) => [
        k,
        Object.fromEntries(Object.entries(f.items).map(([i, x]) => [i, x.value])),
      ]),
    ),
    assumptions: {
      all: c.assumptions,
      ...Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.assumptions])),
    },
    screenshot,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/cost.json', `${JSON.stringify(result, null, 2)}\n`);
  const usd = (x: number | null) => (x === null ? 'n/a' : `$${x.toFixed(3)}`);
  const saving = (x: number | null) =>
    x && c.actual.value !== null ? `${((1 - c.actual.value / x) * 100).toFixed(1)} %` : '';
  const md = [
    '# Cost per million requests: the shipped bundle at its default point, on real traffic',
    '',
    `${result.date.slice(0, 10)}, ${result.hardware}; \`${result.command}\`. ${ok} Fashion-MNIST test images (balanced over the classes) sent through \`npm start\` (edge worker in wrangler dev, GPU backend on the CPU) with no region entry, so every request ran at the default operating point (${m.model}). D1 counted ${t.requests} decisions for ${ok} answers.`,
    '',
    `Measured: ${((t.edgeRate ?? 0) * 100).toFixed(1)} % answered at an edge exit, ${t.forwarded} forwarded (${(result.bytesForwarded / 1024).toFixed(0)} KiB of features), ${t.degraded} degraded, ${t.errors} errors; accuracy of the answers ${(result.accuracy * 100).toFixed(2)} %; latency p50 / p95 / p99 ≤ ${t.latencyMs.p50} / ${t.latencyMs.p95} / ${t.latencyMs.p99} ms (histogram bucket upper bounds, loopback).`,
    '',
    '| | USD per million requests | the cascade saves |',
    '|---|---:|---:|',
    `| actual mix (this cascade) | ${usd(c.actual.value)} | |`,
    `| every request on the GPU backend | ${usd(figures.allOnGpu.value)} | ${saving(figures.allOnGpu.value)} |`,
    `| the full model in the Worker | ${usd(figures.fullModelAtEdge.value)} | ${saving(figures.fullModelAtEdge.value)} |`,
    `| Workers AI ResNet-50 (outside reference) | ${usd(figures.workersAiResnet50.value)} | ${saving(figures.workersAiResnet50.value)} |`,
    '',
    'Items of the actual mix (USD per million requests): ' +
      Object.entries(result.items.actual)
        .map(([k, v]) => `${k} ${usd(v as number | null)}`)
        .join(', ') +
      '.',
    '',
    '## Assumptions (from the cost model, as the API gives them)',
    '',
    ...c.assumptions.map((a) => `- ${a}`),
    ...Object.entries(figures).flatMap(([k, f]) => ['', `**${k}**`, '', ...f.assumptions.map((a) => `- ${a}`)]),
    '',
    screenshot ? `Dashboard over this traffic: ![dashboard](dashboard.png)` : 'No Chromium found: no screenshot.',
    '',
  ].join('\n');
  writeFileSync('bench/results/cost.md', md);
  console.log(md.split('\n').slice(0, 14).join('\n'));
} finally {
  stop();
  await new Promise((r) => setTimeout(r, 1500));
  rmSync(state, { recursive: true, force: true });
}
