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

/** The operator's promise on shadow-verified answers: disagreement with the backbone ≤ maxDisagreement at `confidence` (core/shadow.ts). */
export const guardSchema = z
  .object({
    maxDisagreement: z
      .number()
      .gt(0)
      .lt(1)
      .describe('largest share of confident edge answers that may disagree with the full model'),
    confidence: z
      .number()
      .min(0.5)
      .lt(1)
      .describe('confidence of the Wilson interval the guard is judged with (e.g. 0.95)'),
  })
  .strict();

/** Written by the controller's verification (POST /admin/regions/{key}/verify, the cron) when a guard broke. */
export const guardedSchema = z
  .object({
    at: z.string().describe('ISO time of the verification that raised the floors'),
    floors: z
      .array(z.number().min(0).max(2))
      .describe(
        'per exit: the lowest threshold its shadowed answers meet the guard at; 2 = exit switched off, 0 = no floor',
      ),
    reason: z.string(),
  })
  .strict();
export type Guarded = z.infer<typeof guardedSchema>;

/** A candidate threshold set served to a share of the region's traffic, judged by the controller (promote / roll back). */
export const canarySchema = z
  .object({
    thresholds: z.array(z.number().min(0).max(1e9)),
    share: z.number().gt(0).max(0.5).describe("share of the region's requests served with the canary's thresholds"),
    shadow: z
      .number()
      .gt(0)
      .max(1)
      .optional()
      .describe("share of the canary's confident edge answers shadow-verified (default CANARY_SHADOW_DEFAULT)"),
    minSamples: z
      .number()
      .int()
      .min(30)
      .optional()
      .describe('shadowed canary answers before a promote can be decided (default CANARY_MIN_SAMPLES)'),
    startedAt: z.string().optional().describe('ISO time the canary started (set by the controller when absent)'),
  })
  .strict();
export type Canary = z.infer<typeof canarySchema>;
export const CANARY_SHADOW_DEFAULT = 0.5;
export const CANARY_MIN_SAMPLES = 200;

/** Written by the controller when the region's spend approaches its maxUsdPerMillion. */
export const cappedSchema = z
  .object({
    at: z.string(),
    share: z
      .number()
      .min(0)
      .max(1)
      .describe('share of would-be forwards answered at the edge instead (degraded, reason "budget")'),
    spendUsdPerMillion: z.number().describe('measured spend over the window, USD per million requests'),
    uncappedUsdPerMillion: z.number().describe('what the window would have cost with every would-be forward forwarded'),
    windowMinutes: z.number().int().positive(),
  })
  .strict();
export type Capped = z.infer<typeof cappedSchema>;

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
    /** Share of confident edge answers also sent, after the response, to the backend for the full model's answer (default 0). */
    shadow: z.number().min(0).max(1).optional(),
    /** The disagreement guard those shadowed answers are held to (default DEFAULT_GUARD). */
    guard: guardSchema.optional(),
    /** Written by the controller: per-exit threshold floors after a broken guard. */
    guarded: guardedSchema.optional(),
    /** A candidate threshold set on a share of traffic (promoted or rolled back by the controller). */
    canary: canarySchema.optional(),
    /**
     * Money cap, USD per million requests (core/cost-model.ts): as the measured spend approaches it,
     * the controller answers a share of would-be forwards at the edge (degraded, reason "budget").
     */
    maxUsdPerMillion: z.number().positive().optional(),
    /** Written by the controller while the money cap holds forwards back. */
    capped: cappedSchema.optional(),
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
export const EVENT_KINDS = ['resolve', 'guard', 'canary-promote', 'canary-rollback', 'cap'] as const;

export const regionEntrySchema = z.object({
  settings: regionSettingsSchema,
  version: z.number().int().positive(),
  updatedAt: z.string(),
  /** The version this one was rolled back to, when it was made by a rollback. */
  rolledBackTo: z.number().int().positive().optional(),
  /** Why the controller wrote this version (absent for an operator's write). */
  event: z
    .object({ kind: z.enum(EVENT_KINDS), reason: z.string() })
    .strict()
    .optional(),
});
export type RegionEvent = NonNullable<z.infer<typeof regionEntrySchema>['event']>;
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
  if (s.canary && s.canary.thresholds.length !== m.exits.length)
    problems.push(
      `canary.thresholds has ${s.canary.thresholds.length} entries, the bundle has ${m.exits.length} exits`,
    );
  if (s.guarded && s.guarded.floors.length !== m.exits.length)
    problems.push(`guarded.floors has ${s.guarded.floors.length} entries, the bundle has ${m.exits.length} exits`);
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

/** Thresholds raised to per-exit floors (a floor of 0, or none, leaves the exit as it is). */
export const applyFloors = (t: readonly number[], floors: readonly number[] | undefined): number[] =>
  floors ? t.map((v, i) => Math.max(v, floors[i] ?? 0)) : [...t];

/**
 * Per-exit thresholds for the entry: explicit; the controller's re-solve, or the validation point
 * within a forward-rate budget; or the best frontier point within the cost budget. Raised to the
 * floors a broken shadow guard set (`guarded`): those floors hold whatever the budget says.
 */
export function resolveThresholds(s: RegionSettings, m: Manifest): number[] {
  return applyFloors(baseThresholds(s, m), s.guarded?.floors);
}

function baseThresholds(s: RegionSettings, m: Manifest): number[] {
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
