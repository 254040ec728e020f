/**
 * The explored inputs' score vectors (core/live-solve.ts), aggregated in the isolate per region key
 * and reported to that key's Durable Object in batches: never a write per request, never on an
 * answer's path. A report goes when a key holds REPORT_AFTER samples, or REPORT_MS after its first
 * unreported one (a timer kept alive by that request's `waitUntil`); `flushScores` sends everything
 * now (tests, the scheduled handler). A failed report keeps its counts for the next one; an evicted
 * isolate loses what it had not reported (fewer than REPORT_AFTER samples or REPORT_MS per key),
 * which costs the controller samples, never an answer.
 *
 * @example
 * recordExplored(env, (p) => ctx.waitUntil(p), 'colo:LHR', [0.93, 0.41]);
 * await flushScores(env);
 */
import { addScores, emptyHistogram, type ScoreHistogram, type ScoreReport } from '../../../../core/live-solve.js';
import { log } from '../../../../core/log.js';
import type { Env } from '../env.js';

export const REPORT_AFTER = 100;
export const REPORT_MS = 10_000;

const pending = new Map<string, { h: ScoreHistogram; since: number; timer: boolean }>();

async function send(env: Env, key: string): Promise<void> {
  const p = pending.get(key);
  if (!p || p.h.total === 0) return;
  pending.delete(key);
  const report: ScoreReport = { minute: Math.floor(Date.now() / 60_000), ...p.h };
  try {
    await env.REGIONS.getByName(key).reportScores(key, report);
  } catch (e) {
    // Keep the counts: merged into whatever arrived meanwhile, sent with the next report.
    const now = pending.get(key) ?? { h: emptyHistogram(p.h.exits), since: Date.now(), timer: false };
    for (const [bins, n] of Object.entries(p.h.counts)) now.h.counts[bins] = (now.h.counts[bins] ?? 0) + n;
    now.h.total += p.h.total;
    pending.set(key, now);
    log.warn('controller: score report failed; kept for the next one', { region: key, error: e });
  }
}

/** Counts one explored input's scores for `key`; returns at once, reports run under `defer`. Never throws. */
export function recordExplored(env: Env, defer: (p: Promise<unknown>) => void, key: string, scores: number[]): void {
  try {
    let p = pending.get(key);
    if (!p || p.h.exits !== scores.length) {
      if (p) defer(send(env, key));
      p = { h: emptyHistogram(scores.length), since: Date.now(), timer: false };
      pending.set(key, p);
    }
    addScores(p.h, scores);
    if (p.h.total >= REPORT_AFTER) defer(send(env, key));
    else if (!p.timer) {
      p.timer = true;
      defer(new Promise((r) => setTimeout(r, REPORT_MS)).then(() => send(env, key)));
    }
  } catch (e) {
    log.warn('controller: recording explored scores failed; the answer is unaffected', { region: key, error: e });
  }
}

/** Reports everything held now. */
export async function flushScores(env: Env): Promise<void> {
  await Promise.all([...pending.keys()].map((k) => send(env, k)));
}
