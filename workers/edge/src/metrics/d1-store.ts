/**
 * The decision rows' D1 I/O (tables: workers/edge/migrations/0001_decisions.sql): the flush's batched
 * upserts, which add a flushed row's counts, sums and histogram buckets to the stored row of the same
 * (minute, region, exit, outcome), and the scheduled roll-up of old minutes into hour rows with the
 * retention delete. The rows themselves are aggregate.ts's.
 *
 * @example
 * await writeRows(env.METRICS, rows);                        // from the flusher (flusher.ts)
 * await rollUp(env.METRICS, Date.now(), { rollupAfterHours: 48, retainDays: 90 }); // hourly cron
 */
import { BUCKETS, type Row } from './aggregate.js';
import type { RetentionConfig } from './config.js';
import { FlushError } from './flusher.js';
import type { BucketRow, QueryPlan } from './query.js';

const BUCKET_COLUMNS = Array.from({ length: BUCKETS }, (_, i) => `b${i}`);
/** The columns that add up when rows merge. */
const SUMMED = ['count', 'bytes', 'compute_ms', 'backend_ms', 'total_ms', ...BUCKET_COLUMNS];
const addExcluded = SUMMED.map((c) => `${c} = ${c} + excluded.${c}`).join(', ');

/** One row: 4 key + 25 summed parameters (D1 allows 100 per statement). */
const UPSERT = `INSERT INTO decisions (minute, region, exit, outcome, ${SUMMED.join(', ')})
VALUES (${new Array(4 + SUMMED.length).fill('?').join(', ')})
ON CONFLICT (minute, region, exit, outcome) DO UPDATE SET ${addExcluded}`;

/**
 * Statements per `batch()`: each batch is one round trip and one transaction, so a failure leaves no
 * batch half-written; 100 keeps a batch well inside D1's per-query time and size limits (a flush is
 * usually one batch: one row per region, exit and outcome seen in the minute).
 */
const BATCH = 100;

/**
 * Upserts `rows` into `decisions`. Throws a FlushError naming the rows of the failed batch and those
 * after it (the earlier batches are committed), so the caller keeps exactly those.
 */
export async function writeRows(db: D1Database, rows: readonly Row[]): Promise<void> {
  const stmt = db.prepare(UPSERT);
  for (let at = 0; at < rows.length; at += BATCH) {
    const chunk = rows.slice(at, at + BATCH);
    try {
      await db.batch(
        chunk.map((r) =>
          stmt.bind(
            r.minute,
            r.region,
            r.exit,
            r.outcome,
            r.count,
            r.bytes,
            r.computeMs,
            r.backendMs,
            r.totalMs,
            ...r.buckets,
          ),
        ),
      );
    } catch (e) {
      throw new FlushError(rows.slice(at), e);
    }
  }
}

/** What one roll-up did. */
export interface RollUpResult {
  /** Minute rows before this (Unix s, an hour's start) were rolled up and deleted. */
  rolledBefore: number;
  minuteRowsRolled: number;
  /** Hour rows before this (Unix s) were deleted. */
  retainedFrom: number;
  hourRowsDeleted: number;
}

/**
 * Rolls the minute rows of every whole hour older than `rollupAfterHours` into `decisions_hourly`
 * (adding to hour rows already there, so a late flush of an old minute is rolled by the next run),
 * deletes those minute rows, and deletes hour rows older than `retainDays`. One D1 batch: one
 * transaction, so a failure rolls nothing up and deletes nothing, and the next run redoes it.
 */
export async function rollUp(db: D1Database, nowMs: number, cfg: RetentionConfig): Promise<RollUpResult> {
  const now = Math.floor(nowMs / 1000);
  // Whole hours only: a partly rolled hour would be correct (upserts add) but harder to read.
  const rolledBefore = Math.floor((now - cfg.rollupAfterHours * 3600) / 3600) * 3600;
  const retainedFrom = Math.floor((now - cfg.retainDays * 86_400) / 3600) * 3600;
  const [, rolled, deleted] = await db.batch([
    db
      .prepare(
        `INSERT INTO decisions_hourly (hour, region, exit, outcome, ${SUMMED.join(', ')})
SELECT minute - minute % 3600, region, exit, outcome, ${SUMMED.map((c) => `SUM(${c})`).join(', ')}
FROM decisions WHERE minute < ?1
GROUP BY minute - minute % 3600, region, exit, outcome
ON CONFLICT (hour, region, exit, outcome) DO UPDATE SET ${addExcluded}`,
      )
      .bind(rolledBefore),
    db.prepare('DELETE FROM decisions WHERE minute < ?1').bind(rolledBefore),
    db.prepare('DELETE FROM decisions_hourly WHERE hour < ?1').bind(retainedFrom),
  ]);
  return {
    rolledBefore,
    minuteRowsRolled: rolled?.meta.changes ?? 0,
    retainedFrom,
    hourRowsDeleted: deleted?.meta.changes ?? 0,
  };
}

/** Runs a query plan's statements (metrics/query.ts), one D1 batch: the rows of both tables, read in one transaction. */
export async function readBuckets(db: D1Database, plan: QueryPlan): Promise<BucketRow[]> {
  const results = await db.batch<BucketRow>(plan.statements.map((s) => db.prepare(s.sql).bind(...s.params)));
  return results.flatMap((r) => r.results);
}
