/**
 * The per-region controller in workerd with the real Durable Object and the real edge model: a
 * region whose traffic shifts to harder inputs (only pullover, coat and shirt test images) forwards
 * far more than its forward-rate budget at the validation point; its explored inputs (every request
 * here: explore 1) are reported to the object, POST /admin/regions/{key}/resolve re-solves on them,
 * and on fresh images of the same classes the realised forward rate is within 2 points of the budget.
 * No sleeps: explored scores are flushed on demand (flushScores) once the inference queue is idle.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Resolved } from '../../core/operating-points.js';
import type { RegionSettings } from '../../core/regions.js';
import { flushScores } from '../../workers/edge/src/controller/scores.js';
import { edgeModel } from '../../workers/edge/src/model/edge-model.js';
import { admin } from './admin-fetch.js';
import { SPLIT } from './bundle.js';

type Entry = { key: string; version: number; settings: RegionSettings; resolved: Resolved };

const raw = Uint8Array.from(atob(env.TEST_SHIFTED_IMAGES.base64), (ch) => ch.charCodeAt(0));
const PX = 784;
const COUNT = env.TEST_SHIFTED_IMAGES.count;
/** Images solved on, then fresh ones of the same classes measured on (disjoint halves). */
const HALF = Math.min(1200, Math.floor(COUNT / 2));
const BUDGET = 0.25;

/** Sends images [from, to) from `region`; the share the edge did not answer (forwarded, or degraded after a forward). */
async function forwardRate(region: string, from: number, to: number): Promise<number> {
  let forwarded = 0;
  for (let i = from; i < to; i++) {
    const res = await SELF.fetch('https://edge.test/v1/classify', {
      method: 'POST',
      body: raw.slice(i * PX, (i + 1) * PX),
      headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': region },
    });
    expect(res.status).toBe(200);
    const a = await res.json<{ where: string; degraded: boolean; reason?: string }>();
    if (a.where === 'backend' || (a.degraded && a.reason !== 'thresholds_stale')) forwarded++;
  }
  return forwarded / (to - from);
}

/** Waits until the explorations queued behind the requests have run, then reports their scores. */
async function reportExplored(): Promise<void> {
  await edgeModel().exclusive(async () => undefined);
  await Promise.resolve();
  await flushScores(env);
}

describe('controller: a forward-rate budget re-solved on shifted traffic', () => {
  it('keeps the budget within 2 points on fresh images after one re-solve', async () => {
    const key = 'colo:CTL';
    const settings = { policy: 'eenet', maxForwardRate: BUDGET, split: SPLIT, encoding: 'f16', explore: 1 };
    const put = await admin(`/regions/${key}`, { method: 'PUT', body: JSON.stringify(settings) });
    expect(put.status, await put.clone().text()).toBe(201);
    const v1 = await put.json<Entry>();
    expect(v1.resolved.from).toBe('forwardRate');

    const before = await forwardRate(key, 0, HALF);
    await reportExplored();
    const res = await admin(`/regions/${key}/resolve`, { method: 'POST' });
    expect(res.status, await res.clone().text()).toBe(200);
    const v2 = await res.json<Entry>();
    expect(v2.version).toBe(v1.version + 1);
    expect(v2.resolved.from).toBe('live');
    const solved = v2.settings.solved!;
    expect(solved.samples).toBe(HALF);
    expect(solved.met).toBe(true);
    expect(solved.forwardRate).toBeLessThanOrEqual(BUDGET);
    expect(solved.interval.lo).toBeLessThanOrEqual(solved.forwardRate);
    expect(v2.resolved.thresholds).toEqual(solved.thresholds);

    const after = await forwardRate(key, HALF, 2 * HALF);
    console.log(
      `controller test: budget ${BUDGET}; validation point on shifted traffic ${before.toFixed(4)}; re-solved on ${HALF}: ${solved.forwardRate.toFixed(4)} [${solved.interval.lo.toFixed(4)}, ${solved.interval.hi.toFixed(4)}]; fresh ${HALF}: ${after.toFixed(4)}`,
    );
    expect(before).toBeGreaterThan(BUDGET + 0.02);
    expect(Math.abs(after - BUDGET)).toBeLessThanOrEqual(0.02);

    // The history keeps both versions; the old one can be rolled back to.
    const h = await (await admin(`/regions/${key}/history`)).json<{ versions: Entry[] }>();
    expect(h.versions.map((v) => v.version)).toEqual([v1.version, v2.version]);
    expect(h.versions[0]!.settings.solved).toBeUndefined();
  }, 300_000);

  it('refuses what it cannot re-solve, with the reason', async () => {
    expect((await admin('/regions/colo:CTN/resolve', { method: 'POST' })).status).toBe(404);
    const thresholds = { policy: 'eenet', thresholds: [0.9, 0.9, 0.9, 0.9], split: SPLIT, encoding: 'f16' };
    await admin('/regions/colo:CTT', { method: 'PUT', body: JSON.stringify(thresholds) });
    const a = await admin('/regions/colo:CTT/resolve', { method: 'POST' });
    expect(a.status).toBe(409);
    expect((await a.json<{ code: string }>()).code).toBe('NO_FORWARD_RATE_BUDGET');
    const quiet = { policy: 'eenet', maxForwardRate: 0.2, split: SPLIT, encoding: 'f16', explore: 0 };
    await admin('/regions/colo:CTQ', { method: 'PUT', body: JSON.stringify(quiet) });
    const b = await admin('/regions/colo:CTQ/resolve', { method: 'POST' });
    expect(b.status).toBe(409);
    expect(await b.json()).toMatchObject({ code: 'NOT_ENOUGH_SAMPLES' });
    const bad = await admin('/regions/colo:CTQ/resolve?windowMinutes=0', { method: 'POST' });
    expect(bad.status).toBe(400);
    // solved without a forward-rate budget is refused at write time.
    const mixed = await admin('/regions/colo:CTM', {
      method: 'PUT',
      body: JSON.stringify({ ...thresholds, solved: { thresholds: [0.5, 0.5, 0.5, 0.5] } }),
    });
    expect(mixed.status).toBe(400);
  });
});
