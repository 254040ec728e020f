/**
 * The optional second sink of decisions: Workers Analytics Engine, one data point per decision, when
 * the `DECISIONS_AE` binding is there (wrangler.toml shows how to add it; workers/edge/src/env.ts
 * declares it optional). D1 (d1-store.ts) is written either way when `METRICS` is bound.
 *
 * When to choose which:
 *   - D1 aggregates (the default): per-minute rows, so storage and writes grow with regions × exits ×
 *     outcomes, not with traffic (cheap); queryable from the worker itself with SQL (the dashboard's
 *     API can read it); exact counts, except that an isolate evicted without warning loses what it
 *     had not flushed: ≤ one flush's worth (< METRICS_FLUSH_DECISIONS decisions or
 *     METRICS_FLUSH_SECONDS of its traffic, flusher.ts).
 *   - Analytics Engine: a point per request ($0.25 per million points written beyond the included
 *     ones), written by the runtime outside the request (nothing to flush, nothing lost on eviction),
 *     any dimension can be grouped on later; but sampled at high volume (queries get `_sample_interval`
 *     and must weight by it), queried through the account's SQL API over HTTP with an API token (not
 *     from a binding), and kept for a fixed 3 months. Choose it for per-request detail or when no
 *     eviction loss is acceptable; keep D1 for the operators' view the worker serves itself.
 *
 * The point's layout (AE columns are positional):
 *   index1  region key (the sampling key: each region keeps its own sample)
 *   blob1   region key, blob2 outcome
 *   double1 exit (-1 for error), double2 bytes forwarded, double3 edge compute ms, double4 backend ms,
 *   double5 total ms
 *
 * Miniflare (wrangler dev, the vitest pool) binds a local dataset whose `writeDataPoint` keeps
 * nothing it can be asked for, so the tests hand the worker a recording object with the same method.
 *
 * @example
 * env.DECISIONS_AE?.writeDataPoint(decisionDataPoint(decision));
 * // SQL API: SELECT blob2 AS outcome, SUM(_sample_interval) AS decisions FROM edge_cascade_decisions
 * //          WHERE timestamp > NOW() - INTERVAL '1' HOUR GROUP BY outcome
 */
import type { Decision } from './aggregate.js';

/** The part of an Analytics Engine dataset binding this uses (structural: the node tests run it). */
export interface DataPointSink {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

/** A decision as an Analytics Engine data point (layout in the module comment). */
export function decisionDataPoint(d: Decision): { indexes: string[]; blobs: string[]; doubles: number[] } {
  return {
    indexes: [d.region],
    blobs: [d.region, d.outcome],
    doubles: [d.exit, d.bytes, d.computeMs, d.backendMs, d.totalMs],
  };
}
