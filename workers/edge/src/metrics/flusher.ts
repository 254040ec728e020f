/**
 * When the isolate's aggregated decisions (aggregate.ts) are written: batched, never one write per
 * request, never on the response's path. Pure: the write (D1, metrics/d1-store.ts), the clock, the
 * sleep and the way to keep work alive after the response (`ctx.waitUntil`) are handed in, so the
 * node tests drive it with fakes.
 *
 * Policy (FlushPolicy, defaults DEFAULT_FLUSH_POLICY, configurable: metrics/config.ts):
 *   - a flush starts when `maxPending` decisions are held, or when the oldest held decision is
 *     `maxAgeMs` old: the request that starts a batch (the first decision after a flush) arms a timer
 *     for that, kept alive by its own `waitUntil`, so the bound holds without later traffic;
 *   - one flush in flight at a time; decisions arriving meanwhile start the next batch (and its timer),
 *     and a flush that ends with `maxPending` held starts the next one at once;
 *   - a failed write keeps its counts (Aggregator.restore) and is retried no sooner than `maxAgeMs`
 *     later (by the next batch's timer or count), so a failing D1 sees at most one attempt per period
 *     per isolate; the failure is logged once per streak, and the recovery once with what it cost;
 *   - past the aggregator's row cap the oldest rows are dropped and counted (`dropped`).
 *
 * What an isolate can lose: Workers gives no shutdown hook, so an isolate evicted (or crashed) loses
 * what it had not written: the decisions since its last completed flush, i.e. fewer than `maxPending`
 * (plus those that arrived during one flush's round trip), none older than `maxAgeMs` plus a round
 * trip: at the defaults, < 1000 decisions or 10 s of traffic, whichever is less. While D1 is failing
 * it is everything held since the failure, up to the cap. A write that fails ambiguously (committed,
 * then the connection dropped) is retried and counted twice: at least once, not exactly once.
 *
 * @example
 * const f = new Flusher({ maxPending: 1000, maxAgeMs: 10_000 });
 * f.record(decision, (rows) => writeRows(env.METRICS, rows), (p) => ctx.waitUntil(p));
 * await f.flushNow((rows) => writeRows(env.METRICS, rows)); // everything held, after any flush in flight
 */
import { log } from '../../../../core/log.js';
import { Aggregator, type Decision, type Row } from './aggregate.js';

export interface FlushPolicy {
  /** Flush when this many decisions are held. */
  maxPending: number;
  /** Flush when the oldest held decision is this old (ms); also the retry delay after a failure. */
  maxAgeMs: number;
}

/**
 * maxPending 1000: below 100 decisions/s an isolate (the edge serves ~430/s at most, bench:edge) the
 * timer flushes, above it the count: at most ~0.4 flushes/s per isolate at full load, each one D1
 * batch of ~one row per (region, exit, outcome) seen, and an eviction loses < 1000 decisions.
 * maxAgeMs 10 s: a minute row is complete in D1 ~10 s after the minute ends (dashboards read
 * minutes), an idle isolate writes at most once per 10 s, and the timer's wait stays well inside the
 * 30 s a Worker's `waitUntil` may run after its response.
 */
export const DEFAULT_FLUSH_POLICY: FlushPolicy = { maxPending: 1000, maxAgeMs: 10_000 };

/**
 * A flush whose promise has not settled after this long is presumed lost: the runtime cancels
 * `waitUntil` work 30 s after the response, and a cancelled promise never settles, which would
 * otherwise block every later flush. Its rows count as dropped (they may or may not have been written).
 */
export const STUCK_FLUSH_MS = 60_000;

/** Writes rows; throws on failure. A FlushError names the rows not written (a partial write); without one, all are kept. */
export type WriteRows = (rows: Row[]) => Promise<void>;
/** Keeps a promise's work alive after the response: `(p) => ctx.waitUntil(p)`. */
export type Defer = (p: Promise<unknown>) => void;

