/**
 * The cost model: decision aggregates (requests, edge answers, forwards, edge CPU-ms, bytes
 * forwarded, KV reads, D1 rows) turned into money, in US dollars per million requests, item by item
 * (Workers requests, Workers CPU, KV, D1, Analytics Engine, edge→backend bytes, GPU host), for the
 * actual mix and for three counterfactuals: every request on the GPU backend, the full model at the
 * edge, and Workers AI's ResNet-50. Pure (no `node:` imports, no dependencies): it runs in workerd
 * and in the browser dashboard.
 *
 * Every price is configurable (`prices`); `DEFAULT_PRICES` holds the defaults, each with its unit and
 * its source. The GPU side is the host's $/hour over the backend's measured throughput
 * (`DEFAULT_BACKEND_THROUGHPUT`, from `bench/results/backend-device.json`), billed per sample (a
 * pay-for-what-you-use host, at a configurable utilisation) or hourly (a reserved host whose cost
 * over the period is shared by the samples it served). Every figure carries its unit and the
 * assumptions behind it, and a figure that cannot be computed is `null` with the reason, so no
 * dashboard number appears without them.
 *
 * Prices are marginal list prices: plan fees and monthly included allowances are not subtracted.
 *
 * @example
 * const model = modelFacts(manifest, { split: 2, exitRates: manifest.policies.atDefault.exitRates });
 * const r = costReport(totals, { model, prices: { gpuHost: 2.5 } });
 * r.actual.value; // USD per million requests, the actual mix; r.actual.items.gpu, .cpu, … by item
 * r.counterfactuals.allOnGpu.value; // every request on the GPU backend instead
 */
import { exitRuns, type Policy } from './cascade-rule.js';
import type { Manifest } from './manifest.js';

/** Cloud prices are quoted per million units (requests, CPU-ms, reads, rows, images, data points). */
const PER_MILLION = 1e6;
/** Cloud providers quote transfer per GB; taken here as 10^9 bytes. */
const BYTES_PER_GB = 1e9;
const SECONDS_PER_HOUR = 3600;

/** One price: its value in `unit` and where it comes from (a list price, a measurement or an assumption). */
export interface Price {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
}

/** Every price the model reads, in `DEFAULT_PRICES` order. */
export const PRICE_KEYS = [
  'workersRequests',
  'workersCpuMs',
  'kvReads',
  'd1RowsWritten',
  'd1RowsRead',
  'analyticsEngine',
  'forwardedBytes',
  'gpuHost',
  'workersAiResnet50',
] as const;
export type PriceKey = (typeof PRICE_KEYS)[number];
export type PriceTable = Record<PriceKey, Price>;

/** A price overridden by value alone (its source becomes "configured") or with its own source. */
export type PriceOverrides = Partial<Record<PriceKey, number | { value: number; source?: string }>>;

const WORKERS_PRICING = 'https://developers.cloudflare.com/workers/platform/pricing/';

/**
 * A common cloud egress price, for operators whose edge→backend path is billed per GB: AWS EC2 data
 * transfer out to the internet, first 10 TB per month tier (https://aws.amazon.com/ec2/pricing/on-demand/).
 * Not the default: see `DEFAULT_PRICES.forwardedBytes`.
 */
export const CLOUD_EGRESS_USD_PER_GB = 0.09;

/**
 * The default price table (USD, Cloudflare Workers Paid plan, Standard usage model). Each entry names
 * its source; `gpuHost` is an assumption to configure, not a quote.
 *
 * @example
 * DEFAULT_PRICES.workersRequests; // { value: 0.3, unit: 'USD per million requests', source: '…' }
 */
