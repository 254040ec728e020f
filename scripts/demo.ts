/**
 * `npm run demo`: the per-region controller end to end on the local cascade, with real Fashion-MNIST
 * test images. Starts `npm start` itself (fresh STATE_DIR in a temp folder, edge on --port, backend
 * on --port + 1) or uses a running one: --url, or `npm start`'s default http://127.0.0.1:8787 when
 * it answers and --port is not given (npm start in another terminal; the admin token from .dev.vars
 * unless --token), then:
 *
 * 1. Re-solve on shifted traffic: region --resolve-region (colo:DMO) gets a forward-rate budget of
 *    --budget (0.25) on the bundle's default policy and split with explore 1; --images real test
 *    images of only pullover, coat and shirt are sent; once their explored scores have been reported
 *    (the isolate batches them: 100 samples or 10 s), POST …/resolve re-solves on them; --images
 *    fresh images of the same classes are sent. Prints the forward rate before, the solved one with
 *    its Wilson interval, after, and whether after is within 2 points of the budget. The default
 *    1200 (the workerd test's count) keeps that check meaningful: at 600 the fresh sample's standard
 *    error alone is 1.8 points.
 * 2. A bad canary rolled back: region --canary-region (colo:CNY) at the bundle's default thresholds
 *    with shadow 0.2 and the guard {maxDisagreement 0.03, confidence 0.95}, then a canary at 0.4 on
 *    every exit (share 0.5, shadow 1, minSamples 50); --canary-images test images of every class are
 *    sent; once the shadow results have been reported (50 samples or 10 s, after each response),
 *    POST …/verify judges the canary. While GET …/guard still says "wait" once every report is in,
 *    150 more images are sent, up to 3 × --canary-images or 1000 (the controller rolls back a canary
 *    that stays unproven after 4 × minSamples = 200 shadowed answers, which ~1000 images reach).
 * 3. Per region: requests, accuracy against the true labels, edge and forward shares, client-side
 *    p50 latency, and USD per million requests from GET /v1/metrics?region= (cost.actual).
 * 4. The cost dashboard (--screenshot, default <out>/dashboard-controller.png when the demo started
 *    npm start; '' skips it, so does a missing Chromium): /dashboard/ in Chromium over a custom range
 *    covering the demo, the admin token typed into its form, and once it has loaded (the regions
 *    table, the canary region's shadow verification and every region's history drawn) a full-page
 *    screenshot. After the rollback the canary region has no canary, but its shadow 0.2 keeps the
 *    per-exit guard table filled.
 *
 * Nothing here flushes on demand (npm start has no such route): it waits for the isolate's reports,
 * polling with bounded waits. Writes bench/results/demo.{json,md} and the screenshot; every child
 * process is stopped on exit, Ctrl-C included. Options: `npm run demo -- --help`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { FrontierView } from '../core/operating-points.js';
import type { RegionEntry, RegionSettings, Solved } from '../core/regions.js';
import { waitForUp } from '../tests/helpers/wait-for.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import type { Verification } from '../workers/edge/src/thresholds/region-entries.js';
import { cliArgs, text } from './cli-args.js';

const args = cliArgs({
  usage: 'npm run demo -- [options]',
  about:
    'The per-region controller on the local cascade with real Fashion-MNIST test images: a forward-rate budget\n' +
    're-solved on shifted traffic (pullover/coat/shirt only), a bad canary rolled back by shadow verification, and\n' +
    'per region requests, accuracy, edge/forward shares, p50 latency and USD per million requests; then a full-page\n' +
    'screenshot of the cost dashboard (/dashboard/) in Chromium.\n' +
    'Starts npm start (fresh local state) unless --url names a running one, or npm start already answers on :8787 (and --port is not given).',
  writes: 'bench/results/demo.{json,md} and bench/results/dashboard-controller.png',
  options: {
    images: {
      arg: 'n',
      description: 'Shifted images sent before the re-solve, and again after it (the re-solve needs 200 explored ones)',
      default: '1200',
      schema: text.int(200, 1500),
    },
    'canary-images': {
      arg: 'n',
      description: 'Images of every class sent in the canary region (more while the verdict is still "wait")',
      default: '300',
      schema: text.int(100, 3000),
    },
    budget: {
      arg: 'rate',
      description: 'Forward-rate budget of the re-solve region',
      default: '0.25',
      schema: text.positive().refine((x) => x < 1, 'expected a rate below 1'),
    },
    url: {
      arg: 'url',
      description: `Edge URL of a running npm start (default: ${'http://127.0.0.1:8787'} when it answers and --port is not given, else start one)`,
    },
    token: {
      arg: 'token',
      description: 'Admin token',
      default: 'dev-admin-token',
      defaultText: "npm start's, dev-admin-token",
    },
    port: {
      arg: 'n',
      description: 'Edge port of the npm start it runs (the backend gets port + 1)',
      default: '8830',
      schema: text.int(1024, 65534),
    },
    concurrency: { arg: 'n', description: 'Requests in flight', default: '2', schema: text.int(1, 32) },
    'resolve-region': { arg: 'key', description: 'Region of the re-solve', default: 'colo:DMO' },
    'canary-region': { arg: 'key', description: 'Region of the canary', default: 'colo:CNY' },
    out: { arg: 'dir', description: 'Where demo.json and demo.md go', default: 'bench/results' },
    screenshot: {
      arg: 'png',
      description:
        "Full-page screenshot of the cost dashboard at the end (Chromium at $CHROMIUM_PATH or /usr/bin/chromium); '' skips it",
      defaultText: '<out>/dashboard-controller.png when the demo starts npm start, none with --url',
    },
  },
});
for (const k of ['resolve-region', 'canary-region'] as const)
  if (!/^colo:[A-Z]{3}$/.test(args[k])) {
    console.error(`error: --${k}=${args[k]}: expected colo:XXX (three capital letters) (see --help)`);
    process.exit(2);
  }
if (args['resolve-region'] === args['canary-region']) {
  console.error('error: --resolve-region and --canary-region must differ (see --help)');
  process.exit(2);
}

/** npm start's default edge: used when it already answers and neither --url nor --port is given (npm start in another terminal). */
const LOCAL_EDGE = 'http://127.0.0.1:8787';
async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}
const portGiven = process.argv.slice(2).some((a) => a === '--port' || a.startsWith('--port='));
/** The running cascade to use: --url, or npm start's default one when it is up; undefined: start one. */
const given: string | undefined = args.url ?? (!portGiven && (await answers(LOCAL_EDGE)) ? LOCAL_EDGE : undefined);

