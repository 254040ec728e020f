/**
 * The operators' view of a bundle's calibrated operating points: each policy's frontier (from the
 * manifest) with the share of inputs the edge answers at a split and which point is the default,
 * and what a region entry's settings resolve to (the thresholds applied and the frontier point they
 * are, chosen by a budget or matched by explicit thresholds). Pure, like the rest of core/.
 *
 * @example
 * frontierView(manifest).policies.eenet[0]; // { index: 0, cost: 0.0399, accuracy: 0.9014, edgeShare: 1, default: false, … }
 * resolvedSettings({ policy: 'eenet', budget: 0.2, split: 2, encoding: 'f16' }, manifest).point?.cost; // ≤ 0.2
 */
import { z } from 'zod';
import type { FrontierPoint, Manifest } from './manifest.js';
import {
  applyFloors,
  budgetPoint,
  checkSettings,
  defaultSplit,
  forwardRatePoint,
  type RegionSettings,
} from './regions.js';

/**
 * Share of (validation) inputs answered at the edge when it runs `split` segments: exits
 * 0 … split − 1, plus the final head when every segment runs there (exitRates ends with the final
 * head's share, so the sum of the first `split` entries covers both cases).
 */
export function edgeShare(exitRates: readonly number[], split: number): number {
  return Math.min(
    1,
    exitRates.slice(0, split).reduce((a, b) => a + b, 0),
  );
}

/** Thresholds above 1 all mean "off" (core/cascade-rule.ts OFF), whatever number spells them. */
const sameThreshold = (a: number, b: number) => (a > 1 && b > 1) || Math.abs(a - b) <= 1e-12;

/** Index of the point of `policy`'s frontier whose thresholds are `thresholds` (exactly, off = off), or -1. */
export function matchPoint(policy: string, thresholds: readonly number[], m: Manifest): number {
  return (m.policies.frontier[policy] ?? []).findIndex(
    (p) => p.thresholds.length === thresholds.length && p.thresholds.every((t, i) => sameThreshold(t, thresholds[i]!)),
  );
}

/** Index of the default point (the default policy's point at the exits' default thresholds), or -1. */
export function defaultPointIndex(m: Manifest): number {
  return matchPoint(
    m.policies.default,
    m.exits.map((e) => e.defaultThreshold),
    m,
  );
}

export const operatingPointSchema = z.object({
  index: z.number().int().nonnegative().describe("position in the policy's frontier, cheapest first"),
  thresholds: z.array(z.number()).describe('per exit; above 1: the exit is off'),
  accuracy: z.number().describe('expected accuracy (validation)'),
  cost: z.number().describe("expected mean cost, as a fraction of the backbone's MACs (validation)"),
  exitRates: z.array(z.number()).describe('share of inputs answered at each exit, then at the final head'),
  edgeShare: z.number().describe('share of inputs answered at the edge at the split it is shown for'),
  fidelity: z.number().optional().describe('share answered as the backbone answers (validation)'),
  certified: z.boolean().describe("accuracy drop certified below the bundle's maxDrop"),
  default: z.boolean().describe("the bundle's default operating point"),
  test: z
    .object({ accuracy: z.number(), cost: z.number() })
    .optional()
    .describe('the same point measured on the test split'),
});
export type OperatingPoint = z.infer<typeof operatingPointSchema>;

function operatingPoint(p: FrontierPoint, index: number, split: number, isDefault: boolean): OperatingPoint {
  return {
    index,
    thresholds: p.thresholds,
    accuracy: p.accuracy,
    cost: p.cost,
    exitRates: p.exitRates,
    edgeShare: edgeShare(p.exitRates, split),
    ...(p.fidelity === undefined ? {} : { fidelity: p.fidelity }),
    certified: p.certified ?? false,
    default: isDefault,
    ...(p.test ? { test: { accuracy: p.test.accuracy, cost: p.test.cost } } : {}),
  };
}

export const frontierViewSchema = z.object({
  bundle: z.string(),
  defaultPolicy: z.string(),
  defaultSplit: z.number().int().positive().describe('segments at the edge by default; edgeShare is for this split'),
  segments: z.number().int().positive(),
  exits: z.number().int().positive(),
  backboneAccuracy: z.number().describe('the backbone alone (validation)'),
  policies: z.record(z.string(), z.array(operatingPointSchema)),
});
export type FrontierView = z.infer<typeof frontierViewSchema>;

/** Every policy's frontier, edge shares at the default split, the default point marked. */
export function frontierView(m: Manifest): FrontierView {
  const split = defaultSplit(m);
  const d = defaultPointIndex(m);
  return {
    bundle: m.name,
    defaultPolicy: m.policies.default,
    defaultSplit: split,
    segments: m.segments.length,
    exits: m.exits.length,
    backboneAccuracy: m.backbone.accuracy.val,
    policies: Object.fromEntries(
      Object.entries(m.policies.frontier).map(([policy, points]) => [
        policy,
        points.map((p, i) => operatingPoint(p, i, split, policy === m.policies.default && i === d)),
      ]),
    ),
  };
}

export const resolvedSchema = z.object({
  from: z
    .enum(['thresholds', 'budget', 'forwardRate', 'live'])
    .describe(
      'what the entry gives: thresholds, a cost budget, a forward-rate budget (validation point), or that budget re-solved on live traffic',
    ),
  thresholds: z
    .array(z.number())
    .nullable()
    .describe('the per-exit thresholds applied; null when the settings no longer fit the bundle'),
  point: operatingPointSchema
    .extend({ policy: z.string() })
    .nullable()
    .describe(
      "the frontier point applied (the budget's choice, or the one the thresholds match), edgeShare at the entry's split; null for thresholds on no point",
    ),
  problems: z
    .array(z.string())
    .describe('why the settings do not fit the bundle (the edge then skips the entry); empty when they do'),
});
export type Resolved = z.infer<typeof resolvedSchema>;

/** What a region's settings resolve to against the bundle. */
export function resolvedSettings(s: RegionSettings, m: Manifest): Resolved {
  const from = s.thresholds
    ? 'thresholds'
    : s.maxForwardRate !== undefined
      ? s.solved
        ? 'live'
        : 'forwardRate'
      : 'budget';
  const problems = checkSettings(s, m);
  if (problems.length) return { from, thresholds: null, point: null, problems };
  const points = m.policies.frontier[s.policy] ?? [];
  const explicit = s.thresholds ?? s.solved?.thresholds;
  const index = explicit
    ? matchPoint(s.policy, explicit, m)
    : s.maxForwardRate !== undefined
      ? (forwardRatePoint(s.policy, s.maxForwardRate, s.split, m)?.index ?? -1)
      : (budgetPoint(s.policy, s.budget!, m)?.index ?? -1);
  const base = explicit ?? points[index]!.thresholds;
  // A broken shadow guard's floors (settings.guarded) raise thresholds on top of what the entry gives.
  const thresholds = applyFloors(base, s.guarded?.floors);
  const raised = thresholds.some((t, i) => t !== base[i]);
  const at = raised ? matchPoint(s.policy, thresholds, m) : index;
  const p = points[at];
  const isDefault = s.policy === m.policies.default && at === defaultPointIndex(m);
  return {
    from,
    thresholds,
    point: p ? { policy: s.policy, ...operatingPoint(p, at, s.split, isDefault) } : null,
    problems: [],
  };
}
