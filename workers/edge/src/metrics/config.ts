/**
 * The decision metrics' settings, from optional vars (workers/edge/src/env.ts lists them): unset
 * means the default; a value that does not parse or is out of range is logged once and the default
 * used, because a metrics setting must never stop the worker from answering.
 *
 *   METRICS_FLUSH_DECISIONS     1000  flush when this many decisions are held (1-100000)
 *   METRICS_FLUSH_SECONDS         10  flush when the oldest held decision is this old (1-25: the wait
 *                                     rides on a request's waitUntil, which may run 30 s after it)
 *   METRICS_ROLLUP_AFTER_HOURS    48  minute rows older than this become hour rows (1-8760)
 *   METRICS_RETAIN_DAYS           90  hour rows older than this are deleted (1-3650)
 *   METRICS_ENABLED             true  false: record no decisions at all (neither D1 nor Analytics
 *                                     Engine); the kill switch for a metrics sink in trouble, and the
 *                                     "without" arm of bench:metrics
 *
 * @example
 * metricsConfig({ METRICS_FLUSH_SECONDS: '5' }); // { flush: { maxPending: 1000, maxAgeMs: 5000 }, rollupAfterHours: 48, retainDays: 90, enabled: true }
 */
import { log } from '../../../../core/log.js';
import { DEFAULT_FLUSH_POLICY, type FlushPolicy } from './flusher.js';

/** The vars read here; all optional strings. */
export interface MetricsVars {
  METRICS_FLUSH_DECISIONS?: string;
  METRICS_FLUSH_SECONDS?: string;
  METRICS_ROLLUP_AFTER_HOURS?: string;
  METRICS_RETAIN_DAYS?: string;
  METRICS_ENABLED?: string;
}

export interface RetentionConfig {
  /** Minute rows older than this many hours (whole hours) are rolled into hour rows: two days of minutes to look into an incident. */
  rollupAfterHours: number;
  /** Hour rows older than this many days are deleted: a quarter of hourly history for trends and costs. */
  retainDays: number;
}

export interface MetricsConfig extends RetentionConfig {
  flush: FlushPolicy;
  /** Whether decisions are recorded at all (METRICS_ENABLED). */
  enabled: boolean;
}

export const DEFAULT_RETENTION: RetentionConfig = { rollupAfterHours: 48, retainDays: 90 };

const warned = new Set<string>();

function intVar(vars: MetricsVars, name: keyof MetricsVars, fallback: number, min: number, max: number): number {
  const raw = vars[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw.trim());
  if (Number.isInteger(v) && v >= min && v <= max) return v;
  const key = `${name}=${raw}`;
  if (!warned.has(key)) {
    warned.add(key);
    log.warn(`${name} ignored; using the default`, {
      value: raw,
      allowed: `an integer from ${min} to ${max}`,
      default: fallback,
    });
  }
  return fallback;
}

function boolVar(vars: MetricsVars, name: 'METRICS_ENABLED', fallback: boolean): boolean {
  const raw = vars[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  const key = `${name}=${raw}`;
  if (!warned.has(key)) {
    warned.add(key);
    log.warn(`${name} ignored; using the default`, { value: vars[name], allowed: 'true or false', default: fallback });
  }
  return fallback;
}

/** The settings `vars` give (see the module comment for names, defaults and ranges). */
export function metricsConfig(vars: MetricsVars): MetricsConfig {
  return {
    flush: {
      maxPending: intVar(vars, 'METRICS_FLUSH_DECISIONS', DEFAULT_FLUSH_POLICY.maxPending, 1, 100_000),
      maxAgeMs: intVar(vars, 'METRICS_FLUSH_SECONDS', DEFAULT_FLUSH_POLICY.maxAgeMs / 1000, 1, 25) * 1000,
    },
    rollupAfterHours: intVar(vars, 'METRICS_ROLLUP_AFTER_HOURS', DEFAULT_RETENTION.rollupAfterHours, 1, 8760),
    retainDays: intVar(vars, 'METRICS_RETAIN_DAYS', DEFAULT_RETENTION.retainDays, 1, 3650),
    enabled: boolVar(vars, 'METRICS_ENABLED', true),
  };
}