export const DEFAULT_PRICES: PriceTable = {
  workersRequests: {
    value: 0.3,
    unit: 'USD per million requests',
    source: `Cloudflare Workers pricing, Standard usage model: $0.30 per million requests beyond the 10 M a month the Paid plan includes (${WORKERS_PRICING})`,
  },
  workersCpuMs: {
    value: 0.02,
    unit: 'USD per million CPU-ms',
    source: `Cloudflare Workers pricing, Standard usage model: $0.02 per million CPU milliseconds beyond the 30 M a month the Paid plan includes; CPU time is billed, not wall time (${WORKERS_PRICING})`,
  },
  kvReads: {
    value: 0.5,
    unit: 'USD per million reads',
    source:
      "Cloudflare's Workers KV pricing: $0.50 per million reads beyond the 10 M a month the Paid plan includes (https://developers.cloudflare.com/kv/platform/pricing/)",
  },
  d1RowsWritten: {
    value: 1.0,
    unit: 'USD per million rows written',
    source:
      'Cloudflare D1 pricing: $1.00 per million rows written beyond the 50 M a month the Paid plan includes (https://developers.cloudflare.com/d1/platform/pricing/)',
  },
  d1RowsRead: {
    value: 0.001,
    unit: 'USD per million rows read',
    source:
      'Cloudflare D1 pricing: $0.001 per million rows read beyond the 25 billion a month the Paid plan includes (https://developers.cloudflare.com/d1/platform/pricing/)',
  },
  analyticsEngine: {
    value: 0.25,
    unit: 'USD per million data points',
    source:
      'Cloudflare Workers Analytics Engine pricing: $0.25 per million data points written beyond the 10 M a month the Paid plan includes (https://developers.cloudflare.com/analytics/analytics-engine/pricing/); priced only when Analytics Engine is on',
  },
  forwardedBytes: {
    value: 0,
    unit: 'USD per GB (10^9 bytes) forwarded edge→backend',
    source: `0 by default: Cloudflare bills no bandwidth for a Worker's subrequests, and the big clouds (AWS, Google Cloud, Azure) do not bill data transfer into a host, so the features the edge forwards are ingress, free at both ends. Set it where that path is billed: e.g. $${CLOUD_EGRESS_USD_PER_GB}/GB (AWS data transfer out, first tier: a backend reached through another cloud's egress) or a load balancer's / NAT gateway's per-GB processing charge`,
  },
  gpuHost: {
    value: 3.0,
    unit: 'USD per host-hour',
    source:
      'ASSUMPTION, configure it: an H100/H200-class GPU host on demand at $3.00 per hour (GPU clouds list single H100/H200 GPUs at roughly $2-4 per hour, hyperscalers more); the backend was measured on an H200 (bench/results/backend-device.json)',
  },
  workersAiResnet50: {
    value: 2.51,
    unit: 'USD per million images',
    source:
      'Cloudflare Workers AI pricing, @cf/microsoft/resnet-50: $2.51 per million images (228,055 neurons per million images at $0.011 per 1,000 neurons; https://developers.cloudflare.com/workers-ai/platform/pricing/): an outside reference',
  },
};

/**
 * The price table with overrides applied; a bad override (negative, not finite) is a RangeError naming it.
 *
 * @example
 * resolvePrices({ gpuHost: 2.2, forwardedBytes: { value: 0.09, source: 'our provider bills ingress' } }).gpuHost.value; // 2.2
 */
export function resolvePrices(overrides: PriceOverrides = {}): PriceTable {
  const out = { ...DEFAULT_PRICES };
  for (const [key, o] of Object.entries(overrides) as [PriceKey, PriceOverrides[PriceKey]][]) {
    if (o === undefined) continue;
    if (!(key in DEFAULT_PRICES))
      throw new RangeError(`prices.${key}: unknown price; expected one of ${PRICE_KEYS.join(', ')}`);
    const value = typeof o === 'number' ? o : o.value;
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`prices.${key}=${String(value)}: expected a finite price ≥ 0 (${DEFAULT_PRICES[key].unit})`);
    const source =
      (typeof o === 'number' ? undefined : o.source) ?? `configured (default ${DEFAULT_PRICES[key].value})`;
    out[key] = { value, unit: DEFAULT_PRICES[key].unit, source };
  }
  return out;
}

/**
 * The backend's measured throughput. With `macsPerSample` (the MACs each measured sample cost), it is
 * rescaled to other work by MACs at the same MAC rate; without, it is taken as measured for whatever
 * work it is asked about.
 */
export interface Throughput {
  samplesPerSec: number;
  macsPerSample?: number;
  source: string;
}

/**
 * The default backend throughput: the `webgpu` executor alone (in process, no HTTP) at batch 4096 on
 * an NVIDIA H200, the best executor figure measured (`bench/results/backend-device.json`, 2026-11-26:
 * 46,879.5 samples/s). That run served the previous bundle (backbone sha256 67fc0820…, 9.35 M MACs)
 * resuming at its segment 3, the final segment alone: 2,810,496 MACs per sample, a MAC rate of
 * ~131.8 GMAC/s, which rescales it to the work of any bundle.
 */
export const DEFAULT_BACKEND_THROUGHPUT: Throughput = {
  samplesPerSec: 46_879.5,
  macsPerSample: 2_810_496,
  source:
    'bench/results/backend-device.json (2026-11-26, NVIDIA H200): webgpu executor alone at batch 4096, 46,879.5 samples/s, on the previous bundle (backbone sha256 67fc0820…) resuming at its final segment, 2,810,496 MACs per sample (~131.8 GMAC/s). The HTTP service on that host reached only ~2,200 req/s with webgpu (13,900 with the cpu executor) at 256 clients: at HTTP-bound rates the GPU cost per sample is ~20× higher, set `throughput` accordingly',
};

/**
 * Totals of the edge's decisions over one period, for one region or overall (what the D1 counters
 * sum to). `edge` and `forwarded` are the requests that ran the cascade (answered at an edge exit,
 * forwarded to the backend: a forward that came back degraded still counts as forwarded); `errors`
 * are requests answered with an error (bad input, …), billed as Workers requests only.
 */
