/**
 * The dashboard's reads of the worker's admin API (same origin, bearer token): /v1/metrics,
 * /admin/regions, /admin/regions/{key} with its /history and /guard (shadow verification), /admin/frontier. Types come from the modules that
 * define the answers (type-only imports: nothing of them is bundled). A problem+json answer becomes
 * an ApiError carrying its status, code and detail, which the page shows as they are.
 */
import type { Figure, ItemisedFigure } from '../../../../core/cost-model.js';
import type { FrontierView, OperatingPoint, Resolved } from '../../../../core/operating-points.js';
import type { RegionEntry } from '../../../../core/regions.js';
import type { SeriesPoint, TotalsView } from '../../src/metrics/query.js';
import type { VerifyResult } from '../../src/thresholds/region-entries.js';

export interface MetricsCost {
  currency: 'USD';
  actual: ItemisedFigure;
  periodTotal: ItemisedFigure;
  counterfactuals: { allOnGpu: ItemisedFigure; fullModelAtEdge: ItemisedFigure; workersAiResnet50: ItemisedFigure };
  gpuPerForwardedSample: Figure;
  assumptions: string[];
}
export type Totals = TotalsView<MetricsCost>;

/** GET /v1/metrics's answer (workers/edge/src/routes/metrics.ts metricsSchema). */
export interface Metrics {
  from: string;
  to: string;
  region: string | null;
  step: string;
  stepSeconds: number;
  rollupHorizon: string;
  tables: string[];
  model: string;
  totals: Totals;
  byRegion: Record<string, Totals>;
  series: SeriesPoint[];
}

/** GET /admin/regions/{key}: the entry (strongly consistent, from its Durable Object) and what it resolves to. */
export type RegionView = RegionEntry & { key: string; resolved: Resolved };
/** An item of GET /admin/regions (as published to KV: eventually consistent). */
export interface RegionListItem {
  key: string;
  version: number;
  updatedAt: string;
  resolved: Resolved;
}
export interface History {
  key: string;
  versions: RegionEntry[];
}
export type { FrontierView, OperatingPoint };

type Verified = Extract<VerifyResult, { ok: true }>;
/**
 * GET /admin/regions/{key}/guard's answer (workers/edge/src/routes/admin.ts verificationSchema): per edge
 * exit that is on, the shadowed answers' disagreement with the backbone (Wilson interval) and the guard's
 * verdict; the shadow share it needs and what shadowing costs; the stable and canary arms; the canary's decision.
 */
export type Verification = Omit<Verified, 'ok' | 'action'> & {
  action: { kind: string; reason: string; version: number | null } | null;
};
export type GuardStatus = Verified['exits'][number]['status'];
export type ArmView = Verified['stable'];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

export class Api {
  constructor(private readonly token: string) {}

  private async get<T>(path: string): Promise<T> {
    const res = await fetch(path, { headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' } });
    const body = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new ApiError(res.status, 'NOT_JSON', `${path} answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const p = json as { code?: string; detail?: string; title?: string };
      throw new ApiError(res.status, p.code ?? `HTTP_${res.status}`, p.detail ?? p.title ?? `HTTP ${res.status}`);
    }
    return json as T;
  }

  metrics(q: { from: string; to: string; region?: string }): Promise<Metrics> {
    const p = new URLSearchParams({ from: q.from, to: q.to });
    if (q.region) p.set('region', q.region);
    return this.get(`/v1/metrics?${p}`);
  }
  regions(): Promise<{ regions: RegionListItem[] }> {
    return this.get('/admin/regions');
  }
  region(key: string): Promise<RegionView> {
    return this.get(`/admin/regions/${encodeURIComponent(key)}`);
  }
  history(key: string): Promise<History> {
    return this.get(`/admin/regions/${encodeURIComponent(key)}/history`);
  }
  /** The region's shadow verification (changes nothing; POST …/verify is the one that acts). */
  guard(key: string): Promise<Verification> {
    return this.get(`/admin/regions/${encodeURIComponent(key)}/guard`);
  }
  frontier(): Promise<FrontierView> {
    return this.get('/admin/frontier');
  }
}