const DMO = args['resolve-region'];
const CNY = args['canary-region'];
const BUDGET = args.budget;
/** --token, else .dev.vars' ADMIN_TOKEN (what npm start's worker runs with), else npm start's default. */
const tokenGiven = process.argv.slice(2).some((a) => a === '--token' || a.startsWith('--token='));
const devVarsToken = existsSync('.dev.vars')
  ? readFileSync('.dev.vars', 'utf8').match(/^\s*ADMIN_TOKEN\s*=\s*["']?([^"'\n]+?)["']?\s*$/m)?.[1]
  : undefined;
const TOKEN = tokenGiven ? args.token : (devVarsToken ?? args.token);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where the dashboard's screenshot goes; '' for none. */
const SCREENSHOT = args.screenshot ?? (given ? '' : join(args.out, 'dashboard-controller.png'));
const SHIFTED = [2, 4, 6] as const; // pullover, coat, shirt
const CANARY_THRESHOLD = 0.4;
const GUARD = { maxDisagreement: 0.03, confidence: 0.95 };
/** The isolate reports explored scores and shadow results at most this long after their first sample. */
const REPORT_MS = 10_000;
const startedAt = Date.now();
const log = (s: string) => console.log(`[${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the cascade: started here, or given -----------------------------------------------------------

let cascade: ChildProcess | undefined;
/** Set by a signal: the run is being stopped, so its requests failing is expected. */
let stopping = false;
let state: string | undefined;
let logFile: string | undefined;
/** Stops npm start's whole process group (npm, tsx, the backend, wrangler and workerd); synchronous, so it runs on exit too. */
function stopCascade(signal: NodeJS.Signals = 'SIGTERM'): void {
  if (!cascade?.pid) return;
  try {
    process.kill(-cascade.pid, signal);
  } catch {
    // already gone
  }
}
const groupAlive = () => {
  try {
    process.kill(-cascade!.pid!, 0);
    return true;
  } catch {
    return false;
  }
};
async function shutdown(): Promise<void> {
  if (!cascade?.pid) return;
  stopCascade('SIGTERM');
  for (let i = 0; i < 40 && groupAlive(); i++) await sleep(250);
  if (groupAlive()) stopCascade('SIGKILL');
  cascade = undefined;
  if (state) rmSync(state, { recursive: true, force: true });
}
process.on('exit', () => stopCascade('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    stopping = true;
    console.error(`\n${sig}: stopping${cascade ? ' npm start' : ''}`);
    shutdown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });

let EDGE: string;
if (given) {
  EDGE = given.replace(/\/+$/, '');
} else {
  EDGE = `http://127.0.0.1:${args.port}`;
  state = mkdtempSync(join(tmpdir(), 'demo-state-'));
  // Kept after the run (the state folder is not): what npm start printed, for when something went wrong.
  logFile = join(tmpdir(), `demo-npm-start-${args.port}.log`);
  writeFileSync(logFile, '');
  const fd = openSync(logFile, 'a');
  log(`starting npm start (edge :${args.port}, backend :${args.port + 1}, STATE_DIR ${state}, output in ${logFile})`);
  cascade = spawn('npm', ['start'], {
    env: { ...process.env, PORT: String(args.port), BACKEND_PORT: String(args.port + 1), STATE_DIR: state },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
}

// --- HTTP -------------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}
async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${EDGE}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const txt = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(txt);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const p = (json ?? {}) as { code?: string; detail?: string };
    throw new HttpError(
      res.status,
      p.code,
      `${method} ${path} answered ${res.status}: ${p.detail ?? txt.slice(0, 300)}`,
    );
  }
  return json as T;
}

type Entry = RegionEntry & { key: string; resolved: { from: string; thresholds: number[] | null } };
interface MetricsTotals {
  requests: number;
  edgeRate: number | null;
  forwarded: number;
  degraded: number;
  capped?: number;
  errors: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  cost: { actual: { value: number | null; assumptions: string[] } };
}

/** Writes `settings` as the region's entry: created, or (a running cascade's old entry) replaced at its version. */
async function putRegion(key: string, settings: RegionSettings): Promise<Entry> {
  let current: Entry | undefined;
  try {
    current = await api<Entry>('GET', `/admin/regions/${key}`);
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 404)) throw e;
  }
  if (current)
    log(
      `warning: ${key} already had an entry (v${current.version}); replacing it. Its Durable Object keeps earlier samples, which the re-solve and verification count too (use a fresh region with --resolve-region / --canary-region)`,
    );
  return api<Entry>('PUT', `/admin/regions/${key}`, settings, current ? { 'if-match': `"${current.version}"` } : {});
}

// --- images and answers -----------------------------------------------------------------------------