export interface DecisionTotals {
  requests: number;
  edge: number;
  forwarded: number;
  /** Answers marked degraded (already counted in `edge` or `forwarded`): reported, not priced. */
  degraded: number;
  errors: number;
  /**
   * Edge compute milliseconds summed: the Workers CPU-ms billed. Deployed Workers bill CPU time, which
   * Cloudflare reports (Workers metrics, a Tail Worker's `cpuTime`); the edge's own `computeMs` timers
   * do not advance during compute there (Spectre mitigation: timers move only on I/O) and read ~0.
   * Locally (wrangler dev, workerd) `computeMs` is wall time in whole milliseconds (workerd's clock
   * resolution), so a sub-millisecond inference reads 0 or 1: price CPU with `edgeCpuMsPerRequest`.
   */
  edgeCpuMs: number;
  /** The forwards' round trips as the edge saw them (ms, summed): wall time waiting on I/O, not billed as Workers CPU. */
  backendMs: number;
  bytesForwarded: number;
  kvReads: number;
  d1RowsWritten: number;
  d1RowsRead?: number;
  /** Analytics Engine data points written; defaults to one per request when Analytics Engine is on. */
  aeDataPoints?: number;
}

const TOTAL_KEYS = [
  'requests',
  'edge',
  'forwarded',
  'degraded',
  'errors',
  'edgeCpuMs',
  'backendMs',
  'bytesForwarded',
  'kvReads',
  'd1RowsWritten',
  'd1RowsRead',
  'aeDataPoints',
] as const satisfies readonly (keyof DecisionTotals)[];

/**
 * Sums several totals (regions, minutes) into one.
 *
 * @example
 * const overall = sumTotals(regions.map((r) => r.totals));
 */
export function sumTotals(list: readonly DecisionTotals[]): DecisionTotals {
  const out: DecisionTotals = {
    requests: 0,
    edge: 0,
    forwarded: 0,
    degraded: 0,
    errors: 0,
    edgeCpuMs: 0,
    backendMs: 0,
    bytesForwarded: 0,
    kvReads: 0,
    d1RowsWritten: 0,
  };
  for (const t of list) for (const k of TOTAL_KEYS) if (t[k] !== undefined) out[k] = (out[k] ?? 0) + (t[k] as number);
  return out;
}

/** What the cost model needs to know about the bundle served, for the GPU rescaling and the counterfactuals. */
export interface ModelFacts {
  name: string;
  /** MACs of the whole backbone (no exits): the work of the "all on the GPU" and "full model at the edge" counterfactuals. */
  backboneMacs: number;
  /** Bytes of one raw input as the edge receives it (u8 per pixel): the minimal forward of "all on the GPU". */
  inputBytes: number;
  /** Expected MACs the edge runs per classified request (segments and exits before the split, weighted by the share reaching each). */
  edgeMacsPerRequest: number;
  /** Expected MACs the backend runs per forwarded sample; null when the split runs every segment at the edge. */
  backendMacsPerForward: number | null;
  /** Share of classified requests the operating point forwards. */
  forwardShare: number;
  /** How these were derived. */
  source: string;
}

/**
 * Model facts from a manifest at an operating point: `split` segments at the edge (as a region
 * setting; `defaultSplit` in core/regions.ts), the point's per-exit answer shares `exitRates` (exits
 * then the final head, as in the manifest's frontier points), and, when given, the `policy` and
 * `thresholds`, so exits that are off cost nothing (the cascade rule's `exitRuns`).
 *
 * @example
 * const facts = modelFacts(m, { split: defaultSplit(m), exitRates: m.policies.atDefault.exitRates });
 */
export function modelFacts(
  m: Pick<Manifest, 'name' | 'backbone' | 'segments' | 'exits' | 'input'>,
  at: { split: number; exitRates: readonly number[]; policy?: Policy; thresholds?: readonly number[] },
): ModelFacts {
  const S = m.segments.length;
  if (!Number.isInteger(at.split) || at.split < 1 || at.split > S)
    throw new RangeError(`split=${at.split}: expected an integer from 1 to ${S} (segments at the edge)`);
  const runs = (i: number) =>
    at.policy && at.thresholds ? exitRuns({ policy: at.policy, thresholds: at.thresholds }, i, m.exits.length) : true;
  // reach = share of classified requests that get to segment k; exit k answers exitRates[k] of all.
  let reach = 1;
  let edgeMacs = 0;
  let backendMacs = 0;
  let forwardShare = 0;
  for (let k = 0; k < S; k++) {
    if (k === at.split) forwardShare = reach;
    const exitMacs = k < m.exits.length && runs(k) ? m.exits[k]!.macs : 0;
    const work = reach * (m.segments[k]!.macs + exitMacs);
    if (k < at.split) edgeMacs += work;
    else backendMacs += work;
    if (k < m.exits.length) reach = Math.max(0, reach - (at.exitRates[k] ?? 0));
  }
  return {
    name: m.name,
    backboneMacs: m.backbone.macs,
    inputBytes: m.input.shape.reduce((a, b) => a * b, 1),
    edgeMacsPerRequest: edgeMacs,
    backendMacsPerForward:
      at.split === S ? null : forwardShare > 0 ? backendMacs / forwardShare : backendMacsAll(m, at.split),
    forwardShare,
    source: `manifest ${m.name}: split ${at.split} of ${S} segments at the edge, exit rates [${at.exitRates.map((r) => r.toFixed(4)).join(', ')}]${at.policy ? `, policy ${at.policy}` : ''}`,
  };
}

