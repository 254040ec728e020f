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
import { binLow } from './live-solve.js';
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

export function exitGuard(c: ShadowCounts, exit: number, g: Guard = DEFAULT_GUARD): ExitGuard {
  const z = zFor(g.confidence);
  let n = 0;
  let d = 0;
  for (const e of entries(c, exit)) {
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