/** A write that failed part-way: `unwritten` are the rows to keep for the retry (the rest were committed). */
export class FlushError extends Error {
  constructor(
    readonly unwritten: Row[],
    cause: unknown,
  ) {
    super(`${unwritten.length} rows not written: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'FlushError';
  }
}

export interface FlushStats {
  /** Decisions held now. */
  pending: number;
  /** Writes attempted, and of those failed. */
  flushes: number;
  failures: number;
  /** Decisions written. */
  written: number;
  /** Decisions dropped past the row cap or lost with a flush that never settled. */
  dropped: number;
  inFlight: boolean;
}

const count = (rows: readonly Row[]) => rows.reduce((n, r) => n + r.count, 0);

/** See the module comment. */
export class Flusher {
  /** When the oldest held decision arrived; undefined while none is held. */
  private oldestAt: number | undefined;
  /** Incremented when a batch starts (first decision held, or a failed batch restored); its timer is for it. */
  private batch = 0;
  private timerFor = -1;
  private inFlight: Promise<boolean> | undefined;
  private inFlightSince = 0;
  private inFlightDecisions = 0;
  private retryAt = 0;
  /** Failed writes in the current streak, the drops before it began, whether its drops were logged. */
  private streak = 0;
  private droppedAtStreakStart = 0;
  private dropsLogged = false;
  private stats = { flushes: 0, failures: 0, written: 0 };

  constructor(
    readonly policy: FlushPolicy = DEFAULT_FLUSH_POLICY,
    readonly agg = new Aggregator(),
    private readonly clock: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Counts one decision; starts a flush, or arms the batch's timer, through `defer`. Never throws for a write. */
  record(d: Decision, write: WriteRows, defer: Defer): void {
    const now = this.clock();
    if (this.agg.pending === 0) this.startBatch(now);
    this.agg.add(d, now);
    if (this.due(now)) {
      defer(this.start(write));
    } else if (this.timerFor !== this.batch) {
      const batch = this.batch;
      this.timerFor = batch;
      const wait = Math.max(this.oldestAt! + this.policy.maxAgeMs, this.retryAt) - now;
      defer(
        this.sleep(Math.max(0, wait)).then(() => {
          // Still this batch (no flush took it, no failure restarted it), and not already being written.
          if (this.batch === batch && this.agg.pending > 0 && !this.busy(this.clock())) return this.start(write);
        }),
      );
    }
  }

  /**
   * Writes everything held now, after the flush in flight (if any) ends: for the scheduled handler
   * and the tests. True when nothing is left failing.
   */
  async flushNow(write: WriteRows): Promise<boolean> {
    // Bounded wait: a flush that never settles is given up at STUCK_FLUSH_MS (busy() then says so).
    while (this.busy(this.clock()))
      await Promise.race([this.inFlight, this.sleep(STUCK_FLUSH_MS + 1 - (this.clock() - this.inFlightSince))]);
    if (this.agg.pending === 0) return true;
    const first = this.begin(write);
    await first.chained;
    return first.ok;
  }

  /** Counters, for logs and tests. */
  snapshot(): FlushStats {
    return {
      pending: this.agg.pending,
      ...this.stats,
      dropped: this.agg.dropped,
      inFlight: this.busy(this.clock()),
    };
  }

  private startBatch(now: number): void {
    this.oldestAt = now;
    this.batch++;
  }

  private due(now: number): boolean {
    if (this.busy(now) || this.agg.pending === 0 || now < this.retryAt) return false;
    return this.agg.pending >= this.policy.maxPending || now - this.oldestAt! >= this.policy.maxAgeMs;
  }

  /** A flush is in flight (and not presumed lost: STUCK_FLUSH_MS). */
  private busy(now: number): boolean {
    if (!this.inFlight) return false;
    if (now - this.inFlightSince <= STUCK_FLUSH_MS) return true;
    log.warn('metrics: a decision flush never settled; presuming its decisions lost', {
      decisions: this.inFlightDecisions,
      afterMs: now - this.inFlightSince,
    });
    this.agg.lose(this.inFlightDecisions);
    this.inFlight = undefined;
    return false;
  }

  /** Takes what is held and writes it; then, if `maxPending` gathered meanwhile, the next batch. */
  private start(write: WriteRows): Promise<void> {
    return this.begin(write).chained;
  }

  /** Starts one write of everything held: `ok` settles with it, `chained` after any flush it starts next. */
  private begin(write: WriteRows): { ok: Promise<boolean>; chained: Promise<void> } {
    const rows = this.agg.take();
    this.oldestAt = undefined;
    const now = this.clock();
    this.inFlightSince = now;
    this.inFlightDecisions = count(rows);
    const p = this.write(rows, write);
    this.inFlight = p;
    const chained = p.then(() => {
      if (this.inFlight === p) this.inFlight = undefined;
      if (this.due(this.clock())) return this.start(write);
    });
    return { ok: p, chained };
  }

  /** One write; never rejects: a failure keeps the rows (or the unwritten part) for the retry. */
  private async write(rows: Row[], write: WriteRows): Promise<boolean> {
    if (rows.length === 0) return true;
    this.stats.flushes++;
    try {
      await write(rows);
      this.stats.written += count(rows);
      if (this.streak > 0)
        log.info('metrics: decision flush recovered', {
          failedAttempts: this.streak,
          droppedMeanwhile: this.agg.dropped - this.droppedAtStreakStart,
        });
      this.streak = 0;
      this.dropsLogged = false;
      return true;
    } catch (e) {
      const kept = e instanceof FlushError ? e.unwritten : rows;
      this.stats.failures++;
      this.stats.written += count(rows) - count(kept);
      if (this.streak === 0) this.droppedAtStreakStart = this.agg.dropped;
      this.agg.restore(kept);
      const now = this.clock();
      this.startBatch(now);
      this.retryAt = now + this.policy.maxAgeMs;
      if (this.streak === 0)
        log.warn('metrics: decision flush failed; keeping the counts and retrying (logged once until it recovers)', {
          rows: kept.length,
          decisions: count(kept),
          retryInMs: this.policy.maxAgeMs,
          maxRows: this.agg.maxRows,
          error: e,
        });
      if (!this.dropsLogged && this.agg.dropped > this.droppedAtStreakStart) {
        this.dropsLogged = true;
        log.warn('metrics: decision rows past the cap; dropping the oldest (logged once until the flush recovers)', {
          maxRows: this.agg.maxRows,
          dropped: this.agg.dropped - this.droppedAtStreakStart,
        });
      }
      this.streak++;
      return false;
    }
  }
}