/** The backend's work for a sample that no deeper exit answers (used when the point forwards nothing). */
function backendMacsAll(m: Pick<Manifest, 'segments' | 'exits'>, split: number): number {
  let macs = 0;
  for (let k = split; k < m.segments.length; k++) macs += m.segments[k]!.macs + (m.exits[k]?.macs ?? 0);
  return macs;
}

/** One number, its unit and its assumptions; `value` null with `reason` when it cannot be computed. */
export interface Figure {
  value: number | null;
  unit: string;
  assumptions: string[];
  reason?: string;
}

/** The items a figure is broken down by (an item absent from a figure does not apply to it). */
export const COST_ITEMS = ['requests', 'cpu', 'kv', 'd1', 'analyticsEngine', 'egress', 'gpu', 'workersAi'] as const;
export type CostItem = (typeof COST_ITEMS)[number];

/** A total with its items, each a figure in the same unit. */
export interface ItemisedFigure extends Figure {
  items: Partial<Record<CostItem, Figure>>;
}

export type GpuBilling = 'per-sample' | 'hourly';

export interface CostOptions {
  prices?: PriceOverrides;
  throughput?: Throughput;
  /** The bundle served (`modelFacts`): needed to rescale the GPU throughput and for the counterfactuals. */
  model?: ModelFacts;
  /**
   * `per-sample` (default): each forwarded sample pays $/h ÷ 3600 ÷ (samples/s × utilisation).
   * `hourly`: a reserved host bills its hours over `periodSeconds`, shared by the samples it served.
   */
  gpuBilling?: GpuBilling;
  /**
   * Share of the measured throughput the host achieves, (0, 1]. Default 1.0, the lower bound of the
   * GPU cost: an idle GPU still bills, so a host busy half the time costs twice as much per sample.
   * In `hourly` mode it sizes the hosts needed instead.
   */
  utilisation?: number;
  /** Length of the period the totals cover, in seconds: required for `hourly`. */
  periodSeconds?: number;
  /** Reserved hosts in `hourly` mode; default: enough for the period's mean forward rate, at least one. */
  gpuHosts?: number;
  /** Whether Analytics Engine is on (its data points priced); default false. */
  analyticsEngine?: boolean;
  /** Edge CPU-ms per MAC, to use instead of the one measured from the totals (e.g. from a local bench). */
  edgeMsPerMac?: number;
  /**
   * Workers CPU-ms per classified request, by path, to price the CPU item with instead of the totals'
   * `edgeCpuMs`: deployed, the edge's own timers read ~0 (they advance only on I/O), so the totals
   * hold no CPU time there. From Cloudflare's Workers metrics (CPU time per request) or, failing
   * that, bench:edge:cpu's in-isolate figures; `source` says which, in the item's assumptions.
   */
  edgeCpuMsPerRequest?: EdgeCpuPerRequest;
}

/** CPU-ms one request costs the Worker, by the path it took, and where the figures come from. */
export interface EdgeCpuPerRequest {
  /** Answered at the edge (an exit, or a capped answer). */
  edge: number;
  /** Forwarded to the backend (answered there, or degraded when it could not). */
  forwarded: number;
  source: string;
}

export interface CostReport {
  currency: 'USD';
  /** USD per million requests of the actual mix, by item. */
  actual: ItemisedFigure;
  /** USD the period's totals cost, by item. */
  periodTotal: ItemisedFigure;
  counterfactuals: {
    /** Every request on the GPU backend: Workers request + a minimal forward of the raw input + GPU time for the full backbone. */
    allOnGpu: ItemisedFigure;
    /** The full backbone in the Worker: CPU-ms scaled from the measured edge ms per MAC. */
    fullModelAtEdge: ItemisedFigure;
    /** Workers AI's ResNet-50 per image, plus the Workers request calling it. */
    workersAiResnet50: ItemisedFigure;
  };
  /** GPU cost of one forwarded sample. */
  gpuPerForwardedSample: Figure;
  measured: {
    forwardedShare: Figure;
    edgeCpuMsPerRequest: Figure;
    edgeCpuMsPerMegaMac: Figure;
    backendMsPerForward: Figure;
    bytesPerForward: Figure;
  };
  prices: PriceTable;
  throughput: Throughput;
  /** Assumptions common to every figure. */
  assumptions: string[];
}

const PER_M_REQUESTS = 'USD per million requests';

/** Assumptions common to every figure of a report. */
const COMMON_ASSUMPTIONS = [
  'Marginal list prices in USD: the Workers Paid plan fee ($5 a month) and its monthly included allowances (10 M requests, 30 M CPU-ms, 10 M KV reads, 50 M D1 rows written, 25 B D1 rows read, 10 M Analytics Engine data points) are not subtracted.',
  'Workers CPU-ms: the per-path CPU-ms per request when given (the CPU item names their source), else what the totals report as edgeCpuMs. Deployed Workers bill CPU time (reported by Cloudflare: Workers metrics, a Tail Worker’s cpuTime); the edge’s own computeMs covers inference only and reads ~0 when deployed (timers advance only on I/O), while locally (wrangler dev) it is wall time in whole milliseconds.',
  'Not priced: Durable Object and KV writes (admin changes, not per request), the backend’s answers travelling back to the edge (a few hundred bytes per forward, egress from the GPU host’s network), storage.',
];

