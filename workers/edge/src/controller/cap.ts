/**
 * The money cap (a region's `maxUsdPerMillion`): from the region's decisions of the last
 * CAP_WINDOW_MINUTES in D1, priced by the cost model (core/cost-model.ts, the same figures as
 * /v1/metrics), the controller works out which share of would-be forwards the edge must answer
 * itself so that the window's spend stays at CAP_TARGET of the cap, and writes it as
 * `settings.capped` (a new version, event "cap"). The edge then answers that share of its forwards
 * with its best edge answer, flagged degraded with reason "budget" (outcome `capped`): it degrades
 * instead of refusing. The share is exact for the window's mix: spend = base + forwards × cost per
 * forward, with base the requests, CPU, KV and D1 items; it is lifted when the uncapped mix fits.
 *
 * What it cannot do: act faster than the controller runs (the cron, every 5 minutes) plus KV's
 * propagation; a burst of hard inputs inside one window is paid before the cap reacts.
 */
import { costReport, type ModelFacts, modelFacts } from '../../../../core/cost-model.js';
import type { Capped, RegionSettings } from '../../../../core/regions.js';
import type { Env } from '../env.js';
import { metricsConfig } from '../metrics/config.js';
import { edgeCpuPerRequest } from '../metrics/cpu.js';
import { readBuckets } from '../metrics/d1-store.js';
import { decisionTotals, planQuery, summarise } from '../metrics/query.js';
import { edgeModel } from '../model/edge-model.js';

export const CAP_WINDOW_MINUTES = 60;
/** The spend the cap aims for, as a share of the cap: room for the window's noise. */
export const CAP_TARGET = 0.95;
/** Fewest decisions in the window to act on. */
export const CAP_MIN_REQUESTS = 50;
/** A new share is written only when it moves at least this much (or switches the cap on or off). */
const CAP_STEP = 0.02;

export interface CapDecision {
  capped: Capped | null;
  reason: string;
  /** Whether it differs enough from the current state to be written. */
  change: boolean;
}

function facts(s: RegionSettings): ModelFacts {
  const m = edgeModel().manifest;
  return modelFacts(m, { split: s.split, exitRates: m.policies.atDefault.exitRates });
}

/** The cap's state for region `key` at `nowMs`; null when there are too few decisions to judge. */
export async function capDecision(
  env: Env,
  key: string,
  s: RegionSettings,
  nowMs: number,
): Promise<CapDecision | null> {
  const cap = s.maxUsdPerMillion;
  if (cap === undefined) return s.capped ? { capped: null, reason: 'money cap removed', change: true } : null;
  if (!env.METRICS) return null;
  const plan = planQuery({
    fromMs: nowMs - CAP_WINDOW_MINUTES * 60_000,
    toMs: nowMs,
    stepSeconds: CAP_WINDOW_MINUTES * 60,
    region: key,
    nowMs,
    rollupAfterHours: metricsConfig(env).rollupAfterHours,
  });
  const sums = summarise(await readBuckets(env.METRICS, plan), plan, (x) => x).totals.cost;
  if (sums.requests < CAP_MIN_REQUESTS) return null;
  const totals = decisionTotals(sums);
  const r = costReport(totals, {
    model: facts(s),
    analyticsEngine: Boolean(env.DECISIONS_AE),
    edgeCpuMsPerRequest: edgeCpuPerRequest(env, edgeModel().manifest.name),
  });
  const period = r.periodTotal;
  const gpu = period.items.gpu?.value;
  const egress = period.items.egress?.value ?? 0;
  if (period.value === null || gpu === null || gpu === undefined) return null;
  const perM = (usd: number) => (usd / totals.requests) * 1e6;
  // Cost of one forward: from the window's forwards, or the model's figure when there were none.
  const perForward =
    totals.forwarded > 0 ? (gpu + egress) / totals.forwarded : (r.gpuPerForwardedSample.value ?? Number.NaN);
  if (!(perForward > 0)) return null;
  const base = period.value - gpu - egress;
  const wouldForward = totals.forwarded + sums.capped;
  const uncapped = base + wouldForward * perForward;
  const allowed = (CAP_TARGET * cap * (totals.requests / 1e6) - base) / perForward;
  let share = wouldForward > 0 ? Math.min(1, Math.max(0, 1 - allowed / wouldForward)) : 0;
  if (share < 0.01) share = 0;
  const current = s.capped?.share ?? 0;
  const change = Math.abs(share - current) >= CAP_STEP || (share === 0) !== (current === 0);
  const usd = (x: number) => `$${x.toFixed(4)}`;
  const spend = perM(period.value);
  const capped: Capped | null =
    share > 0
      ? {
          at: new Date(nowMs).toISOString(),
          share,
          spendUsdPerMillion: spend,
          uncappedUsdPerMillion: perM(uncapped),
          windowMinutes: CAP_WINDOW_MINUTES,
        }
      : null;
  const reason =
    share > 0
      ? `money cap ${usd(cap)}/M: the last ${CAP_WINDOW_MINUTES} min cost ${usd(spend)}/M (${usd(perM(uncapped))}/M without the cap, ${totals.requests} requests); ${(share * 100).toFixed(1)} % of would-be forwards now answered at the edge (reason "budget") to hold ${Math.round(CAP_TARGET * 100)} % of the cap`
      : `money cap ${usd(cap)}/M: the last ${CAP_WINDOW_MINUTES} min would cost ${usd(perM(uncapped))}/M uncapped, within ${Math.round(CAP_TARGET * 100)} % of the cap; every would-be forward is forwarded again`;
  return { capped, reason, change };
}
