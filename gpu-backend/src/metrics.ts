/**
 * Prometheus text-format metrics: requests by status code, errors by code, batch sizes, queue and
 * compute time (histograms), answers by exit.
 *
 * @example
 * metrics.observeBatch(17); metrics.render(); // "# TYPE cascade_batch_size histogram\n…"
 */
const MS_BUCKETS = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

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
  render(name: string, help: string): string[] {
    return [
      `# HELP ${name} ${help}`, `# TYPE ${name} histogram`,
      ...this.buckets.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.n}`, `${name}_sum ${this.sum}`, `${name}_count ${this.n}`,
    ];
  }
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

  render(gauges: Record<string, number> = {}): string {
    const counter = (name: string, help: string, label: string, m: Map<string | number, number>) =>
      [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...[...m].map(([k, v]) => `${name}{${label}="${k}"} ${v}`)];
    return [
      ...counter('cascade_requests_total', 'resume requests by HTTP status', 'status', this.requests),
      ...counter('cascade_errors_total', 'errors by code', 'code', this.errors),
      ...counter('cascade_exits_total', 'answers by exit taken (the last is the final head)', 'exit', this.exits),
      ...this.batch.render('cascade_batch_size', 'samples per executed batch'),
      ...this.queue.render('cascade_queue_ms', 'time waiting for a batch'),
      ...this.compute.render('cascade_compute_ms', 'time from batch start to answer'),
      ...Object.entries(gauges).flatMap(([k, v]) => [`# TYPE ${k} gauge`, `${k} ${v}`]),
      '',
    ].join('\n');
  }
}
