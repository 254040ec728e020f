/**
 * Per-region cascade settings (stored in Workers KV) and their resolution.
 *
 * A region entry holds the exit policy, either explicit per-exit thresholds or a cost budget
 * (EENet-style: the frontier point with the best validation accuracy whose expected cost fits the
 * budget), the edge split point (how many segments run at the edge) and the feature encoding used
 * when forwarding. Keys, most specific first: `colo:LHR` → `country:DE` → `continent:EU` → `default`.
 *
 * @example
 * regionKeys({ colo: 'LHR', country: 'GB', continent: 'EU' }); // ['colo:LHR', 'country:GB', 'continent:EU', 'default']
 * const t = resolveThresholds(entry, manifest); // per-exit thresholds
 */
import { z } from 'zod';
import type { FrontierPoint, Manifest } from './manifest.js';
import { POLICIES } from './policies.js';

export const FEATURE_ENCODINGS = ['f32', 'f16', 'i8'] as const;
export type FeatureEncoding = (typeof FEATURE_ENCODINGS)[number];

export const REGION_KEY = /^(default|colo:[A-Z]{3}|country:[A-Z]{2}|continent:(AF|AN|AS|EU|NA|OC|SA))$/;

/**
 * A region key as a schema: what the edge validates keys with (admin path, `x-cascade-region`) and
 * what its OpenAPI document publishes as the pattern, so neither can drift from REGION_KEY.
 */
export const regionKeySchema = z
  .string()
  .regex(REGION_KEY, {
    error: (iss) =>
      `${JSON.stringify(iss.input)} is not a region key; expected colo:XXX (IATA), country:XX (ISO 3166), continent:XX (AF, AN, AS, EU, NA, OC, SA) or default`,
  })
  .describe(
    'Region key, most specific first: colo:XXX (IATA code of the Cloudflare data centre), country:XX (ISO 3166-1 alpha-2), continent:XX (AF, AN, AS, EU, NA, OC, SA), or default',
  );

/** Explored share of a region's requests when it has a maxForwardRate and no `explore` of its own. */
export const EXPLORE_DEFAULT = 0.05;

/** What the controller's re-solve found, kept with the settings (so history and rollback carry it). */
export const solvedSchema = z
  .object({
    thresholds: z.array(z.number().min(0).max(1e9)),
    at: z.string().describe('ISO time of the re-solve'),
    samples: z.number().int().nonnegative().describe('explored inputs it solved on'),
    forwardRate: z.number().describe('forward rate of these thresholds on those inputs'),
    interval: z.object({ lo: z.number(), hi: z.number() }).describe('Wilson 95 % interval of forwardRate'),
    met: z.boolean().describe('false when the accuracy guard stopped the solve before the budget'),
    lambda: z.number().describe("position on the policy's frontier path (point i at λ = i)"),
    expectedAccuracy: z.number().describe('validation accuracy along the path at λ'),
    expectedCost: z.number().describe("validation mean cost (fraction of the backbone's MACs) at λ"),
  })
  .strict();
export type Solved = z.infer<typeof solvedSchema>;

