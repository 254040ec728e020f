/**
 * The controller's shadow verification, canary verdicts and money cap, in workerd with the real
 * Durable Object, the real edge model and real pullover/coat/shirt test images. Shadow forwards
 * reach the fake backend with a `shadow-` request id, which answers them with the shipped bundle's
 * real deeper segments (onnxruntime-node, tests/helpers/fake-backend.ts), so disagreement is the
 * model's own. No sleeps: the requests' waitUntil work is awaited, reports are flushed on demand, and
 * the controller's clock is the cron's scheduledTime.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { RegionEntry, RegionSettings } from '../../core/regions.js';
import { CAP_TARGET } from '../../workers/edge/src/controller/cap.js';
import { flushShadow, shadowsSettled } from '../../workers/edge/src/controller/shadow.js';
import worker from '../../workers/edge/src/index.js';
import { flushDecisions } from '../../workers/edge/src/metrics/record.js';
import { admin, TOKEN } from './admin-fetch.js';
import { every, SPLIT } from './bundle.js';

type Entry = RegionEntry & { key: string; resolved: { thresholds: number[] } };
type Answer = { where: string; degraded: boolean; reason?: string; thresholdVersion: string; exit: number };
interface Verification {
  version: number;
  exits: {
    exit: number;
    threshold: number;
    n: number;
    disagree: number;
    status: string;
    interval: { lo: number; hi: number };
  }[];
  neededShadowShare: number | null;
  shadowUsdPerMillion: number | null;
  stable: { requests: number; shadowed: number };
  canary?: { requests: number; shadowed: number; disagree: number; decision: string; reason: string };
  action: { kind: string; reason: string; version: number | null } | null;
}

const raw = Uint8Array.from(atob(env.TEST_SHIFTED_IMAGES.base64), (ch) => ch.charCodeAt(0));
const PX = 784;
const COUNT = env.TEST_SHIFTED_IMAGES.count;
/** Image i of a stride through the three classes (the set is ordered by class). */
const image = (i: number) => {
  const j = (i * 7919) % COUNT;
  return raw.slice(j * PX, (j + 1) * PX);
};

/**
 * Requests go through the worker's fetch handler with an ExecutionContext of the test's own, so the
 * work each one leaves under waitUntil (shadow verifications and their reports) can be awaited
 * (waitOnExecutionContext) inside the test: SELF.fetch's waitUntil work runs in request contexts
 * vitest-pool-workers may end first, and awaiting it from the test could hang.
 */
const contexts: ExecutionContext[] = [];
async function classify(region: string, i: number): Promise<Answer> {
  const ctx = createExecutionContext();
  contexts.push(ctx);
  const req = new Request('https://edge.test/v1/classify', {
    method: 'POST',
    body: image(i),
    headers: { 'content-type': 'application/octet-stream', 'x-cascade-region': region },
  });
  const res = await worker.fetch(req, env, ctx);
  expect(res.status).toBe(200);
  return res.json<Answer>();
}

async function send(region: string, from: number, to: number): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = from; i < to; i++) out.push(await classify(region, i));
  return out;
}

/**
 * Waits for the work the requests left under waitUntil (shadow verifications, their reports with
 * SHADOW_REPORT_AFTER=1, decision flushes), then reports anything still held. Each test ends with it.
 */
async function reportShadows(): Promise<void> {
  await Promise.all(contexts.splice(0).map((c) => waitOnExecutionContext(c)));
  await shadowsSettled();
  await flushShadow(env);
  await flushDecisions(env);
}

async function put(key: string, settings: RegionSettings, version?: number): Promise<Entry> {
  const res = await admin(`/regions/${key}`, {
    method: 'PUT',
    body: JSON.stringify(settings),
    headers: version ? { 'if-match': `"${version}"` } : {},
  });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return res.json<Entry>();
}

const cron = (scheduledTime: number) =>
  worker.scheduled(createScheduledController({ scheduledTime, cron: '2-59/5 * * * *' }), env);