interface Img {
  pixels: Uint8Array<ArrayBuffer>;
  label: number;
}
interface Answer {
  label: number;
  classIndex: number;
  where: 'edge' | 'backend';
  degraded: boolean;
  reason?: string;
  exit: number;
  thresholdVersion: string;
  ms: number;
}
/** The edge did not answer it: forwarded, or degraded after a forward (a stale-entry or money-cap flag is an edge answer). */
const forwarded = (a: Answer) =>
  a.where === 'backend' || (a.degraded && a.reason !== 'thresholds_stale' && a.reason !== 'budget');

async function send(key: string, images: readonly Img[]): Promise<Answer[]> {
  const out: Answer[] = new Array(images.length);
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const i = next++;
      const img = images[i]!;
      const t = performance.now();
      const res = await fetch(`${EDGE}/v1/classify`, {
        method: 'POST',
        body: img.pixels,
        headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': key },
      });
      const a = (await res.json()) as Omit<Answer, 'ms' | 'label'>;
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`classify (${key}) answered ${res.status}: ${JSON.stringify(a)}`);
      out[i] = { ...a, label: img.label, ms };
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  return out;
}

const rate = (xs: readonly Answer[], f: (a: Answer) => boolean) => (xs.length ? xs.filter(f).length / xs.length : 0);
const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : 0;
};
function stats(xs: readonly Answer[]) {
  return {
    requests: xs.length,
    accuracy: rate(xs, (a) => a.classIndex === a.label),
    edgeShare: rate(xs, (a) => !forwarded(a)),
    forwardShare: rate(xs, forwarded),
    degraded: xs.filter((a) => a.degraded).length,
    p50Ms: quantile(
      xs.map((a) => a.ms),
      0.5,
    ),
    p95Ms: quantile(
      xs.map((a) => a.ms),
      0.95,
    ),
  };
}
const versionsServed = (xs: readonly Answer[]) => {
  const c: Record<string, number> = {};
  for (const a of xs) c[a.thresholdVersion] = (c[a.thresholdVersion] ?? 0) + 1;
  return c;
};

// --- printing ---------------------------------------------------------------------------------------

const pct = (x: number | null | undefined, d = 1) =>
  x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(d)} %`;
function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
const mdTable = (head: string[], rows: (string | number)[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

// --- the dashboard's screenshot ---------------------------------------------------------------------

const VIEWPORT = { width: 1400, height: 1000 };
interface Shot {
  /** The PNG written, or null. */
  path: string | null;
  /** Why there is none (skipped, or what failed); null when it was written. */
  note: string | null;
  /** The dashboard's URL (without the token, which goes in its form). */
  url?: string;
  /** The custom range it was opened on (UTC wall times, minutes), covering the demo. */
  range?: { from: string; to: string };
  /** What the page showed when it was taken. */
  shown?: {
    requests: number | null;
    /** The document's width in CSS pixels: wider than the viewport when a table widens the page. */
    pageWidth: number;
    regions: string[];
    /** Per region, the regions table's texts of a few columns (budget, realised forward rate and cost, money cap). */
    cells: Record<string, Record<string, string>>;
    verified: string[];
    guardExits: Record<string, number>;
    canaryArms: Record<string, number>;
    events: Record<string, string[]>;
    status: string;
  };
  pageErrors?: string[];
}

/**
 * Opens the cost dashboard in Chromium over [from, to], gives it the admin token in its form (the
 * page keeps it in sessionStorage), waits until it has loaded (body data-state "ready", the regions
 * table has `keys`' rows, `verified`'s shadow-verification block and every key's history are drawn)
 * and writes a full-page screenshot to `path`.
 */
async function screenshot(path: string, from: number, to: number, keys: string[], verified: string): Promise<Shot> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Root cannot use Chromium's sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  try {
    const page = await browser.newPage({ viewport: VIEWPORT });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // tsx (esbuild's keepNames) wraps the named functions inside the callbacks below in __name(…),
    // which the page does not have.
    await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
    // The page reads its custom range's datetime-local values as UTC, to the minute.
    const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    const range = { from: minute(from), to: minute(to + 60_000) };
    const url = `${EDGE}/dashboard/?range=custom&from=${range.from}&to=${range.to}`;
    await page.goto(url);
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForFunction(
      ({ keys, verified }) => {
        const state = document.body.dataset.state;
        if (state === 'error') return true;
        if (state !== 'ready') return false;
        const q = (sel: string) => document.querySelector(sel) !== null;
        return (
          keys.every((k) => q(`#table-regions tr[data-region="${k}"]`) && q(`table[data-history="${k}"]`)) &&
          q(`[data-verification="${verified}"] table[data-guard="${verified}"]`)
        );
      },
      { keys, verified },
      { timeout: 60_000 },
    );
    const status = (await page.textContent('#status')) ?? '';
    if ((await page.getAttribute('body', 'data-state')) === 'error') throw new Error(`the dashboard says: ${status}`);
    // Chart.js sizes its canvases on the next frames.
    await page.evaluate(
      () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 300)))),
    );
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path, fullPage: true });
    const shown = await page.evaluate((keys) => {
      const all = (sel: string) => Array.from(document.querySelectorAll(sel));
      const per = (f: (k: string) => number) => Object.fromEntries(keys.map((k) => [k, f(k)]));
      return {
        requests: Number(document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') ?? Number.NaN),
        pageWidth: document.documentElement.scrollWidth,
        regions: all('#table-regions tr[data-region]').map((tr) => tr.getAttribute('data-region') ?? ''),
        cells: Object.fromEntries(
          keys.map((k) => [
            k,
            Object.fromEntries(
              ['budget', 'solvedForwardRate', 'forwardRate', 'costActual', 'maxUsdPerMillion', 'version'].map((c) => [
                c,
                document
                  .querySelector(`#table-regions tr[data-region="${k}"] td[data-col="${c}"]`)
                  ?.textContent?.trim() ?? '',
              ]),
            ),
          ]),
        ),
        verified: all('[data-verification]').map((d) => d.getAttribute('data-verification') ?? ''),
        guardExits: per((k) => all(`table[data-guard="${k}"] tr[data-exit]`).length),
        canaryArms: per((k) => all(`table[data-canary="${k}"] tr[data-arm]`).length),
        events: Object.fromEntries(
          keys.map((k) => [
            k,
            all(`table[data-history="${k}"] tr[data-version]`).map((tr) => tr.getAttribute('data-event') ?? 'operator'),
          ]),
        ),
      };
    }, keys);
    return {
      path,
      note: null,
      url,
      range,
      shown: { ...shown, requests: Number.isFinite(shown.requests) ? shown.requests : null, status },
      pageErrors,
    };
  } finally {
    await browser.close();
  }
}