/** What an operator writes (PUT body). */
export const regionSettingsSchema = z
  .object({
    policy: z.enum(POLICIES),
    /** Per exit; every score lives in [0, 1], so a threshold above 1 turns that exit off (not run; core/cascade-rule.ts). */
    thresholds: z.array(z.number().min(0).max(1e9)).optional(),
    /** Mean cost per request as a fraction of the backbone's MACs (e.g. 0.5). */
    budget: z.number().positive().optional(),
    /**
     * Largest share of requests forwarded to the backend (e.g. 0.2): the controller re-solves the
     * thresholds on the region's own traffic (core/live-solve.ts); until it has, the frontier point
     * whose validation forward rate fits is applied.
     */
    maxForwardRate: z.number().min(0).max(1).optional(),
    /**
     * Share of the region's requests scored at every edge exit after their answer, for the
     * controller's histograms (default EXPLORE_DEFAULT with maxForwardRate, else 0).
     */
    explore: z.number().min(0).max(1).optional(),
    /** Written by the controller's re-solve (POST /admin/regions/{key}/resolve), with maxForwardRate only. */
    solved: solvedSchema.optional(),
    /** Segments run at the edge (1 … number of segments). */
    split: z.number().int().min(1),
    encoding: z.enum(FEATURE_ENCODINGS),
    note: z.string().max(500).optional(),
  })
  .strict()
  .refine((s) => [s.thresholds, s.budget, s.maxForwardRate].filter((x) => x !== undefined).length === 1, {
    message:
      'give exactly one of "thresholds" (per exit), "budget" (mean cost fraction) or "maxForwardRate" (share forwarded)',
  })
  .refine((s) => s.solved === undefined || s.maxForwardRate !== undefined, {
    message: '"solved" (the controller\'s re-solve) goes with "maxForwardRate" only',
    path: ['solved'],
  });
export type RegionSettings = z.infer<typeof regionSettingsSchema>;

/** What KV stores: the settings plus version metadata. */
export const regionEntrySchema = z.object({
  settings: regionSettingsSchema,
  version: z.number().int().positive(),
  updatedAt: z.string(),
  /** The version this one was rolled back to, when it was made by a rollback. */
  rolledBackTo: z.number().int().positive().optional(),
});
export type RegionEntry = z.infer<typeof regionEntrySchema>;

export interface CfLocation {
  colo?: string;
  country?: string;
  continent?: string;
}

export function regionKeys(cf: CfLocation | undefined): string[] {
  const keys: string[] = [];
  if (cf?.colo) keys.push(`colo:${cf.colo.toUpperCase()}`);
  if (cf?.country) keys.push(`country:${cf.country.toUpperCase()}`);
  if (cf?.continent) keys.push(`continent:${cf.continent.toUpperCase()}`);
  keys.push('default');
  return keys.filter((k) => REGION_KEY.test(k));
}

/** Checks settings against the bundle; returns human-readable problems (empty = valid). */
export function checkSettings(s: RegionSettings, m: Manifest): string[] {
  const problems: string[] = [];
  if (s.split > m.segments.length)
    problems.push(
      `split ${s.split} exceeds the bundle's ${m.segments.length} segments (allowed 1-${m.segments.length})`,
    );
  if (s.thresholds && s.thresholds.length !== m.exits.length)
    problems.push(`thresholds has ${s.thresholds.length} entries, the bundle has ${m.exits.length} exits`);
  if (s.policy === 'eenet' && !m.exits.every((e) => e.scheduler))
    problems.push(`policy eenet needs an EENet scheduler on every exit; this bundle (${m.name}) has none`);
  if (s.solved && s.solved.thresholds.length !== m.exits.length)
    problems.push(
      `solved.thresholds has ${s.solved.thresholds.length} entries, the bundle has ${m.exits.length} exits`,
    );
  if (s.maxForwardRate !== undefined && !(m.policies.frontier[s.policy] ?? []).length)
    problems.push(`the bundle has no calibrated frontier for policy ${s.policy} (maxForwardRate solves along it)`);
  if (s.budget !== undefined) {
    const points = m.policies.frontier[s.policy] ?? [];
    if (!points.length) problems.push(`the bundle has no calibrated frontier for policy ${s.policy}`);
    else if (s.budget < points[0]!.cost)
      problems.push(`budget ${s.budget} is below the cheapest calibrated point (${points[0]!.cost.toFixed(4)})`);
  }
  return problems;
}

/**
 * The frontier point a budget resolves to: the best validation accuracy among the policy's points
 * that cost no more than `budget` (the last such point on a tie; the cheapest point when none fits),
 * with its index in `m.policies.frontier[policy]`; undefined when the policy has no frontier.
 */
