/**
 * Shadow verification's arithmetic (pure): a share of a region's confident edge answers is also sent,
 * after the response, to the backend for the full model's answer (workers/edge: `shadow` in the
 * region's settings). Per exit and score bin (core/live-solve.ts's bins) the controller counts those
 * answers and how many disagreed with the backbone, and holds each exit to the region's guard, "the
 * disagreement with the backbone is at most `maxDisagreement` at `confidence`", with a Wilson
 * interval:
 *   - broken: the interval's lower bound is above maxDisagreement (the exit is worse, at that confidence);
 *   - ok: its upper bound is at or below it (the promise is demonstrated);
 *   - unproven: neither yet (too few shadow samples); `samplesNeeded` says how many would settle it.
 * A broken exit gets a floor on its threshold: the lowest score bin whose answers at or above it meet
 * the guard's upper bound, or off when none does (shadow samples are confident answers only, so a
 * floor can only raise a threshold, never lower one).
 *
 * @example
 * const g = exitGuard(counts, 0, { maxDisagreement: 0.01, confidence: 0.95 }); // { n, disagree, interval, status }
 * const t = guardFloor(counts, 0, guard); // a threshold, or 2 (off)
 */
import { binLow, scoreBin } from './live-solve.js';
import { type Interval, wilson, zFor } from './wilson.js';

export interface Guard {
  maxDisagreement: number;
  confidence: number;
}
export const DEFAULT_GUARD: Guard = { maxDisagreement: 0.01, confidence: 0.95 };

/** Shadowed answers per "exit,bin": [answers, of which disagreed with the backbone]. */
export type ShadowCounts = Record<string, [number, number]>;

export function addShadow(c: ShadowCounts, exit: number, bin: number, disagreed: boolean, n = 1): void {
  const k = `${exit},${bin}`;
  const cur = c[k] ?? [0, 0];
  c[k] = [cur[0] + n, cur[1] + (disagreed ? n : 0)];
}

export function mergeShadow(a: ShadowCounts, b: ShadowCounts): void {
  for (const [k, [n, d]] of Object.entries(b)) {
    const cur = a[k] ?? [0, 0];
    a[k] = [cur[0] + n, cur[1] + d];
  }
}

export interface ExitGuard {
  exit: number;
  n: number;
  disagree: number;
  interval: Interval;
  status: 'broken' | 'ok' | 'unproven';
  /** Shadow samples that would demonstrate the guard if the rate stays as observed (null: it cannot, the rate is above the guard). */
  samplesNeeded: number | null;
}

const entries = (c: ShadowCounts, exit: number) =>
  Object.entries(c)
    .map(([k, v]) => ({ exit: Number(k.split(',')[0]), bin: Number(k.split(',')[1]), n: v[0], d: v[1] }))
    .filter((e) => e.exit === exit);

/** The fewest samples n at which Wilson's upper bound for rate p falls to `max` (null when p ≥ max). */
export function samplesNeeded(p: number, max: number, z: number): number | null {
  if (p >= max) return null;
  let lo = 1;
  let hi = 1;
  while (wilson(Math.round(p * hi), hi, z).hi > max) {
    hi *= 2;
    if (hi > 1e9) return null;
  }
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (wilson(Math.round(p * mid), mid, z).hi > max) lo = mid + 1;
    else hi = mid;
  }
  return hi;
}

/**
 * Exit `exit`'s guard on the shadowed answers scoring at or above `threshold` (default all): the
 * answers that threshold gives (bins are version independent, so samples taken under lower
 * thresholds count for higher ones).
 */
export function exitGuard(c: ShadowCounts, exit: number, g: Guard = DEFAULT_GUARD, threshold = 0): ExitGuard {
  const z = zFor(g.confidence);
  const from = threshold > 0 ? scoreBin(threshold) : 0;
  let n = 0;
  let d = 0;
  for (const e of entries(c, exit)) {
    if (e.bin < from) continue;
    n += e.n;
    d += e.d;
  }
  const interval = wilson(d, n, z);
  const status =
    n > 0 && interval.lo > g.maxDisagreement ? 'broken' : n > 0 && interval.hi <= g.maxDisagreement ? 'ok' : 'unproven';
  return { exit, n, disagree: d, interval, status, samplesNeeded: samplesNeeded(n ? d / n : 0, g.maxDisagreement, z) };
}

/**
 * The lowest threshold at which exit `exit`'s shadowed answers (those scoring at or above it) meet
 * the guard's upper bound, from at least `minSamples` of them; 2 (off) when no such threshold exists.
 */
export function guardFloor(c: ShadowCounts, exit: number, g: Guard = DEFAULT_GUARD, minSamples = 30): number {
  const z = zFor(g.confidence);
  const bins = entries(c, exit).sort((a, b) => b.bin - a.bin);
  let n = 0;
  let d = 0;
  let floor = 2;
  for (const e of bins) {
    n += e.n;
    d += e.d;
    if (n >= minSamples && wilson(d, n, z).hi <= g.maxDisagreement) floor = binLow(e.bin);
  }
  return floor;
}

