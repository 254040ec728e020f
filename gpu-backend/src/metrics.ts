// prom-client metrics on a Registry of our own, not prom-client's global one: several backends in one process (tests, benches) keep separate counts.
/**
 * The backend's Prometheus metrics: requests by status code, errors by code, answers by exit, batch
 * sizes, queue and compute time (histograms, in seconds), in-flight gauges, and this process's
 * process/Node metrics. In a cluster every server process sends its registry as JSON
 * (`snapshot`, i.e. `registry.getMetricsAsJSON()`) to the primary, which adds them up with
 * prom-client's `AggregatorRegistry.aggregate` (`PrimaryMetrics.render`).
 *
 * @example
 * metrics.observeBatch(17); await metrics.render(); // "# HELP cascade_batch_size …\n# TYPE cascade_batch_size histogram\n…"
 * await new PrimaryMetrics().render([await a.snapshot(), await b.snapshot()]);
 */
import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';

/**
 * Queue and compute time, in seconds: a segment batch runs in well under a millisecond on a GPU and
 * in milliseconds to tens of them on CPU; the batch window MAX_WAIT_MS is 0-1000 ms; past
 * REQUEST_TIMEOUT_MS (default 5 s) a request is answered 504 anyway. So 0.5 ms … 5 s, about 1-2.5-5 a decade.
 */
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Samples per batch: powers of two up to MAX_BATCH's upper limit (4096), so a full batch at any power-of-two MAX_BATCH lands on a bound. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/** This process's gauges (app.ts `gauges`), set at each scrape. Summed across a cluster's processes: the cluster's work in flight. */
const GAUGES = {
  cascade_requests_in_flight: 'resume requests accepted and not yet answered',
  cascade_in_flight: 'batcher work: running batches plus queued requests',
} as const;
export type GaugeValues = Partial<Record<keyof typeof GAUGES, number>>;

/** One process's metrics as plain data (`registry.getMetricsAsJSON()`): what a server process sends the primary. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Process and Node metrics (CPU, memory, event-loop lag, GC): read at scrape time, nothing per request. */
function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'cascade_' });
}

export class Metrics {
  readonly registry = new Registry();
  // Counters and histograms: summed across a cluster's processes (prom-client's default, spelled out).
  private readonly requests = new Counter({
    name: 'cascade_requests_total',
    help: 'resume requests by HTTP status',
    labelNames: ['status'],
    aggregator: 'sum',
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'cascade_errors_total',
    help: 'errors by code',
    labelNames: ['code'],
    aggregator: 'sum',
    registers: [this.registry],
  });
  private readonly exits = new Counter({
    name: 'cascade_exits_total',
    help: 'answers by exit taken (the last is the final head)',
    labelNames: ['exit'],
    aggregator: 'sum',
    registers: [this.registry],
  });
  private readonly batch = new Histogram({
    name: 'cascade_batch_size',
    help: 'samples per executed batch',
    buckets: BATCH_BUCKETS,
    aggregator: 'sum',
    registers: [this.registry],
  });
  private readonly queue = new Histogram({
    name: 'cascade_queue_seconds',
    help: 'time waiting for a batch',
    buckets: SECONDS_BUCKETS,
    aggregator: 'sum',
    registers: [this.registry],
  });
  private readonly compute = new Histogram({
    name: 'cascade_compute_seconds',
    help: 'time from batch start to answer',
    buckets: SECONDS_BUCKETS,
    aggregator: 'sum',
    registers: [this.registry],
  });
  private readonly gauges = Object.fromEntries(
    Object.entries(GAUGES).map(([name, help]) => [
      name,
      new Gauge({ name, help, aggregator: 'sum', registers: [this.registry] }),
    ]),
  ) as Record<keyof typeof GAUGES, Gauge>;

  constructor() {
    processMetrics(this.registry);
  }

  /** The content type of `render`'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  request(status: number): void {
    this.requests.inc({ status: String(status) });
  }
  error(code: string): void {
    this.errors.inc({ code });
  }
  observeBatch(size: number): void {
    this.batch.observe(size);
  }
  /** Times in milliseconds (performance.now()), recorded in seconds. */
  observeAnswer(exit: number, queueMs: number, computeMs: number): void {
    this.exits.inc({ exit: String(exit) });
    this.queue.observe(queueMs / 1000);
    this.compute.observe(computeMs / 1000);
  }

  private setGauges(g: GaugeValues): void {
    for (const [k, v] of Object.entries(g)) if (v !== undefined) this.gauges[k as keyof typeof GAUGES]?.set(v);
  }

  /** This process's metrics as plain data, for the cluster's primary to add up. */
  snapshot(gauges: GaugeValues = {}): Promise<MetricsSnapshot> {
    this.setGauges(gauges);
    return this.registry.getMetricsAsJSON();
  }

  /** Prometheus text. */
  render(gauges: GaugeValues = {}): Promise<string> {
    this.setGauges(gauges);
    return this.registry.metrics();
  }
}

/** The shared executor's counters (coalesce.ts `stats()`). */
export interface SharedExecutorStats {
  runs: number;
  calls: number;
  samples: number;
}

/**
 * The cluster primary's metrics: how many server processes answered a scrape, the shared executor's
 * counters (with `BACKEND_SHARED_EXECUTOR=1`), and the primary's own process metrics; `render` adds
 * them to the server processes' snapshots.
 */
export class PrimaryMetrics {
  readonly registry = new Registry();
  private readonly processes = new Gauge({
    name: 'cascade_processes',
    help: 'server processes whose metrics this scrape adds up',
    aggregator: 'sum',
    registers: [this.registry],
  });

  constructor(shared?: () => SharedExecutorStats) {
    processMetrics(this.registry);
    if (!shared) return;
    const counters: [keyof SharedExecutorStats, string][] = [
      ['runs', 'runs the server processes sent to the shared executor'],
      ['calls', 'executor calls they were merged into'],
      ['samples', 'samples in those calls'],
    ];
    for (const [k, help] of counters) {
      // Read from coalesce.ts's running totals at scrape time.
      new Counter({
        name: `cascade_shared_executor_${k}_total`,
        help,
        aggregator: 'sum',
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(shared()[k]);
        },
      });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The cluster's /metrics text: the server processes' snapshots and the primary's own metrics, added up
   * by each metric's `aggregator` (ours: `sum`; prom-client's process metrics: sums of CPU and memory
   * over every OS process, the primary included, event-loop lag averaged, start time left out).
   */
  async render(snaps: MetricsSnapshot[]): Promise<string> {
    this.processes.set(snaps.length);
    const all = [...snaps, await this.registry.getMetricsAsJSON()];
    // Without the shared executor the IPC is JSON, where a NaN (an event-loop lag with no samples yet) arrives as null.
    for (const snap of all) for (const m of snap) for (const v of m.values) v.value ??= NaN;
    return AggregatorRegistry.aggregate(all).metrics();
  }
}
