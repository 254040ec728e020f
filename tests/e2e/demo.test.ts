/**
 * `npm run demo` end to end at a small size (scripts/demo.ts): it starts npm start itself (fresh
 * state, its own ports), re-solves a forward-rate budget on shifted real test images, rolls back a
 * bad canary through shadow verification, and writes its results. Asserts the structure of
 * demo.json: a live re-solve happened (a new version with settings.solved, on the explored inputs),
 * the canary was rolled back with its reason in the history, the per-region summary counts every
 * answer, and the dashboard's screenshot at the end (to test-artifacts/demo-dashboard.png, not over
 * the committed one; when Chromium is there) was taken with both regions, the canary region's guard
 * and the rollback in its history drawn. The forward rate's ±2 points is not asserted: on 300 images
 * it is within sampling noise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Free of the other e2e tests' and benches' ports (8790/8791, 8793-8799, 8810/8811, 8820/8821) and
// of the demo's own default (8830/8831).
const PORT = 8832;
const IMAGES = 300;
const out = mkdtempSync(join(tmpdir(), 'demo-e2e-'));
// The dashboard's screenshot goes with the other tests' (not over the committed bench/results one).
const SHOT = join('test-artifacts', 'demo-dashboard.png');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let demo: ChildProcess | undefined;

afterAll(async () => {
  // The demo stops its npm start on SIGTERM.
  if (demo && demo.exitCode === null) {
    demo.kill('SIGTERM');
    await new Promise((r) => demo!.once('exit', r));
  }
  rmSync(out, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('re-solves on shifted traffic, rolls back the bad canary, and writes demo.json and demo.md', async () => {
    let output = '';
    mkdirSync('test-artifacts', { recursive: true });
    rmSync(SHOT, { force: true });
    const code = await new Promise<number | null>((resolve) => {
      demo = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'scripts/demo.ts',
          `--images=${IMAGES}`,
          `--port=${PORT}`,
          `--out=${out}`,
          `--screenshot=${SHOT}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      demo.stdout!.on('data', (d) => {
        output += d;
      });
      demo.stderr!.on('data', (d) => {
        output += d;
      });
      demo.on('exit', resolve);
    });
    expect(code, output).toBe(0);
    expect(existsSync(join(out, 'demo.md'))).toBe(true);
    const r = JSON.parse(readFileSync(join(out, 'demo.json'), 'utf8'));

    expect(r.hardware).toMatch(/-core .* VM$/);
    expect(r.resolve.reSolved).toBe(true);
    expect(r.resolve.versions.solved).toBe(r.resolve.versions.before + 1);
    expect(r.resolve.before.sent).toBe(IMAGES);
    expect(r.resolve.after.sent).toBe(IMAGES);
    expect(r.resolve.solved.samples).toBeGreaterThanOrEqual(200);
    expect(r.resolve.solved.samples).toBeLessThanOrEqual(IMAGES);
    expect(r.resolve.solved.interval.lo).toBeLessThanOrEqual(r.resolve.solved.forwardRate);
    expect(r.resolve.solved.interval.hi).toBeGreaterThanOrEqual(r.resolve.solved.forwardRate);
    expect(r.resolve.solved.event.kind).toBe('resolve');
    // The validation point forwards more of these hard classes than the budget allows.
    expect(r.resolve.before.forwardRate).toBeGreaterThan(r.resolve.budget);
    expect(typeof r.resolve.withinTwoPoints).toBe('boolean');

    expect(r.canary.rolledBack).toBe(true);
    expect(r.canary.decision).toBe('rollback');
    expect(r.canary.reason).toMatch(/canary/);
    expect(r.canary.event.kind).toBe('canary-rollback');
    expect(r.canary.event.reason).toContain(r.canary.reason);
    expect(r.canary.history.map((h: { event: { kind: string } | null }) => h.event?.kind ?? null)).toEqual([
      null,
      null,
      'canary-rollback',
    ]);

    // The dashboard at the end: both regions, the canary region's guard, the rollback in its history.
    if (existsSync(CHROMIUM)) {
      expect(r.dashboard.note, output).toBeNull();
      expect(r.dashboard.path).toBe(SHOT);
      expect(readFileSync(SHOT).subarray(1, 4).toString()).toBe('PNG');
      // npm start seeds the local "default" region, which the dashboard lists too.
      expect([...r.dashboard.shown.regions].sort()).toEqual(['colo:CNY', 'colo:DMO', 'default']);
      expect(r.dashboard.shown.verified).toEqual(['colo:CNY']);
      expect(r.dashboard.shown.events['colo:CNY']).toEqual(['canary-rollback', 'operator', 'operator']);
      expect(r.dashboard.shown.events['colo:DMO']).toEqual(['resolve', 'operator']);
      expect(r.dashboard.pageErrors).toEqual([]);
      expect(readFileSync(join(out, 'demo.md'), 'utf8')).toContain('## 4. The cost dashboard');
    } else {
      expect(r.dashboard.note).toMatch(/no Chromium/);
    }

    for (const [key, sent] of [
      ['colo:DMO', 2 * IMAGES],
      ['colo:CNY', r.canary.sent],
    ] as const) {
      const s = r.summary[key];
      expect(s.requests).toBe(sent);
      expect(s.d1.requests).toBe(sent);
      expect(s.edgeShare + s.forwardShare).toBeCloseTo(1, 9);
      expect(s.accuracy).toBeGreaterThan(0.5);
      expect(s.p50Ms).toBeGreaterThan(0);
      expect(s.usdPerMillion).toBeGreaterThan(0);
    }
  }, 180_000);
});
