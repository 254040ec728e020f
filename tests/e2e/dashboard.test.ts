/**
 * The issue's "done means" for the operators' view, end to end: `npm start` (the whole cascade: the
 * backend, wrangler dev with local KV, D1 and Durable Objects, in a fresh STATE_DIR), two regions set
 * by `npm run ops` to different budgets, real Fashion-MNIST test images sent from each through the
 * local region header, then the cost dashboard in real Chromium (Debian's, driven by playwright-core):
 * it loads, shows the two regions' different edge-exit rates and costs, and every number it shows
 * equals `npm run ops -- metrics --json`'s, whose counts equal the requests sent. The region filter
 * and the time range change what it shows; a refused token says so. Screenshots are kept in
 * test-artifacts/ (dashboard.png, dashboard-region.png).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../../training/data/fashion-mnist.js';
import type { Metrics, RegionView } from '../../workers/edge/dashboard/src/api.js';
import { count, ms, pct, usd } from '../../workers/edge/dashboard/src/format.js';
import { exitDistribution } from '../../workers/edge/dashboard/src/view.js';
import { waitForUp } from '../helpers/wait-for.js';

// Free of the other e2e tests' and benches' ports (8793/8794, 8795, 8796, 8797, 8798/8799).
const PORT = 8790;
const BACKEND_PORT = 8791;
const EDGE = `http://127.0.0.1:${PORT}`;
const ADMIN = 'dev-admin-token'; // npm start's
const CHEAP = 'colo:DSA';
const DEAR = 'colo:DSB';
const PER_REGION = 60;
const ARTIFACTS = 'test-artifacts';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const state = mkdtempSync(join(tmpdir(), 'dashboard-e2e-state-'));
let cascade: ChildProcess;
let browser: Browser;
const t0 = Date.now();

/** `npm run ops -- …` against this cascade. */
function ops(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/ops.ts', ...args],
      { env: { ...process.env, EDGE_URL: EDGE, ADMIN_TOKEN: ADMIN }, timeout: 60_000 },
      (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}
async function opsJson<T>(args: string[]): Promise<T> {
  const r = await ops([...args, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as T;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set CHROMIUM_PATH`);
  // npm start itself, in its own process group (npm, tsx, the backend and wrangler stop together).
  cascade = spawn('npm', ['start'], {
    env: { ...process.env, PORT: String(PORT), BACKEND_PORT: String(BACKEND_PORT), STATE_DIR: state },
    stdio: 'ignore',
    detached: true,
  });
  await waitForUp(`${EDGE}/healthz`, cascade, 180_000, 'npm start');
  await waitForUp(`http://127.0.0.1:${BACKEND_PORT}/healthz`, cascade, 180_000, 'npm start');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Root cannot use Chromium's sandbox (CI runs as root).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (cascade?.pid) {
    try {
      process.kill(-cascade.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
  rmSync(state, { recursive: true, force: true });
});

async function openDashboard(token: string, query = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${EDGE}/dashboard${query}`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await settled(page);
  expect(errors).toEqual([]);
  return page;
}
const settled = (page: Page) =>
  page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 30_000 });
const kpi = async (page: Page, key: string) => {
  const card = page.locator(`[data-kpi="${key}"]`);
  return { value: await card.getAttribute('data-value'), text: await card.locator('.value').textContent() };
};
const regionCell = async (page: Page, region: string, col: string) => {
  const td = page.locator(`#table-regions tr[data-region="${region}"] td[data-col="${col}"]`);
  return { value: await td.getAttribute('data-value'), text: await td.textContent() };
};
const num = (s: string | null) => (s === null ? null : Number(s));

describe('the cost dashboard on npm start, in Chromium', () => {
  const sent: Record<string, number> = { [CHEAP]: 0, [DEAR]: 0 };

  it('two regions at different budgets, real test images from each: ops metrics counts every request', async () => {
    // Two budgets far apart on the default policy's frontier: most inputs exit at the edge in one.
    expect((await ops(['budget', 'set', CHEAP, '0.08'])).code).toBe(0);
    expect((await ops(['budget', 'set', DEAR, '0.5'])).code).toBe(0);
    const ds = loadFashionMnist({ limitPerClass: { train: 1, val: 1, test: PER_REGION / 5 } });
    expect(ds.test.count).toBe(2 * PER_REGION);
    const px = ds.test.images.length / ds.test.count;
    const send = async (i: number) => {
      const region = i % 2 === 0 ? CHEAP : DEAR;
      const res = await fetch(`${EDGE}/v1/classify`, {
        method: 'POST',
        body: ds.test.images.slice(i * px, (i + 1) * px),
        headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': region },
      });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.arrayBuffer();
      sent[region]!++;
    };
    for (let i = 0; i < ds.test.count; i += 4) await Promise.all([0, 1, 2, 3].map((k) => send(i + k)));

    // Each isolate flushes its counts 10 s after the first unflushed decision (METRICS_FLUSH_SECONDS).
    let m: Metrics | undefined;
    const start = Date.now();
    while (Date.now() - start < 60_000) {
      m = await opsJson<Metrics>(['metrics']);
      if (m.totals.requests >= 2 * PER_REGION) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(m!.totals.requests).toBe(2 * PER_REGION);
    expect(m!.byRegion[CHEAP]!.requests).toBe(sent[CHEAP]);
    expect(m!.byRegion[DEAR]!.requests).toBe(sent[DEAR]);
    const t = m!.totals;
    expect(t.edge + t.forwarded + t.degraded + t.errors).toBe(t.requests);
    expect(t.errors).toBe(0);
  }, 180_000);

  it('shows the same totals, per-region rates and costs as ops metrics --json, and the two regions differ', async () => {
    const m = await opsJson<Metrics>(['metrics']);
    const page = await openDashboard(ADMIN);
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');

    const requests = await kpi(page, 'requests');
    expect(num(requests.value)).toBe(m.totals.requests);
    expect(num(requests.value)).toBe(2 * PER_REGION);
    expect(requests.text).toBe(count(m.totals.requests));
    const edge = await kpi(page, 'edgeRate');
    expect(num(edge.value)).toBe(m.totals.edgeRate);
    expect(edge.text).toBe(pct(m.totals.edgeRate));
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const k = await kpi(page, q);
      expect(num(k.value), q).toBe(m.totals.latencyMs[q]);
      expect(k.text).toBe(ms(m.totals.latencyMs[q]));
    }
    const cost = await kpi(page, 'costActual');
    expect(num(cost.value)).toBe(m.totals.cost.actual.value);
    expect(cost.text).toBe(usd(m.totals.cost.actual.value));
    expect(await page.locator('[data-kpi="costActual"] .unit').textContent()).toBe('USD per million requests');

    // Per region: the rates and costs the API gives, and the two regions' differ.
    for (const r of [CHEAP, DEAR]) {
      const api = m.byRegion[r]!;
      expect(num((await regionCell(page, r, 'requests')).value)).toBe(api.requests);
      const rate = await regionCell(page, r, 'edgeRate');
      expect(num(rate.value)).toBe(api.edgeRate);
      expect(rate.text).toBe(pct(api.edgeRate));
      expect(num((await regionCell(page, r, 'forwarded')).value)).toBe(api.forwarded);
      const c = await regionCell(page, r, 'costActual');
      expect(num(c.value)).toBe(api.cost.actual.value);
      expect(c.text).toBe(usd(api.cost.actual.value));
      expect(num((await regionCell(page, r, 'version')).value)).toBe(1);
    }
    const cheap = m.byRegion[CHEAP]!;
    const dear = m.byRegion[DEAR]!;
    expect(cheap.edgeRate!).toBeGreaterThan(dear.edgeRate! + 0.05);
    expect(cheap.cost.actual.value!).toBeLessThan(dear.cost.actual.value!);

    // $/M against every counterfactual, each with its unit.
    for (const k of ['allOnGpu', 'fullModelAtEdge', 'workersAiResnet50'] as const) {
      const row = page.locator(`#table-cost tr[data-cost="${k}"]`);
      expect(num(await row.locator('td[data-col="value"]').getAttribute('data-value'))).toBe(
        m.totals.cost.counterfactuals[k].value,
      );
      expect(await row.locator('td[data-col="unit"]').textContent()).toBe(m.totals.cost.counterfactuals[k].unit);
    }

    // The exit distribution sums to the answered requests, exit by exit as the API counts them.
    const exitCounts = await page
      .locator('#table-exits tr[data-exit] td[data-col="count"]')
      .evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value'))));
    const f = await opsJson<{ exits: number }>(['frontier']);
    expect(exitCounts).toEqual(exitDistribution(m.totals, f.exits).map((x) => x.count));
    expect(exitCounts.reduce((a, b) => a + b, 0)).toBe(m.totals.requests - m.totals.errors);

    // Each region's operating point on the frontier is the one its budget resolved to.
    for (const r of [CHEAP, DEAR]) {
      const entry = await opsJson<RegionView>(['regions', 'get', r]);
      const idx = await page
        .locator(`#table-points tr[data-region="${r}"] td[data-col="index"]`)
        .getAttribute('data-value');
      expect(num(idx)).toBe(entry.resolved.point!.index);
      expect(await page.locator(`table[data-history="${r}"] tr[data-version]`).count()).toBe(1);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    await page.close();
  }, 120_000);

  it('the region filter shows one region, equal to ops metrics --region', async () => {
    const page = await openDashboard(ADMIN);
    await page.selectOption('#region', CHEAP);
    await page.waitForFunction(
      (n) =>
        document.body.dataset.state === 'ready' &&
        document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n),
      sent[CHEAP],
      { timeout: 30_000 },
    );
    const m = await opsJson<Metrics>(['metrics', `--region=${CHEAP}`]);
    expect(m.totals.requests).toBe(sent[CHEAP]);
    expect(num((await kpi(page, 'edgeRate')).value)).toBe(m.totals.edgeRate);
    expect(num((await kpi(page, 'costActual')).value)).toBe(m.totals.cost.actual.value);
    expect(await page.locator('#table-regions tr[data-region]').count()).toBe(1);
    expect(new URL(page.url()).searchParams.get('region')).toBe(CHEAP);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-region.png'), fullPage: true });
    // The filter is in the URL: a reload shows the same region.
    await page.reload();
    await settled(page);
    expect(num((await kpi(page, 'requests')).value)).toBe(sent[CHEAP]);
    await page.close();
  }, 120_000);

  it('a time range before the traffic shows none of it', async () => {
    const local = (ms: number) => new Date(ms).toISOString().slice(0, 16); // datetime-local, read as UTC
    const page = await openDashboard(
      ADMIN,
      `?range=custom&from=${local(t0 - 3 * 3_600_000)}&to=${local(t0 - 2 * 3_600_000)}`,
    );
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(num((await kpi(page, 'requests')).value)).toBe(0);
    await page.selectOption('#range', '1h');
    await page.waitForFunction(
      (n) =>
        document.body.dataset.state === 'ready' &&
        document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n),
      2 * PER_REGION,
      { timeout: 30_000 },
    );
    await page.close();
  }, 60_000);

  it('a refused token is shown as such, with nothing drawn', async () => {
    const page = await openDashboard('not-the-token');
    expect(await page.getAttribute('body', 'data-state')).toBe('error');
    expect(await page.textContent('#status')).toMatch(/UNAUTHORIZED|token/i);
    expect(await page.locator('[data-kpi]').count()).toBe(0);
    await page.close();
  }, 60_000);

  // Last: its requests would change the counts the tests above compare.
  it("the README's quick-start curl lines work as written (on this test's port)", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = readme.slice(readme.indexOf('## Quick start')).match(/```bash\n(curl[\s\S]*?)```/);
    expect(block, 'a ```bash block of curl lines under Quick start').not.toBeNull();
    const lines = block![1]!.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const classes = JSON.parse(readFileSync('models/fashion-resnet/manifest.json', 'utf8')).classes as string[];
    for (const line of lines) {
      expect(line).toContain('http://127.0.0.1:8787/');
      const out = await new Promise<string>((resolve, reject) =>
        execFile('bash', ['-c', line.replaceAll('127.0.0.1:8787', `127.0.0.1:${PORT}`)], (e, stdout, stderr) =>
          e ? reject(new Error(`${line}: ${e.message} ${stderr}`)) : resolve(stdout),
        ),
      );
      const j = JSON.parse(out) as Record<string, unknown>;
      if (line.includes('/v1/classify')) {
        expect(classes, line).toContain(j.label);
        expect(['edge', 'backend'], line).toContain(j.where);
        expect(j.degraded, line).toBe(false);
      } else if (line.includes('/readyz')) expect(j.ready, line).toBe(true);
      else expect(j.openapi, line).toMatch(/^3\./);
    }
  }, 60_000);
});