/** Disagreement over every exit's shadowed answers together (a canary's, an arm's). */
export function pooledGuard(c: ShadowCounts, g: Guard = DEFAULT_GUARD): Omit<ExitGuard, 'exit'> {
  const z = zFor(g.confidence);
  let n = 0;
  let d = 0;
  for (const [a, b] of Object.values(c)) {
    n += a;
    d += b;
  }
  const interval = wilson(d, n, z);
  const status =
    n > 0 && interval.lo > g.maxDisagreement ? 'broken' : n > 0 && interval.hi <= g.maxDisagreement ? 'ok' : 'unproven';
  return { n, disagree: d, interval, status, samplesNeeded: samplesNeeded(n ? d / n : 0, g.maxDisagreement, z) };
}

/** One arm's shadow batch: its shadowed answers and its decisions (for its forward rate). */
export interface ArmReport {
  counts: ShadowCounts;
  requests: number;
  edge: number;
  forwarded: number;
}
export const ARMS = ['stable', 'canary'] as const;
export type Arm = (typeof ARMS)[number];

/** What an isolate reports to a region's Durable Object: per arm, under the entry version in force. */
export interface ShadowReport {
  minute: number;
  version: number;
  arms: Partial<Record<Arm, ArmReport>>;
}

export const emptyArm = (): ArmReport => ({ counts: {}, requests: 0, edge: 0, forwarded: 0 });

export function mergeArm(a: ArmReport, b: ArmReport): void {
  mergeShadow(a.counts, b.counts);
  a.requests += b.requests;
  a.edge += b.edge;
  a.forwarded += b.forwarded;
}

/**
 * A canary's verdict against the guard and the stable arm:
 *   - rollback when its disagreement is broken (interval above the guard), clearly worse than the
 *     stable arm's (its lower bound above the stable upper bound), or its forward rate is clearly
 *     above the stable arm's when the region has a forward-rate budget it exceeds, or when it stays
 *     unproven after 4× its minimum samples;
 *   - promote when it has its minimum samples and its disagreement is demonstrated within the guard;
 *   - wait otherwise.
 */
export function canaryVerdict(
  canary: ArmReport,
  stable: ArmReport | undefined,
  g: Guard,
  o: { minSamples: number; maxForwardRate?: number; z?: number },
): { decision: 'promote' | 'rollback' | 'wait'; reason: string } {
  const c = pooledGuard(canary.counts, g);
  const s = stable ? pooledGuard(stable.counts, g) : undefined;
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  const ci = (x: { interval: Interval; disagree: number; n: number }) =>
    `${x.disagree}/${x.n} = ${pct(x.n ? x.disagree / x.n : 0)} [${pct(x.interval.lo)}, ${pct(x.interval.hi)}]`;
  const conf = `${Math.round(g.confidence * 100)} %`;
  const z = o.z ?? zFor(g.confidence);
  const fr = (a: ArmReport) => wilson(a.forwarded, a.requests, z);
  if (c.status === 'broken')
    return {
      decision: 'rollback',
      reason: `canary broke the guard: disagreement with the backbone ${ci(c)} at ${conf}, above the allowed ${pct(g.maxDisagreement)}`,
    };
  if (s && s.n > 0 && c.n > 0 && c.interval.lo > s.interval.hi)
    return {
      decision: 'rollback',
      reason: `canary disagrees more than the stable version: ${ci(c)} against ${ci(s)} at ${conf}`,
    };
  if (stable && o.maxForwardRate !== undefined && canary.requests > 0 && stable.requests > 0) {
    const cf = fr(canary);
    const sf = fr(stable);
    if (cf.lo > sf.hi && cf.lo > o.maxForwardRate)
      return {
        decision: 'rollback',
        reason: `canary forwards more than the stable version and the budget allow: ${pct(cf.p ?? 0)} [${pct(cf.lo)}, ${pct(cf.hi)}] against ${pct(sf.p ?? 0)} [${pct(sf.lo)}, ${pct(sf.hi)}], budget ${pct(o.maxForwardRate)}`,
      };
  }
  if (c.n >= o.minSamples && c.status === 'ok')
    return {
      decision: 'promote',
      reason: `canary met the guard on ${c.n} shadowed answers: disagreement ${ci(c)} at ${conf}, within ${pct(g.maxDisagreement)}${s?.n ? `; stable ${ci(s)}` : ''}${canary.requests ? `; forward rate ${pct(canary.forwarded / canary.requests)} (stable ${stable?.requests ? pct(stable.forwarded / stable.requests) : 'n/a'})` : ''}`,
    };
  if (c.n >= 4 * o.minSamples)
    return {
      decision: 'rollback',
      reason: `canary could not demonstrate the guard on ${c.n} shadowed answers: disagreement ${ci(c)} at ${conf}, allowed ${pct(g.maxDisagreement)}`,
    };
  return {
    decision: 'wait',
    reason: `${c.n} shadowed canary answers (${o.minSamples} needed), disagreement ${ci(c)}`,
  };
}

/**
 * The shadow share that would settle every exit's guard within `windowAnswers` confident answers per
 * exit (the window's edge answers at that exit): the largest samplesNeeded ÷ answers over the exits
 * still unproven, capped at 1; null when some unproven exit cannot be demonstrated at its observed
 * rate (its disagreement is at or above the guard), 0 when none is unproven.
 */
export function neededShadowShare(guards: readonly ExitGuard[], windowAnswers: readonly number[]): number | null {
  let share = 0;
  for (const g of guards) {
    if (g.status !== 'unproven') continue;
    if (g.samplesNeeded === null) return null;
    const answers = windowAnswers[g.exit] ?? 0;
    if (!(answers > 0)) continue;
    share = Math.max(share, Math.min(1, g.samplesNeeded / answers));
  }
  return share;
}