/** demo.md's section on the screenshot: what it shows, from what the page showed. */
function dashboardMd(shot: Shot): string[] {
  const head = ['## 4. The cost dashboard', ''];
  if (!shot.path || !shot.shown || !shot.range) return [...head, `Screenshot: ${shot.note}.`, ''];
  const sh = shot.shown;
  const badge: Record<string, string> = {
    operator: 'operator write',
    resolve: 're-solve',
    guard: 'guard',
    'canary-promote': 'promote',
    'canary-rollback': 'rollback',
    cap: 'cap',
  };
  const region = (k: string) => {
    const c = sh.cells[k]!;
    return `${k} (${c.version}; budget ${c.budget}; re-solved ${c.solvedForwardRate || '—'}; forward rate measured ${c.forwardRate}; ${c.costActual} per million requests; money cap ${c.maxUsdPerMillion})`;
  };
  return [
    ...head,
    `![The cost dashboard after the demo](${relative(args.out, shot.path)})`,
    '',
    `\`${shot.path}\`: the whole page of ${EDGE}/dashboard/ in Chromium (a 1400 px wide viewport, full-page screenshot${sh.pageWidth > VIEWPORT.width ? `; the page lays out ${sh.pageWidth} px wide (the header's controls; wide tables scroll inside their sections)` : ''}), taken at the end of the run over the custom range ${shot.range.from} to ${shot.range.to} UTC, which covers the demo; the admin token was typed into the page's form (it keeps it in sessionStorage), and the shot was taken once the page said "${sh.status}" with the regions table, ${CNY}'s shadow-verification block and every region's history drawn. What it shows:`,
    '',
    `- the totals (${sh.requests ?? 'n/a'} requests, both regions), the decision, latency and exit charts, and USD per million requests against the counterfactuals;`,
    `- the regions table: ${[DMO, CNY].map(region).join('; ')};`,
    `- "Shadow verification and canaries": ${sh.verified.join(', ') || 'no region'}: the guard summary (guard, window, shadow share, the share needed to settle it, cost of shadowing) and the per-exit guard table (${sh.guardExits[CNY]} edge exits with their shadowed answers, disagreement interval and status). After the rollback ${CNY} has no canary, so ${sh.canaryArms[CNY] ? `its canary arms table still shows ${sh.canaryArms[CNY]} arms` : 'no canary arms table is drawn'}; its stable arm's shadow share 0.2 keeps the guard table filled. ${DMO} has no shadow share or canary, so it has no block there;`,
    `- the threshold history, newest first: ${[DMO, CNY].map((k) => `${k} ${sh.events[k]!.map((e) => badge[e] ?? e).join(', ')}`).join('; ')}, each controller version with its badge and reason.`,
    ...(shot.pageErrors?.length ? ['', `The page threw while loading: ${shot.pageErrors.join('; ')}.`] : []),
    '',
  ];
}

// --- the demo ---------------------------------------------------------------------------------------

let exitCode = 0;
try {
  if (cascade) {
    try {
      await waitForUp(`${EDGE}/healthz`, cascade, 240_000, 'npm start');
      await waitForUp(`http://127.0.0.1:${args.port + 1}/healthz`, cascade, 240_000, 'npm start');
    } catch (e) {
      const tail = logFile ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
      throw new Error(`${(e as Error).message}; npm start's last output:\n${tail}`);
    }
    log(`npm start is up at ${EDGE}`);
  } else {
    const h = await fetch(`${EDGE}/healthz`).catch((e: Error) => {
      throw new Error(`--url=${EDGE}: ${e.message}`);
    });
    if (!h.ok) throw new Error(`--url=${EDGE}: GET /healthz answered ${h.status}`);
    log(`using the cascade at ${EDGE}`);
  }

  const frontier = await api<FrontierView>('GET', '/admin/frontier');
  const defaultPoint = frontier.policies[frontier.defaultPolicy]!.find((p) => p.default);
  if (!defaultPoint) throw new Error(`the bundle ${frontier.bundle} has no default point on its frontier`);
  const policy = frontier.defaultPolicy as RegionSettings['policy'];
  const split = frontier.defaultSplit;
  log(
    `bundle ${frontier.bundle}: default policy ${policy}, split ${split} of ${frontier.segments} segments, default thresholds [${defaultPoint.thresholds.map((t) => t.toFixed(4)).join(', ')}]`,
  );

  // Real test images (the loader reads the whole package once).
  const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: 1000 } });
  const px = ds.test.images.length / ds.test.count;
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < ds.test.count; i++) byClass[ds.test.labels[i]!]!.push(i);
  const img = (i: number): Img => ({ pixels: ds.test.images.slice(i * px, (i + 1) * px), label: ds.test.labels[i]! });
  /** Classes `cs` interleaved, from per-class position `from` on. */
  const interleaved = (cs: readonly number[], from: number, n: number): Img[] =>
    Array.from({ length: n }, (_, k) => img(byClass[cs[k % cs.length]!]![from + Math.floor(k / cs.length)]!));
  const shifted = interleaved(SHIFTED, 0, 2 * args.images);
  const beforeImgs = shifted.slice(0, args.images);
  const afterImgs = shifted.slice(args.images);
  const ALL = Array.from({ length: 10 }, (_, c) => c);
  // Enough for 4 × minSamples (200) shadowed canary answers, after which a canary still unproven is rolled back.
  const canaryMax = Math.max(3 * args['canary-images'], 1000);
  // The canary region's images are each class's last ones (the re-solve's are its first).
  const canaryPool = interleaved(ALL, Math.min(...byClass.map((x) => x.length)) - Math.ceil(canaryMax / 10), canaryMax);

  // 1. Re-solve on shifted traffic.
  log(`1. ${DMO}: forward-rate budget ${BUDGET}, policy ${policy}, split ${split}, explore 1`);
  const dmoSettings: RegionSettings = { policy, maxForwardRate: BUDGET, split, encoding: 'f16', explore: 1 };
  const v1 = await putRegion(DMO, dmoSettings);
  log(`   v${v1.version}: validation point [${v1.resolved.thresholds?.map((t) => t.toFixed(4)).join(', ')}]`);
  const tBefore = performance.now();
  const before = await send(DMO, beforeImgs);
  const lastBefore = Date.now();
  log(
    `   ${before.length} pullover/coat/shirt images in ${((performance.now() - tBefore) / 1000).toFixed(1)} s: forward rate ${pct(rate(before, forwarded))}`,
  );
  // Explored scores go in batches of 100 or 10 s after a batch's first sample: wait that long, then
  // re-solve, retrying while the object has too few.
  await sleep(Math.max(0, lastBefore + REPORT_MS + 2000 - Date.now()));
  let v2: Entry | undefined;
  let resolveAttempts = 0;
  const resolveDeadline = Date.now() + 60_000;
  for (;;) {
    resolveAttempts++;
    try {
      v2 = await api<Entry>('POST', `/admin/regions/${DMO}/resolve`);
      break;
    } catch (e) {
      if (!(e instanceof HttpError && e.code === 'NOT_ENOUGH_SAMPLES') || Date.now() > resolveDeadline) throw e;
      log(`   resolve: ${e.message}; retrying`);
      await sleep(3000);
    }
  }
  const solved = v2.settings.solved as Solved;
  log(
    `   v${v2.version}: re-solved on ${solved.samples} explored inputs: forward rate ${pct(solved.forwardRate)} [${pct(solved.interval.lo)}, ${pct(solved.interval.hi)}], thresholds [${solved.thresholds.map((t) => t.toFixed(4)).join(', ')}]`,
  );
  if (solved.samples !== before.length)
    log(`   note: ${solved.samples} of ${before.length} explored inputs had been reported when it re-solved`);
  const after = await send(DMO, afterImgs);
  const afterRate = rate(after, forwarded);
  const within = Math.abs(afterRate - BUDGET) <= 0.02;
  log(
    `   ${after.length} fresh images: forward rate ${pct(afterRate)} (${within ? 'within' : 'NOT within'} ±2 points)`,
  );
  const dmoAnswers = [...before, ...after];

  // 2. A bad canary rolled back.
  log(`2. ${CNY}: stable at the default thresholds (${policy}), shadow 0.2, guard ${JSON.stringify(GUARD)}`);
  const stable: RegionSettings = {
    policy,
    thresholds: defaultPoint.thresholds,
    split,
    encoding: 'f16',
    shadow: 0.2,
    guard: GUARD,
  };
  const c1 = await putRegion(CNY, stable);
  const canarySpec = {
    thresholds: defaultPoint.thresholds.map(() => CANARY_THRESHOLD),
    share: 0.5,
    shadow: 1,
    minSamples: 50,
  };
  const c2 = await api<Entry>(
    'PUT',
    `/admin/regions/${CNY}`,
    { ...stable, canary: canarySpec },
    { 'if-match': `"${c1.version}"` },
  );
  log(`   v${c2.version}: canary at ${CANARY_THRESHOLD} on every exit, share 0.5, shadow 1, minSamples 50`);
  const canaryTag = `${CNY}@v${c2.version}+canary`;
  const cnyAnswers: Answer[] = [];
  let guard: Verification | undefined;
  let waitedMs = 0;
  let batch = args['canary-images'];
  while (cnyAnswers.length < canaryMax) {
    const more = await send(CNY, canaryPool.slice(cnyAnswers.length, cnyAnswers.length + batch));
    cnyAnswers.push(...more);
    const last = Date.now();
    const onCanary = cnyAnswers.filter((a) => a.thresholdVersion === canaryTag);
    // Shadow candidates: the canary's confident edge answers (every one is shadowed at shadow 1).
    const expected = onCanary.filter((a) => a.where === 'edge' && !a.degraded).length;
    log(
      `   ${cnyAnswers.length} images sent (${onCanary.length} on the canary, ${expected} of them confident edge answers); waiting for the shadow reports`,
    );
    // Reports: 50 shadow results or 10 s after a batch's first; each shadow runs after its response.
    const t0 = Date.now();
    let prev = '';
    let steady = 0;
    for (;;) {
      guard = await api<Verification>('GET', `/admin/regions/${CNY}/guard`);
      const c = guard.canary;
      const seen = `${c?.requests}/${c?.shadowed}/${guard.stable.requests}/${guard.stable.shadowed}`;
      steady = seen === prev ? steady + 1 : 0;
      prev = seen;
      const settled = Date.now() > last + REPORT_MS + 1500;
      const complete = c && c.requests >= onCanary.length && c.shadowed >= expected;
      if (settled && (complete || steady >= 3)) break;
      if (Date.now() - t0 > 90_000) {
        log('   the shadow reports stopped short of the answers; judging on what arrived');
        break;
      }
      await sleep(2000);
    }
    waitedMs += Date.now() - t0;
    const c = guard.canary!;
    log(
      `   guard: canary ${c.requests} requests, ${c.disagree}/${c.shadowed} shadowed disagree [${pct(c.interval.lo, 2)}, ${pct(c.interval.hi, 2)}]; stable ${guard.stable.requests} requests, ${guard.stable.disagree}/${guard.stable.shadowed} [${pct(guard.stable.interval.lo, 2)}, ${pct(guard.stable.interval.hi, 2)}]; verdict ${c.decision}`,
    );
    if (c.decision !== 'wait') break;
    batch = 150;
  }
  const verify = await api<Verification>('POST', `/admin/regions/${CNY}/verify`);
  const history = await api<{ versions: Entry[] }>('GET', `/admin/regions/${CNY}/history`);
  const newest = history.versions[history.versions.length - 1]!;
  const rolledBack = verify.action?.kind === 'canary-rollback' && newest.event?.kind === 'canary-rollback';
  log(`   verify: ${verify.canary?.decision}: ${verify.canary?.reason}`);
  log(`   history: v${newest.version} event ${JSON.stringify(newest.event ?? null)}`);

  // 3. Per region, with the cost from D1's counts (the isolate flushes its decisions in batches).
  const regions = [
    { key: DMO, answers: dmoAnswers },
    { key: CNY, answers: cnyAnswers },
  ];
  // A fresh cascade has nothing older; a running one may have had this region's traffic before the demo.
  const from = given ? startedAt : startedAt - 60_000;
  const metrics = async (key: string) =>
    await api<{ model: string; totals: MetricsTotals }>(
      'GET',
      `/v1/metrics?from=${from}&to=${Date.now() + 60_000}&region=${encodeURIComponent(key)}`,
    );
  const m: Record<string, { model: string; totals: MetricsTotals }> = {};
  // Decisions reach D1 within 10 s of the oldest unflushed one; counts that stop growing past that
  // were lost (a worker reload), and waiting longer would not bring them.
  const metricsDeadline = Date.now() + 90_000;
  for (const r of regions) {
    let last = -1;
    let since = Date.now();
    for (;;) {
      m[r.key] = await metrics(r.key);
      const n = m[r.key]!.totals.requests;
      if (n !== last) [last, since] = [n, Date.now()];
      if (n >= r.answers.length || Date.now() > metricsDeadline || Date.now() - since > 20_000) break;
      await sleep(2000);
    }
    if (m[r.key]!.totals.requests !== r.answers.length)
      log(`   note: D1 counts ${m[r.key]!.totals.requests} decisions for ${r.key}, ${r.answers.length} were answered`);
  }
  const summary = Object.fromEntries(
    regions.map((r) => {
      const t = m[r.key]!.totals;
      return [
        r.key,
        {
          ...stats(r.answers),
          d1: {
            requests: t.requests,
            edgeRate: t.edgeRate,
            forwarded: t.forwarded,
            degraded: t.degraded,
            errors: t.errors,
            latencyMs: t.latencyMs,
          },
          usdPerMillion: t.cost.actual.value,
        },
      ];
    }),
  );

  // 4. The cost dashboard at the end, over the demo's time range: both regions, the canary region's
  // shadow verification (after the rollback it has no canary, but shadow 0.2 keeps its per-exit guard
  // populated), and the history with the re-solve and rollback events.
  let shot: Shot;
  if (!SCREENSHOT) {
    shot = {
      path: null,
      note:
        given && args.screenshot === undefined
          ? 'not taken (--url; --screenshot=<png> takes one)'
          : 'skipped (--screenshot= empty)',
    };
  } else if (!existsSync(CHROMIUM)) {
    shot = { path: null, note: `skipped: no Chromium at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_PATH)` };
    log(`note: screenshot ${shot.note}`);
  } else {
    log(`4. the cost dashboard: screenshot to ${SCREENSHOT}`);
    try {
      shot = await screenshot(SCREENSHOT, from, Date.now(), [DMO, CNY], CNY);
      const sh = shot.shown!;
      log(
        `   ${sh.status} regions [${sh.regions.join(', ')}], shadow-verified [${sh.verified.join(', ')}] (${CNY}: ${sh.guardExits[CNY]} exits in its guard table), history ${regions.map((r) => `${r.key} [${sh.events[r.key]!.join(', ')}]`).join(', ')}`,
      );
      if (shot.pageErrors?.length) log(`   warning: the page threw: ${shot.pageErrors.join('; ')}`);
      const answered = regions.reduce((a, r) => a + r.answers.length, 0);
      if (sh.requests !== answered)
        log(`   note: the dashboard counts ${sh.requests} requests, ${answered} were answered`);
    } catch (e) {
      shot = { path: null, note: `failed: ${(e as Error).message.split('\n')[0]}` };
      log(`   screenshot ${shot.note}`);
    }
  }

  // wrangler dev reloads the worker when a file it watches changes: what the isolate held (explored
  // scores, shadow results, decisions not yet flushed) is lost then, so a reload during the run is said.
  let reloads: number | null = null;
  if (logFile) {
    const out = readFileSync(logFile, 'utf8');
    const firstWrite = out.indexOf(`PUT /admin/regions/${DMO}`);
    reloads = firstWrite < 0 ? 0 : out.slice(firstWrite).split('Reloading local server').length - 1;
    if (reloads)
      log(
        `warning: wrangler dev reloaded the worker ${reloads} time(s) during the run (a watched file changed); samples the isolate held then were lost`,
      );
  }
  const hardware = `${cpus().length}-core ${process.arch === 'x64' ? 'x86' : process.arch} VM`;
  const command = `npm run demo -- --images=${args.images} --canary-images=${args['canary-images']} --concurrency=${args.concurrency}${given ? ` --url=${given}` : ''}`;
  const sBefore = stats(before);
  const sAfter = stats(after);
  const result = {
    date: new Date().toISOString(),
    hardware,
    command,
    cascade: given ? `running at ${EDGE}` : `npm start started by the demo (fresh STATE_DIR), edge ${EDGE}`,
    model: frontier.bundle,
    metricsModel: m[DMO]!.model,
    bundle: {
      name: frontier.bundle,
      defaultPolicy: policy,
      defaultSplit: split,
      defaultThresholds: defaultPoint.thresholds,
    },
    concurrency: args.concurrency,
    workerReloadsDuringRun: reloads,
    seconds: (Date.now() - startedAt) / 1000,
    resolve: {
      region: DMO,
      settings: dmoSettings,
      budget: BUDGET,
      images:
        'Fashion-MNIST test split, pullover/coat/shirt only, interleaved; the after set disjoint from the before set',
      versions: { before: v1.version, solved: v2.version },
      validationThresholds: v1.resolved.thresholds,
      before: {
        sent: before.length,
        forwardRate: sBefore.forwardShare,
        ...sBefore,
        versionsServed: versionsServed(before),
      },
      solved: { ...solved, resolveAttempts, event: v2.event ?? null },
      after: { sent: after.length, forwardRate: sAfter.forwardShare, ...sAfter, versionsServed: versionsServed(after) },
      withinTwoPoints: within,
      reSolved: v2.version === v1.version + 1 && v2.resolved.from === 'live',
    },
    canary: {
      region: CNY,
      stable,
      canary: canarySpec,
      versions: { stable: c1.version, canary: c2.version, after: newest.version },
      images: 'Fashion-MNIST test split, every class, interleaved',
      sent: cnyAnswers.length,
      onCanary: cnyAnswers.filter((a) => a.thresholdVersion === canaryTag).length,
      waitedForReportsMs: waitedMs,
      guard: {
        stable: guard!.stable,
        canary: guard!.canary,
        exits: guard!.exits,
        shadowUsdPerMillion: guard!.shadowUsdPerMillion,
      },
      decision: verify.canary?.decision ?? null,
      reason: verify.canary?.reason ?? null,
      action: verify.action,
      event: newest.event ?? null,
      history: history.versions.map((e) => ({
        version: e.version,
        event: e.event ?? null,
        canary: !!e.settings.canary,
      })),
      rolledBack,
    },
    summary,
    dashboard: shot,
  };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, 'demo.json'), `${JSON.stringify(result, null, 2)}\n`);

  const rfHead = ['forward rate', 'value', 'measured on'];
  const rfRows = [
    ['budget', pct(BUDGET), `${DMO}'s maxForwardRate`],
    ['before (validation point)', pct(sBefore.forwardShare), `${before.length} shifted test images, v${v1.version}`],
    [
      'solved (Wilson 95 %)',
      `${pct(solved.forwardRate)} [${pct(solved.interval.lo)}, ${pct(solved.interval.hi)}]`,
      `the ${solved.samples} explored inputs above, v${v2.version}`,
    ],
    ['after', pct(sAfter.forwardShare), `${after.length} fresh shifted test images, v${v2.version}`],
    [
      'within ±2 points',
      within ? 'yes' : 'NO',
      `after is ${(Math.abs(sAfter.forwardShare - BUDGET) * 100).toFixed(2)} points from the budget`,
    ],
  ];
  const sumHead = ['region', 'requests', 'accuracy', 'edge share', 'forward share', 'p50 latency', 'USD / M requests'];
  const sumRows = regions.map((r) => {
    const s = summary[r.key]!;
    return [
      r.key,
      s.requests,
      pct(s.accuracy, 2),
      pct(s.edgeShare),
      pct(s.forwardShare),
      `${s.p50Ms.toFixed(1)} ms`,
      s.usdPerMillion === null ? 'n/a' : `$${s.usdPerMillion.toFixed(3)}`,
    ];
  });
  const cg = guard!.canary!;
  const canaryLines = [
    `canary: ${result.canary.onCanary}/${cnyAnswers.length} requests on v${c2.version}'s canary; ${cg.disagree}/${cg.shadowed} of its shadowed answers disagreed with the full model [${pct(cg.interval.lo, 2)}, ${pct(cg.interval.hi, 2)}] (stable: ${guard!.stable.disagree}/${guard!.stable.shadowed})`,
    `decision: ${verify.canary?.decision}`,
    `reason: ${verify.canary?.reason}`,
    `v${newest.version} event: ${JSON.stringify(newest.event ?? null)}`,
  ];
  console.log(`\n1. Re-solve on shifted traffic (${DMO})\n${table(rfHead, rfRows)}`);
  console.log(`\n2. A bad canary (${CNY})\n${canaryLines.join('\n')}`);
  console.log(`\n3. Per region\n${table(sumHead, sumRows)}\n`);

  const md = [
    '# Demo: the per-region controller on the local cascade',
    '',
    `${result.date.slice(0, 10)}, ${hardware}; \`${command}\` (${result.seconds.toFixed(0)} s in all, npm start's start-up included). ${result.cascade}; bundle ${frontier.bundle}: default policy ${policy}, split ${split} of ${frontier.segments} segments. Every image is a real Fashion-MNIST test image sent as raw u8 with the local region header (\`x-cascade-region\`), ${args.concurrency} in flight; answers are judged against the dataset's labels.`,
    '',
    `Worker reloads by wrangler dev during the run: ${reloads ?? 'not known (--url)'}.`,
    '',
    ...(reloads
      ? [
          `wrangler dev reloaded the worker ${reloads} time(s) during the run (a file it watches changed); what the isolate held then was lost. What arrived: ${solved.samples} of ${before.length} explored inputs, D1 decisions ${regions.map((r) => `${r.key} ${m[r.key]!.totals.requests} of ${r.answers.length}`).join(', ')}.`,
          '',
        ]
      : []),
    `## 1. A forward-rate budget re-solved on shifted traffic (${DMO})`,
    '',
    `Settings: \`${JSON.stringify(dmoSettings)}\`. Traffic: only pullover, coat and shirt (classes 2, 4, 6, interleaved), the classes the early exits are least sure of: at the validation point the region forwards more than its budget. Every request was explored (its scores at every edge exit reported to the region's Durable Object); POST /admin/regions/${DMO}/resolve re-solved on them after the isolate's reports arrived (${resolveAttempts} attempt${resolveAttempts > 1 ? 's' : ''}); then ${after.length} fresh images of the same classes, disjoint from the first ${before.length}.`,
    '',
    mdTable(rfHead, rfRows),
    '',
    `The after rate's binomial standard error on ${after.length} images is ${(Math.sqrt((BUDGET * (1 - BUDGET)) / after.length) * 100).toFixed(2)} points (at the budget), so ±2 points is ±${(0.02 / Math.sqrt((BUDGET * (1 - BUDGET)) / after.length)).toFixed(1)} standard errors of the fresh sample alone; the solve's own sample adds as much again.`,
    '',
    `Re-solved thresholds: [${solved.thresholds.map((t) => t.toFixed(4)).join(', ')}] (validation point [${v1.resolved.thresholds?.map((t) => t.toFixed(4)).join(', ')}]); expected accuracy ${pct(solved.expectedAccuracy, 2)}, expected cost ${solved.expectedCost.toFixed(4)} of the backbone's MACs (validation, along the frontier path), met: ${solved.met}. Version ${v2.version} event: ${v2.event?.reason ?? 'none'}.`,
    '',
    `## 2. A bad canary rolled back (${CNY})`,
    '',
    `Stable: the bundle's default thresholds (policy ${policy}), shadow 0.2, guard \`${JSON.stringify(GUARD)}\`. Canary: \`${JSON.stringify(canarySpec)}\`. ${cnyAnswers.length} test images of every class (interleaved) were sent${cnyAnswers.length > args['canary-images'] ? ` (${args['canary-images']}, then more while the verdict was still "wait")` : ''}; the demo waited for the shadow reports (GET …/guard until the arms' counts matched the answers or stopped growing), then POST /admin/regions/${CNY}/verify.`,
    '',
    mdTable(
      ['arm', 'requests', 'forward rate', 'shadowed', 'disagree', `${GUARD.confidence * 100} % interval`, 'status'],
      [['stable', guard!.stable] as const, ['canary', cg] as const].map(([n, a]) => [
        n,
        a.requests,
        pct(a.forwardRate),
        a.shadowed,
        a.disagree,
        `[${pct(a.interval.lo, 2)}, ${pct(a.interval.hi, 2)}]`,
        a.status,
      ]),
    ),
    '',
    `- decision: **${verify.canary?.decision}**`,
    `- reason: ${verify.canary?.reason}`,
    `- new version v${newest.version}, event (GET /admin/regions/${CNY}/history): \`${JSON.stringify(newest.event ?? null)}\``,
    `- history: ${history.versions.map((e) => `v${e.version} ${e.event?.kind ?? (e.settings.canary ? 'operator (canary)' : 'operator')}`).join(', ')}`,
    '',
    '## 3. Per region',
    '',
    mdTable(sumHead, sumRows),
    '',
    `Requests, accuracy (against the Fashion-MNIST labels), edge and forward shares and p50 latency (client-side: request sent to answer parsed, loopback, ${args.concurrency} in flight) are over every answer the demo received in the region (${DMO}: before and after the re-solve; ${CNY}: both arms). A forward is an answer from the backend or degraded after a forward. USD per million requests is GET /v1/metrics?region=…'s cost.actual (core/cost-model.ts over D1's decision counts: ${regions.map((r) => `${r.key} ${m[r.key]!.totals.requests}`).join(', ')}); shadow verification's backend calls are not in it (GET …/guard prices them: $${guard!.shadowUsdPerMillion?.toFixed(4) ?? 'n/a'}/M at ${CNY}'s shadow share 0.2).`,
    '',
    ...dashboardMd(shot),
  ].join('\n');
  writeFileSync(join(args.out, 'demo.md'), md);
  log(
    `wrote ${join(args.out, 'demo.json')} and ${join(args.out, 'demo.md')}${shot.path ? ` (screenshot ${shot.path})` : ''}`,
  );
  if (!result.resolve.reSolved || !rolledBack || shot.note?.startsWith('failed')) exitCode = 1;
} catch (e) {
  if (stopping) await new Promise(() => undefined); // the signal handler exits
  console.error(`demo: ${(e as Error).message}`);
  exitCode = 1;
} finally {
  await shutdown();
}
process.exit(exitCode);
