/**
 * Prometheus text-format metrics: requests by status code, errors by code, batch sizes, queue and
 * compute time (histograms), answers by exit. Snapshots are plain data, so a cluster's processes can
 * send theirs to the primary, which adds them up (mergeSnapshots) and renders one view.
 *
 * @example
 * metrics.observeBatch(17); metrics.render(); // "# TYPE cascade_batch_size histogram\n…"
 * renderSnapshot(mergeSnapshots([a.snapshot(), b.snapshot()]));
 */
const MS_BUCKETS = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** A histogram's cumulative bucket counts (Prometheus `le` buckets), sum and count. */
export interface HistogramSnapshot { buckets: number[]; counts: number[]; sum: number; n: number }

export interface MetricsSnapshot {
  requests: Record<string, number>;
  errors: Record<string, number>;
  exits: Record<string, number>;
  batch: HistogramSnapshot;
  queue: HistogramSnapshot;
  compute: HistogramSnapshot;
  gauges: Record<string, number>;
}

class Histogram {
  readonly counts: number[];
  sum = 0;
  n = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v; this.n++;
    this.buckets.forEach((b, i) => { if (v <= b) this.counts[i]!++; });
  }
  snapshot(): HistogramSnapshot {
    return { buckets: this.buckets, counts: [...this.counts], sum: this.sum, n: this.n };
  }
}

function renderHistogram(name: string, help: string, h: HistogramSnapshot): string[] {
  return [
    `# HELP ${name} ${help}`, `# TYPE ${name} histogram`,
    ...h.buckets.map((b, i) => `${name}_bucket{le="${b}"} ${h.counts[i]}`),
    `${name}_bucket{le="+Inf"} ${h.n}`, `${name}_sum ${h.sum}`, `${name}_count ${h.n}`,
  ];
}

const addCounts = (maps: Record<string, number>[]) => {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
};
const addHistograms = (hs: HistogramSnapshot[]): HistogramSnapshot => ({
  buckets: hs[0]!.buckets,
  counts: hs[0]!.buckets.map((_, i) => hs.reduce((a, h) => a + h.counts[i]!, 0)),
  sum: hs.reduce((a, h) => a + h.sum, 0),
  n: hs.reduce((a, h) => a + h.n, 0),
});

/** Several processes' metrics as one: counters, histograms and gauges added up. */
export function mergeSnapshots(snaps: MetricsSnapshot[]): MetricsSnapshot {
  if (!snaps.length) return new Metrics().snapshot();
  return {
    requests: addCounts(snaps.map((s) => s.requests)), errors: addCounts(snaps.map((s) => s.errors)), exits: addCounts(snaps.map((s) => s.exits)),
    batch: addHistograms(snaps.map((s) => s.batch)), queue: addHistograms(snaps.map((s) => s.queue)), compute: addHistograms(snaps.map((s) => s.compute)),
    gauges: addCounts(snaps.map((s) => s.gauges)),
  };
}

export function renderSnapshot(s: MetricsSnapshot): string {
  const counter = (name: string, help: string, label: string, m: Record<string, number>) =>
    [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...Object.entries(m).map(([k, v]) => `${name}{${label}="${k}"} ${v}`)];
  return [
    ...counter('cascade_requests_total', 'resume requests by HTTP status', 'status', s.requests),
    ...counter('cascade_errors_total', 'errors by code', 'code', s.errors),
    ...counter('cascade_exits_total', 'answers by exit taken (the last is the final head)', 'exit', s.exits),
    ...renderHistogram('cascade_batch_size', 'samples per executed batch', s.batch),
    ...renderHistogram('cascade_queue_ms', 'time waiting for a batch', s.queue),
    ...renderHistogram('cascade_compute_ms', 'time from batch start to answer', s.compute),
    ...Object.entries(s.gauges).flatMap(([k, v]) => [`# TYPE ${k} gauge`, `${k} ${v}`]),
    '',
  ].join('\n');
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly exits = new Map<number, number>();
  private readonly batch = new Histogram(BATCH_BUCKETS);
  private readonly queue = new Histogram(MS_BUCKETS);
  private readonly compute = new Histogram(MS_BUCKETS);

  request(status: number): void { this.requests.set(String(status), (this.requests.get(String(status)) ?? 0) + 1); }
  error(code: string): void { this.errors.set(code, (this.errors.get(code) ?? 0) + 1); }
  observeBatch(size: number): void { this.batch.observe(size); }
  observeAnswer(exit: number, queueMs: number, computeMs: number): void {
    this.exits.set(exit, (this.exits.get(exit) ?? 0) + 1);
    this.queue.observe(queueMs);
    this.compute.observe(computeMs);
  }

  snapshot(gauges: Record<string, number> = {}): MetricsSnapshot {
    return {
      requests: Object.fromEntries(this.requests), errors: Object.fromEntries(this.errors),
      exits: Object.fromEntries([...this.exits].map(([k, v]) => [String(k), v])),
      batch: this.batch.snapshot(), queue: this.queue.snapshot(), compute: this.compute.snapshot(), gauges: { ...gauges },
    };
  }

  render(gauges: Record<string, number> = {}): string {
    return renderSnapshot(this.snapshot(gauges));
  }
}
