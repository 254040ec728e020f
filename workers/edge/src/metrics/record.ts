/**
 * The isolate's decision metrics: one module-level Flusher (its Aggregator keyed by minute, region,
 * exit and outcome) fed by `recordDecision`, one call per classify decision, writing batched upserts
 * to D1 (`METRICS`) through `waitUntil`, and one Analytics Engine point per decision when
 * `DECISIONS_AE` is bound (analytics-engine.ts says when to choose which). Nothing here can change a
 * classify answer: every failure is caught and logged (once per kind until it stops), never thrown.
 *
 * @example
 * recordDecision(c.env, (p) => c.executionCtx.waitUntil(p), { region, exit, outcome, bytes, computeMs, backendMs, totalMs });
 * await flushDecisions(env); // the scheduled handler, before it rolls up
 */
import { log } from '../../../../core/log.js';
import type { Env } from '../env.js';
import type { Decision } from './aggregate.js';
import { decisionDataPoint } from './analytics-engine.js';
import { metricsConfig } from './config.js';
import { writeRows } from './d1-store.js';
import { type Defer, Flusher, type FlushStats } from './flusher.js';

/** Created on the first decision, with that request's vars (they are the deployment's, the same for every request). */
let flusher: Flusher | undefined;

/** Failures logged so far, by kind: the first of each is logged, the rest only counted (a broken sink would log every request). */
const failures = new Map<string, number>();
function failed(kind: string, e: unknown): void {
  const n = (failures.get(kind) ?? 0) + 1;
  failures.set(kind, n);
  if (n === 1) log.error(`metrics: ${kind} failed; the answer is unaffected (logged once per isolate)`, { error: e });
}

/** METRICS_ENABLED, read once per isolate (vars are the deployment's, the same for every request). */
let on: boolean | undefined;
const enabled = (env: Env) => (on ??= metricsConfig(env).enabled);

/**
 * Counts one decision (D1 aggregate and, when bound, an Analytics Engine point). Returns at once;
 * writes run under `defer` (the request's `waitUntil`). Never throws.
 */
export function recordDecision(env: Env, defer: Defer, d: Decision): void {
  if (!enabled(env)) return;
  try {
    if (env.DECISIONS_AE) env.DECISIONS_AE.writeDataPoint(decisionDataPoint(d));
  } catch (e) {
    failed('Analytics Engine writeDataPoint', e);
  }
  try {
    const db = env.METRICS;
    if (!db) return;
    flusher ??= new Flusher(metricsConfig(env).flush);
    flusher.record(
      d,
      (rows) => writeRows(db, rows),
      (p) => {
        try {
          defer(p);
        } catch (e) {
          // No ExecutionContext (an app.request() call): the work runs anyway, unprotected after the response.
          failed('waitUntil', e);
        }
      },
    );
  } catch (e) {
    failed('recording a decision', e);
  }
}

/** Writes everything this isolate holds, after any flush in flight; false when the write failed (the counts are kept). */
export async function flushDecisions(env: Env): Promise<boolean> {
  const db = env.METRICS;
  if (!flusher || !db) return true;
  return flusher.flushNow((rows) => writeRows(db, rows));
}

/** This isolate's flush counters (undefined before its first decision). */
export function decisionStats(): FlushStats | undefined {
  return flusher?.snapshot();
}