export function budgetPoint(
  policy: string,
  budget: number,
  m: Manifest,
): { point: FrontierPoint; index: number } | undefined {
  const points = m.policies.frontier[policy] ?? [];
  let index = 0;
  points.forEach((p, i) => {
    if (p.cost <= budget && p.accuracy >= points[index]!.accuracy) index = i;
  });
  return points.length ? { point: points[index]!, index } : undefined;
}

/** Share of inputs a frontier point forwards at `split` (validation): those no exit before it answers. */
export function pointForwardRate(p: FrontierPoint, split: number): number {
  return Math.max(0, 1 - p.exitRates.slice(0, split).reduce((a, b) => a + b, 0));
}

/**
 * The frontier point a forward-rate budget resolves to before any live re-solve: the best validation
 * accuracy among the points whose validation forward rate at `split` is at most `rate` (the
 * least-forwarding point when none is).
 */
export function forwardRatePoint(
  policy: string,
  rate: number,
  split: number,
  m: Manifest,
): { point: FrontierPoint; index: number } | undefined {
  const points = m.policies.frontier[policy] ?? [];
  if (!points.length) return undefined;
  let index = -1;
  points.forEach((p, i) => {
    if (pointForwardRate(p, split) <= rate && (index < 0 || p.accuracy >= points[index]!.accuracy)) index = i;
  });
  if (index < 0)
    index = points.reduce((b, p, i) => (pointForwardRate(p, split) < pointForwardRate(points[b]!, split) ? i : b), 0);
  return { point: points[index]!, index };
}

/** Share of a region's requests explored for the controller. */
export const exploreShare = (s: RegionSettings): number =>
  s.explore ?? (s.maxForwardRate !== undefined ? EXPLORE_DEFAULT : 0);

/**
 * Per-exit thresholds for the entry: explicit; the controller's re-solve, or the validation point
 * within a forward-rate budget; or the best frontier point within the cost budget.
 */
export function resolveThresholds(s: RegionSettings, m: Manifest): number[] {
  if (s.thresholds) return s.thresholds;
  if (s.maxForwardRate !== undefined) {
    if (s.solved) return s.solved.thresholds;
    const p = forwardRatePoint(s.policy, s.maxForwardRate, s.split, m);
    if (!p) throw new Error(`no frontier for policy ${s.policy}`);
    return p.point.thresholds;
  }
  const best = budgetPoint(s.policy, s.budget!, m);
  if (!best) throw new Error(`no frontier for policy ${s.policy}`);
  return best.point.thresholds;
}

/**
 * By default the edge answers at least this share of inputs (validation, at the default thresholds),
 * running no more segments than that takes: every segment past it is inference that each forwarded
 * request pays on the isolate's one inference thread, in front of every request queued behind it
 * (measured: running all four exits of the shipped bundle at the edge answers 96.7 % there, but a
 * forwarded request then spends ~7 ms computing instead of ~1-2 ms; bench/results/edge.md).
 */
export const DEFAULT_EDGE_SHARE = 0.85;

/** The default split: the fewest segments whose exits answer DEFAULT_EDGE_SHARE of validation inputs at the default point. */
export function defaultSplit(m: Manifest): number {
  const d = m.exits.map((e) => e.defaultThreshold);
  const point = (m.policies.frontier[m.policies.default] ?? []).find(
    (p) => p.thresholds.length === d.length && p.thresholds.every((t, i) => t === d[i]),
  );
  if (!point) return m.exits.length;
  let share = 0;
  for (let k = 0; k < m.exits.length; k++) {
    share += point.exitRates[k] ?? 0;
    if (share >= DEFAULT_EDGE_SHARE) return k + 1;
  }
  return m.exits.length;
}

/** Settings used when KV has nothing valid for a request's region: the manifest's defaults. */
export function manifestDefaults(m: Manifest): RegionSettings {
  return {
    policy: m.policies.default,
    thresholds: m.exits.map((e) => e.defaultThreshold),
    split: defaultSplit(m),
    encoding: 'f16',
  };
}