function checkTotals(t: DecisionTotals): void {
  for (const k of TOTAL_KEYS) {
    const v = t[k];
    if (v === undefined && (k === 'd1RowsRead' || k === 'aeDataPoints')) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new RangeError(`totals.${k}=${String(v)}: expected a finite count ≥ 0`);
  }
  if (t.edge + t.forwarded + t.errors > t.requests)
    throw new RangeError(
      `totals: edge (${t.edge}) + forwarded (${t.forwarded}) + errors (${t.errors}) exceed requests (${t.requests})`,
    );
}

function checkOptions(o: CostOptions): void {
  const u = o.utilisation ?? 1;
  if (!(u > 0 && u <= 1)) throw new RangeError(`utilisation=${u}: expected a share in (0, 1]`);
  const tp = o.throughput ?? DEFAULT_BACKEND_THROUGHPUT;
  if (!(tp.samplesPerSec > 0 && Number.isFinite(tp.samplesPerSec)))
    throw new RangeError(`throughput.samplesPerSec=${tp.samplesPerSec}: expected a finite rate > 0`);
  if (tp.macsPerSample !== undefined && !(tp.macsPerSample > 0))
    throw new RangeError(`throughput.macsPerSample=${tp.macsPerSample}: expected MACs > 0`);
  if ((o.gpuBilling ?? 'per-sample') === 'hourly' && !(o.periodSeconds !== undefined && o.periodSeconds > 0))
    throw new RangeError(`gpuBilling 'hourly' needs periodSeconds > 0 (the period the totals cover)`);
  if (o.periodSeconds !== undefined && !(o.periodSeconds > 0 && Number.isFinite(o.periodSeconds)))
    throw new RangeError(`periodSeconds=${o.periodSeconds}: expected seconds > 0`);
  if (o.gpuHosts !== undefined && !(Number.isInteger(o.gpuHosts) && o.gpuHosts >= 0))
    throw new RangeError(`gpuHosts=${o.gpuHosts}: expected a whole number of hosts ≥ 0`);
  if (o.edgeMsPerMac !== undefined && !(o.edgeMsPerMac >= 0 && Number.isFinite(o.edgeMsPerMac)))
    throw new RangeError(`edgeMsPerMac=${o.edgeMsPerMac}: expected ms ≥ 0`);
  const c = o.edgeCpuMsPerRequest;
  if (c)
    for (const k of ['edge', 'forwarded'] as const)
      if (!(c[k] >= 0 && Number.isFinite(c[k])))
        throw new RangeError(`edgeCpuMsPerRequest.${k}=${c[k]}: expected CPU-ms ≥ 0`);
}

const usd = (n: number) => `$${n.toPrecision(4)}`;
const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** An item as absolute dollars for the period plus its assumptions; null dollars with the reason. */
interface Item {
  dollars: number | null;
  assumptions: string[];
  reason?: string;
}

/** Turns items (period dollars) into the period total and the per-million-requests figure. */
function itemise(
  items: Partial<Record<CostItem, Item>>,
  requests: number,
  assumptions: string[],
): { perM: ItemisedFigure; period: ItemisedFigure } {
  const perMItems: Partial<Record<CostItem, Figure>> = {};
  const periodItems: Partial<Record<CostItem, Figure>> = {};
  let sum = 0;
  const missing: string[] = [];
  for (const key of COST_ITEMS) {
    const it = items[key];
    if (!it) continue;
    const noRequests = 'no requests in the period: a cost per million requests is undefined';
    periodItems[key] = figure(it.dollars, 'USD', it.assumptions, it.reason);
    perMItems[key] =
      it.dollars === null
        ? figure(null, PER_M_REQUESTS, it.assumptions, it.reason)
        : requests > 0
          ? figure((it.dollars / requests) * PER_MILLION, PER_M_REQUESTS, it.assumptions)
          : figure(null, PER_M_REQUESTS, it.assumptions, noRequests);
    if (it.dollars === null) missing.push(`${key}: ${it.reason}`);
    else sum += it.dollars;
  }
  const reason = missing.length ? `not every item could be priced (${missing.join('; ')})` : undefined;
  const period = { ...figure(reason ? null : sum, 'USD', assumptions, reason), items: periodItems };
  const perM =
    reason || requests <= 0
      ? {
          ...figure(
            null,
            PER_M_REQUESTS,
            assumptions,
            reason ?? 'no requests in the period: a cost per million requests is undefined',
          ),
          items: perMItems,
        }
      : { ...figure((sum / requests) * PER_MILLION, PER_M_REQUESTS, assumptions), items: perMItems };
  return { perM, period };
}