describe('controller: shadow verification', () => {
  it('finds an exit that breaks its guard, raises its threshold and says so in /readyz', async () => {
    const key = 'colo:SHA';
    const guard = { maxDisagreement: 0.03, confidence: 0.95 };
    const v1 = await put(key, {
      policy: 'max-softmax',
      thresholds: every(0.5),
      split: SPLIT,
      encoding: 'f16',
      shadow: 1,
      guard,
    });
    const answers = await send(key, 0, 300);
    const atEdge = answers.filter((a) => a.where === 'edge').length;
    await reportShadows();

    const g = await (await admin(`/regions/${key}/guard`)).json<Verification>();
    expect(g.version).toBe(v1.version);
    expect(g.stable.requests).toBe(300);
    // Every confident edge answer was shadowed (shadow: 1) and reached the object.
    expect(g.stable.shadowed).toBe(atEdge);
    const e0 = g.exits.find((e) => e.exit === 0)!;
    expect(e0.status).toBe('broken');
    expect(e0.interval.lo).toBeGreaterThan(guard.maxDisagreement);
    expect(g.shadowUsdPerMillion).toBeGreaterThan(0);
    expect(g.action).toBeNull();

    const v = await (await admin(`/regions/${key}/verify`, { method: 'POST' })).json<Verification>();
    expect(v.action?.kind).toBe('guard');
    expect(v.action?.reason).toMatch(/exit 0: \d+\/\d+ shadowed answers disagreed/);
    const v2 = await (await admin(`/regions/${key}`)).json<Entry>();
    expect(v2.version).toBe(v.action!.version);
    expect(v2.event?.kind).toBe('guard');
    const floor = v2.settings.guarded!.floors[0]!;
    expect(floor).toBeGreaterThan(0.5);
    expect(v2.resolved.thresholds[0]).toBe(floor);
    // The operator's thresholds are kept as written; the floor is applied on top.
    expect(v2.settings.thresholds).toEqual(every(0.5));
    console.log(
      `guard test: exit 0 at 0.5: ${e0.disagree}/${e0.n} disagreed [${e0.interval.lo.toFixed(4)}, ${e0.interval.hi.toFixed(4)}] > ${guard.maxDisagreement}; floor ${floor.toFixed(4)}; shadow cost $${g.shadowUsdPerMillion?.toFixed(4)}/M at share 1`,
    );

    const ready = await (await SELF.fetch('https://edge.test/readyz')).json<{
      checks: { controller: { ok: boolean; guarded: Record<string, { reason: string }> } };
    }>();
    expect(ready.checks.controller.ok).toBe(false);
    expect(ready.checks.controller.guarded[key]?.reason).toMatch(/guard broken/);
    const metrics = await (
      await SELF.fetch(`https://edge.test/v1/metrics?region=${key}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json<{ controller: Record<string, { guarded?: { floors: number[] }; shadow?: number }> }>();
    expect(metrics.controller[key]?.guarded?.floors[0]).toBe(floor);
    expect(metrics.controller[key]?.shadow).toBe(1);

    // Served with the floor: exit 0 answers only at or above it now.
    const after = await send(key, 300, 400);
    expect(after.every((a) => a.thresholdVersion === `${key}@v${v2.version}`)).toBe(true);
    const g2 = await (await admin(`/regions/${key}/guard`)).json<Verification>();
    expect(g2.exits.find((e) => e.exit === 0)?.threshold ?? 2).toBe(floor);
    await reportShadows();
  }, 300_000);
});

describe('controller: canary', () => {
  it('rolls back a canary whose thresholds break the guard, and records why', async () => {
    const key = 'colo:CAN';
    const stable: RegionSettings = {
      policy: 'max-softmax',
      thresholds: every(0.999),
      split: SPLIT,
      encoding: 'f16',
      shadow: 0.5,
      guard: { maxDisagreement: 0.03, confidence: 0.95 },
    };
    const v1 = await put(key, stable);
    const v2 = await put(
      key,
      { ...stable, canary: { thresholds: every(0.4), share: 0.5, shadow: 1, minSamples: 50 } },
      v1.version,
    );
    expect(v2.settings.canary?.startedAt).toBeDefined();
    const answers = await send(key, 0, 300);
    const canaryAnswers = answers.filter((a) => a.thresholdVersion === `${key}@v${v2.version}+canary`).length;
    // About half the requests ran the canary (binomial, n = 300, p = 0.5: ±5σ).
    expect(canaryAnswers).toBeGreaterThan(150 - 45);
    expect(canaryAnswers).toBeLessThan(150 + 45);
    await reportShadows();

    const g = await (await admin(`/regions/${key}/guard`)).json<Verification>();
    expect(g.canary?.requests).toBe(canaryAnswers);
    expect(g.canary?.decision).toBe('rollback');

    // The cron's controller pass acts on it (its clock: the scheduled time).
    await cron(Date.now());
    const v3 = await (await admin(`/regions/${key}`)).json<Entry>();
    expect(v3.version).toBe(v2.version + 1);
    expect(v3.settings.canary).toBeUndefined();
    expect(v3.settings.thresholds).toEqual(every(0.999));
    expect(v3.event?.kind).toBe('canary-rollback');
    expect(v3.event?.reason).toMatch(/canary broke the guard|disagrees more than the stable/);
    const h = await (await admin(`/regions/${key}/history`)).json<{ versions: Entry[] }>();
    expect(h.versions.map((e) => e.event?.kind ?? null)).toEqual([null, null, 'canary-rollback']);
    console.log(`canary test: ${canaryAnswers}/300 on the canary; ${v3.event?.reason}`);

    const after = await send(key, 300, 340);
    expect(after.every((a) => a.thresholdVersion === `${key}@v${v3.version}`)).toBe(true);
    await reportShadows();
  }, 300_000);

  it('promotes a canary that demonstrates the guard', async () => {
    const key = 'colo:CAP';
    const stable: RegionSettings = {
      policy: 'max-softmax',
      thresholds: every(0.9),
      split: SPLIT,
      encoding: 'f16',
      guard: { maxDisagreement: 0.15, confidence: 0.9 },
    };
    const v1 = await put(key, stable);
    const v2 = await put(
      key,
      { ...stable, canary: { thresholds: every(0.97), share: 0.5, shadow: 1, minSamples: 30 } },
      v1.version,
    );
    await send(key, 0, 300);
    await reportShadows();
    const v = await (await admin(`/regions/${key}/verify`, { method: 'POST' })).json<Verification>();
    expect(v.canary?.decision, v.canary?.reason).toBe('promote');
    const v3 = await (await admin(`/regions/${key}`)).json<Entry>();
    expect(v3.version).toBe(v2.version + 1);
    expect(v3.event?.kind).toBe('canary-promote');
    expect(v3.event?.reason).toMatch(/canary met the guard/);
    expect(v3.settings.thresholds).toEqual(every(0.97));
    expect(v3.settings.canary).toBeUndefined();
    await reportShadows();
  }, 300_000);
});

describe('controller: money cap', () => {
  it('degrades and flags answers instead of refusing as spend reaches the cap', async () => {
    const key = 'colo:MNY';
    // Confident only at 0.999: most of these hard inputs are forwarded.
    const base: RegionSettings = { policy: 'max-softmax', thresholds: every(0.999), split: SPLIT, encoding: 'f16' };
    const v1 = await put(key, base);
    const t0 = Date.now();
    const first = await send(key, 0, 150);
    const forwardedFirst = first.filter((a) => a.where === 'backend').length;
    expect(forwardedFirst).toBeGreaterThan(60);
    // What that mix costs (the cost model, over D1's decisions): the cap goes halfway between an
    // all-edge mix and this one.
    await cron(Date.now());
    const metrics = async (from: number) =>
      (
        await (
          await SELF.fetch(`https://edge.test/v1/metrics?from=${from}&to=${Date.now() + 60_000}&region=${key}`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          })
        ).json<{
          totals: {
            requests: number;
            forwarded: number;
            capped: number;
            cost: { actual: { value: number; items: Record<string, { value: number }> } };
          };
        }>()
      ).totals;
    const m1 = await metrics(t0 - 60_000);
    expect(m1.requests).toBe(150);
    const perForward = (m1.cost.actual.items.gpu!.value + m1.cost.actual.items.egress!.value) / m1.forwarded;
    const uncapped = m1.cost.actual.value;
    // Keeping 70 % of the forwards at the edge meets the cap's target (CAP_TARGET of it).
    const cap = (uncapped - 0.7 * perForward * m1.forwarded) / CAP_TARGET;
    expect(cap).toBeLessThan(uncapped);
    const v2 = await put(key, { ...base, maxUsdPerMillion: cap }, v1.version);

    await cron(Date.now());
    const v3 = await (await admin(`/regions/${key}`)).json<Entry>();
    expect(v3.version).toBe(v2.version + 1);
    expect(v3.event?.kind).toBe('cap');
    const share = v3.settings.capped!.share;
    expect(share).toBeGreaterThan(0.6);
    expect(share).toBeLessThan(0.8);

    const t1 = Date.now();
    const second = await send(key, 150, 450);
    const flagged = second.filter((a) => a.reason === 'budget');
    expect(flagged.length).toBeGreaterThan(0);
    expect(flagged.every((a) => a.where === 'edge' && a.degraded)).toBe(true);
    await cron(Date.now());
    const m2 = await metrics(t1 - 1);
    // Minutes overlap the first phase's last one: count what this phase sent at least.
    expect(m2.capped).toBe(flagged.length);
    console.log(
      `money cap test: uncapped $${uncapped.toFixed(4)}/M, cap $${cap.toFixed(4)}/M, share ${share.toFixed(3)}; capped phase ${flagged.length}/300 flagged`,
    );
    const ready = await (await SELF.fetch('https://edge.test/readyz')).json<{
      checks: { controller: { capped: Record<string, { share: number }> } };
    }>();
    expect(ready.checks.controller.capped[key]).toBeDefined();
  }, 300_000);
});
