/**
 * Metrics never change a classify answer (workers/edge/src/metrics/record.ts): with D1 failing, an
 * Analytics Engine binding that throws, a METRICS binding that throws on access, or no
 * ExecutionContext, the answers are the same; failures are logged once; the counts of failed flushes
 * are kept and written once D1 answers again. Its own file: the failures leave the isolate's flusher
 * in a retry state the other metrics tests should not inherit (each file gets a fresh isolate).
 */
import { createExecutionContext, env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../workers/edge/src/app.js';
import worker from '../../workers/edge/src/index.js';
import { decisionStats, flushDecisions } from '../../workers/edge/src/metrics/record.js';
import { every } from './bundle.js';
import { classifyRequest, putRegion } from './decision-requests.js';

const classify = (region: string, value: number, requestId?: string) => classifyRequest(region, { value, requestId });
/** The answer without what differs per request. */
const answer = async (res: Response) => {
  const { requestId: _id, timings: _t, ...rest } = await res.json<Record<string, unknown>>();
  return { status: res.status, ...rest };
};
const brokenD1 = {
  prepare: () => ({ bind: () => ({}) }),
  batch: async () => {
    throw new Error('D1_ERROR: simulated outage');
  },
} as unknown as D1Database;
const throwingAe = {
  writeDataPoint: () => {
    throw new Error('Analytics Engine: simulated failure');
  },
};
const messages = (spy: { mock: { calls: unknown[][] } }) =>
  spy.mock.calls.map((c) => JSON.parse(String(c[0])).msg as string);

afterEach(() => vi.restoreAllMocks());

describe('metrics failures never change an answer', () => {
  it('D1 failing and Analytics Engine throwing: same answers, logged once, counts kept and written later', async () => {
    await putRegion('colo:FED', every(0)); // answered at the edge
    await putRegion('colo:FFW', every(1)); // forwarded
    await putRegion('colo:FER', every(2)); // no edge exit: 502 when the backend is down
    const cases = [
      ['colo:FED', 0],
      ['colo:FED', 200],
      ['colo:FFW', 0],
      ['colo:FFW', 90],
      ['colo:FER', 0, 'down-x'],
    ] as const;
    const reference = await Promise.all(cases.map(([r, v, id]) => SELF.fetch(classify(r, v, id)).then(answer)));
    expect(reference.map((a) => a.status)).toEqual([200, 200, 200, 200, 502]);

    const warn = vi.spyOn(console, 'warn');
    const error = vi.spyOn(console, 'error');
    const broken = { ...env, METRICS: brokenD1, DECISIONS_AE: throwingAe };
    const ctx = createExecutionContext();
    // 12 rounds of the 5 cases: past METRICS_FLUSH_DECISIONS (50), so a flush starts and fails. Rounds one
    // after another: 300 at once would queue the forwards past BACKEND_TIMEOUT_MS (800 ms here).
    const got: Response[] = [];
    for (let round = 0; round < 12; round++)
      got.push(...(await Promise.all(cases.map(([r, v, id]) => worker.fetch(classify(r, v, id), broken, ctx)))));
    const answers = await Promise.all(got.map(answer));
    for (let i = 0; i < answers.length; i++) expect(answers[i], `request ${i}`).toEqual(reference[i % cases.length]);
    // A forced retry against the broken D1 fails too, and is not logged again.
    expect(await flushDecisions(broken)).toBe(false);
    const stats = decisionStats()!;
    expect(stats.failures).toBeGreaterThanOrEqual(2);
    expect(stats.pending).toBe(5 + 60); // the reference requests' and these: none written, none lost
    expect(messages(warn).filter((m) => m.startsWith('metrics: decision flush failed'))).toHaveLength(1);
    expect(messages(error).filter((m) => m.startsWith('metrics: Analytics Engine writeDataPoint failed'))).toHaveLength(
      1,
    );

    // D1 back: everything held is written, once.
    const info = vi.spyOn(console, 'info');
    expect(await flushDecisions(env)).toBe(true);
    expect(messages(info)).toContain('metrics: decision flush recovered');
    const row = await env.METRICS.prepare(
      "SELECT SUM(count) AS n, SUM(CASE WHEN outcome = 'error' THEN count ELSE 0 END) AS errors FROM decisions WHERE region LIKE 'colo:F%'",
    ).first<{ n: number; errors: number }>();
    expect(row).toEqual({ n: 65, errors: 13 });
  });

  it('a METRICS binding that throws on access, and a call without an ExecutionContext, still answer', async () => {
    await putRegion('colo:FTH', every(0));
    const error = vi.spyOn(console, 'error');
    // Hono's app.request without a ctx: c.executionCtx throws when the new batch's timer is handed to waitUntil.
    const noCtx = await answer(await createApp().request(classify('colo:FTH', 0), undefined, env));
    const reference = await answer(await SELF.fetch(classify('colo:FTH', 0)));
    expect(noCtx).toEqual(reference);
    const throwing = Object.defineProperty({ ...env }, 'METRICS', {
      get() {
        throw new Error('binding unavailable');
      },
    });
    expect(await answer(await worker.fetch(classify('colo:FTH', 0), throwing, createExecutionContext()))).toEqual(
      reference,
    );
    const msgs = messages(error);
    expect(msgs).toContain('metrics: recording a decision failed; the answer is unaffected (logged once per isolate)');
    expect(msgs).toContain('metrics: waitUntil failed; the answer is unaffected (logged once per isolate)');
  });
});