function figure(value: number | null, unit: string, assumptions: string[], reason?: string): Figure {
  return reason === undefined ? { value, unit, assumptions } : { value, unit, assumptions, reason };
}

/** Samples/s of the backend for work of `macs` per sample, or why it cannot be said. */
function rateFor(
  tp: Throughput,
  macs: number | null | undefined,
  what: string,
): { rate: number; assumptions: string[] } | { reason: string } {
  if (tp.macsPerSample === undefined)
    return {
      rate: tp.samplesPerSec,
      assumptions: [
        `Backend throughput ${int(tp.samplesPerSec)} samples/s taken as measured for ${what} (${tp.source}).`,
      ],
    };
  if (macs === null || macs === undefined || !(macs > 0))
    return {
      reason: `the measured throughput is per ${int(tp.macsPerSample)} MACs and no MACs are known for ${what} (pass model facts from the manifest)`,
    };
  const rate = (tp.samplesPerSec * tp.macsPerSample) / macs;
  return {
    rate,
    assumptions: [
      `Backend throughput rescaled by MACs at the measured MAC rate (${((tp.samplesPerSec * tp.macsPerSample) / 1e9).toFixed(1)} GMAC/s): ${int(rate)} samples/s for ${what} (${int(macs)} MACs each). Measured: ${tp.source}.`,
    ],
  };
}

/** The GPU item for `samples` of `macs` each over the period, per-sample or hourly. */
function gpuItem(
  samples: number,
  macs: number | null | undefined,
  what: string,
  o: CostOptions,
  prices: PriceTable,
  tp: Throughput,
  hostsOverride: number | undefined,
): Item & { perSample: Figure } {
  const billing = o.gpuBilling ?? 'per-sample';
  const utilisation = o.utilisation ?? 1;
  const host = `GPU host at ${usd(prices.gpuHost.value)} per hour (${prices.gpuHost.source}).`;
  const r = rateFor(tp, macs, what);
  if (billing === 'per-sample') {
    if ('reason' in r) {
      const perSample = figure(null, 'USD per forwarded sample', [host], r.reason);
      return samples === 0
        ? { dollars: 0, assumptions: [host], perSample }
        : { dollars: null, assumptions: [host], reason: r.reason, perSample };
    }
    const each = prices.gpuHost.value / SECONDS_PER_HOUR / (r.rate * utilisation);
    const assumptions = [
      `Per-sample GPU billing: $/h ÷ 3600 ÷ (samples/s × utilisation ${utilisation}) = ${usd(each)} per sample; utilisation 1.0 is the lower bound, since an idle GPU still bills.`,
      host,
      ...r.assumptions,
    ];
    return { dollars: samples * each, assumptions, perSample: figure(each, 'USD per forwarded sample', assumptions) };
  }
  const period = o.periodSeconds!;
  const needed = 'reason' in r ? null : Math.max(1, Math.ceil(samples / period / (r.rate * utilisation)));
  const hosts = hostsOverride ?? needed ?? 1;
  const dollars = hosts * prices.gpuHost.value * (period / SECONDS_PER_HOUR);
  const sizing =
    hostsOverride !== undefined
      ? `${hosts} reserved host(s), as configured`
      : needed === null
        ? `1 reserved host (no throughput known for this work to size with: ${(r as { reason: string }).reason})`
        : `${hosts} reserved host(s): the period's mean rate of ${(samples / period).toFixed(2)} samples/s over ${int('rate' in r ? r.rate * utilisation : 0)} samples/s per host (utilisation ${utilisation}), rounded up, at least one; peaks above the mean are not modelled`;
  const assumptions = [
    `Hourly GPU billing over ${(period / SECONDS_PER_HOUR).toFixed(2)} h: ${sizing}, billed busy or idle.`,
    host,
    ...('assumptions' in r ? r.assumptions : []),
  ];
  const perSample =
    samples > 0
      ? figure(dollars / samples, 'USD per forwarded sample', assumptions)
      : figure(
          null,
          'USD per forwarded sample',
          assumptions,
          'no samples in the period: a reserved host’s cost per sample is undefined',
        );
  return { dollars, assumptions, perSample };
}

/** The actual mix's Workers CPU: from the per-path figures when given, else the totals' edgeCpuMs. */
function cpuItem(t: DecisionTotals, per: EdgeCpuPerRequest | undefined, priceText: string, price: number): Item {
  if (!per)
    return {
      dollars: (t.edgeCpuMs / PER_MILLION) * price,
      assumptions: [`${int(t.edgeCpuMs)} edge CPU-ms at ${priceText}.`],
    };
  const ms = t.edge * per.edge + t.forwarded * per.forwarded;
  return {
    dollars: (ms / PER_MILLION) * price,
    assumptions: [
      `${per.edge} CPU-ms per edge answer (${int(t.edge)}) and ${per.forwarded} per forward (${int(t.forwarded)}): ${int(ms)} CPU-ms (${per.source}); errors' CPU is not counted. At ${priceText}.`,
    ],
  };
}

/**
 * Prices one period's decision totals: the actual mix by item, the three counterfactuals, the GPU
 * cost per forwarded sample and the measured ratios, every figure with its unit and assumptions.
 * Throws a RangeError naming a bad total or option (negative, not finite, edge + forwarded + errors
 * above requests, `hourly` without `periodSeconds`).
 *
 * @example
 * const r = costReport(
 *   { requests: 1e6, edge: 8e5, forwarded: 2e5, degraded: 0, errors: 0, edgeCpuMs: 1e6, backendMs: 1e6,
 *     bytesForwarded: 5e9, kvReads: 0, d1RowsWritten: 0 },
 *   { model: modelFacts(manifest, { split: 2, exitRates }), gpuBilling: 'hourly', periodSeconds: 86_400 },
 * );
 * r.actual.items.requests?.value; // 0.3 (USD per million requests)
 */
export function costReport(totals: DecisionTotals, options: CostOptions = {}): CostReport {
  checkTotals(totals);
  checkOptions(options);
  const prices = resolvePrices(options.prices);
  const tp = options.throughput ?? DEFAULT_BACKEND_THROUGHPUT;
  const model = options.model;
  const t = totals;
  const classified = t.edge + t.forwarded;
  const price = (k: PriceKey) => `${usd(prices[k].value)} ${prices[k].unit} (${prices[k].source})`;

  // The actual mix.
  const gpu = gpuItem(
    t.forwarded,
    model?.backendMacsPerForward,
    'the forwarded work',
    options,
    prices,
    tp,
    options.gpuHosts,
  );
  const aePoints = t.aeDataPoints ?? t.requests;
  const actualItems: Partial<Record<CostItem, Item>> = {
    requests: {
      dollars: (t.requests / PER_MILLION) * prices.workersRequests.value,
      assumptions: [`Every request, errors included (${int(t.requests)}), at ${price('workersRequests')}.`],
    },
    cpu: cpuItem(t, options.edgeCpuMsPerRequest, price('workersCpuMs'), prices.workersCpuMs.value),
    kv: {
      dollars: (t.kvReads / PER_MILLION) * prices.kvReads.value,
      assumptions: [`${int(t.kvReads)} KV reads (region settings, cached 15 s per isolate) at ${price('kvReads')}.`],
    },
    d1: {
      dollars:
        (t.d1RowsWritten / PER_MILLION) * prices.d1RowsWritten.value +
        ((t.d1RowsRead ?? 0) / PER_MILLION) * prices.d1RowsRead.value,
      assumptions: [
        `${int(t.d1RowsWritten)} D1 rows written at ${price('d1RowsWritten')}; ${int(t.d1RowsRead ?? 0)} rows read at ${price('d1RowsRead')}.`,
      ],
    },
    egress: {
      dollars: (t.bytesForwarded / BYTES_PER_GB) * prices.forwardedBytes.value,
      assumptions: [`${int(t.bytesForwarded)} bytes forwarded edge→backend at ${price('forwardedBytes')}.`],
    },
    gpu: {
      dollars: gpu.dollars,
      assumptions: [`${int(t.forwarded)} forwarded samples.`, ...gpu.assumptions],
      ...(gpu.reason ? { reason: gpu.reason } : {}),
    },
  };
  if (options.analyticsEngine)
    actualItems.analyticsEngine = {
      dollars: (aePoints / PER_MILLION) * prices.analyticsEngine.value,
      assumptions: [
        `${int(aePoints)} Analytics Engine data points${t.aeDataPoints === undefined ? ' (one per request)' : ''} at ${price('analyticsEngine')}.`,
      ],
    };
  const actual = itemise(actualItems, t.requests, [
    ...COMMON_ASSUMPTIONS,
    `Actual mix: ${int(t.requests)} requests, ${int(t.edge)} answered at the edge, ${int(t.forwarded)} forwarded (${int(t.degraded)} answers degraded), ${int(t.errors)} errors.`,
  ]);

  // Counterfactuals: the same requests; errors pay the Workers request only, as in the actual mix.
  const cfCommon = [
    ...COMMON_ASSUMPTIONS,
    `The same ${int(t.requests)} requests: the ${int(classified)} classified (edge + forwarded) are served the counterfactual way; the ${int(t.errors)} errors pay the Workers request only, as in the actual mix.`,
    'KV, D1 and Analytics Engine are left out: they price the cascade’s settings and counters, not inference (compare with the actual mix’s items).',
  ];
  const requestsItem: Item = {
    dollars: (t.requests / PER_MILLION) * prices.workersRequests.value,
    assumptions: [`Every request at ${price('workersRequests')}.`],
  };

  const gpuAll = gpuItem(classified, model?.backboneMacs, 'the full backbone', { ...options }, prices, tp, undefined);
  const allOnGpu = itemise(
    {
      requests: requestsItem,
      egress: model
        ? {
            dollars: ((classified * model.inputBytes) / BYTES_PER_GB) * prices.forwardedBytes.value,
            assumptions: [
              `A minimal forward: the raw input, ${model.inputBytes} bytes (u8 pixels, no headers), per classified request at ${price('forwardedBytes')}; the Worker’s CPU for proxying is not counted.`,
            ],
          }
        : { dollars: null, assumptions: [], reason: 'needs model facts (input bytes)' },
      gpu: {
        dollars: gpuAll.dollars,
        assumptions: [
          `${int(classified)} samples through the full backbone on the GPU host${model ? ` (${int(model.backboneMacs)} MACs, no exits)` : ''}.`,
          ...gpuAll.assumptions,
        ],
        ...(gpuAll.reason ? { reason: gpuAll.reason } : {}),
      },
    },
    t.requests,
    [...cfCommon, 'Every request on the GPU backend: the Worker only proxies it.'],
  );

  const edgeMacsRun = model ? classified * model.edgeMacsPerRequest : 0;
  const msPerMac: { value: number; note: string } | { reason: string } =
    options.edgeMsPerMac !== undefined
      ? {
          value: options.edgeMsPerMac,
          note: `${(options.edgeMsPerMac * 1e6).toFixed(3)} CPU-ms per million MACs, as configured`,
        }
      : !model
        ? { reason: 'needs model facts (the MACs the edge ran)' }
        : edgeMacsRun <= 0
          ? { reason: 'no classified requests: no edge CPU per MAC measured' }
          : t.edgeCpuMs <= 0
            ? {
                reason:
                  'edgeCpuMs is 0: no edge CPU measured (deployed, the edge’s own timers read ~0; feed the CPU time Cloudflare reports)',
              }
            : {
                value: t.edgeCpuMs / edgeMacsRun,
                note: `${((t.edgeCpuMs / edgeMacsRun) * 1e6).toFixed(3)} CPU-ms per million MACs, measured: ${int(t.edgeCpuMs)} edge CPU-ms over the ${int(edgeMacsRun)} MACs of the segments and exits the edge ran (${model.source})`,
              };
  const fullEdge = itemise(
    {
      requests: requestsItem,
      cpu:
        'reason' in msPerMac || !model
          ? { dollars: null, assumptions: [], reason: 'reason' in msPerMac ? msPerMac.reason : 'needs model facts' }
          : {
              dollars: ((classified * model.backboneMacs * msPerMac.value) / PER_MILLION) * prices.workersCpuMs.value,
              assumptions: [
                `${(model.backboneMacs * msPerMac.value).toFixed(3)} CPU-ms per classified request: the full backbone (${int(model.backboneMacs)} MACs, no exits) at ${msPerMac.note}.`,
                'Assumes edge CPU time is linear in MACs: per-run overheads and the deeper segments’ different arithmetic intensity are ignored, and the full model’s fit in the Worker (size, memory) is not checked.',
                `At ${price('workersCpuMs')}.`,
              ],
            },
    },
    t.requests,
    [...cfCommon, 'The full model at the edge: nothing forwarded, no bytes, no GPU.'],
  );

  const workersAi = itemise(
    {
      requests: requestsItem,
      workersAi: {
        dollars: (classified / PER_MILLION) * prices.workersAiResnet50.value,
        assumptions: [
          `${int(classified)} images at ${price('workersAiResnet50')}.`,
          'A price reference, not an equivalent: ResNet-50 is a 224×224 ImageNet model, not this bundle; the Worker’s wait on the AI binding is I/O, not billed CPU.',
        ],
      },
    },
    t.requests,
    [...cfCommon, 'Workers AI ResNet-50 for every classified request, called from the Worker.'],
  );

  const ratio = (num: number, den: number, unit: string, what: string, assumptions: string[]): Figure =>
    den > 0 ? figure(num / den, unit, assumptions) : figure(null, unit, assumptions, `no ${what} in the period`);
  return {
    currency: 'USD',
    actual: actual.perM,
    periodTotal: actual.period,
    counterfactuals: { allOnGpu: allOnGpu.perM, fullModelAtEdge: fullEdge.perM, workersAiResnet50: workersAi.perM },
    gpuPerForwardedSample: gpu.perSample,
    measured: {
      forwardedShare: ratio(t.forwarded, classified, 'share of classified requests', 'classified requests', [
        'forwarded ÷ (edge + forwarded).',
      ]),
      edgeCpuMsPerRequest: ratio(t.edgeCpuMs, classified, 'CPU-ms per classified request', 'classified requests', [
        COMMON_ASSUMPTIONS[1]!,
      ]),
      edgeCpuMsPerMegaMac:
        'reason' in msPerMac
          ? figure(null, 'CPU-ms per million MACs', [], msPerMac.reason)
          : figure(msPerMac.value * 1e6, 'CPU-ms per million MACs', [msPerMac.note]),
      backendMsPerForward: ratio(t.backendMs, t.forwarded, 'ms per forward (edge round trip)', 'forwards', [
        'Wall time the edge waited on the backend: I/O, not billed as Workers CPU (Standard usage model).',
      ]),
      bytesPerForward: ratio(t.bytesForwarded, t.forwarded, 'bytes per forward', 'forwards', [
        'Body bytes the edge sent per forward.',
      ]),
    },
    prices,
    throughput: tp,
    assumptions: COMMON_ASSUMPTIONS,
  };
}
