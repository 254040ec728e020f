/**
 * The cost model (core/cost-model.ts): hand-computed figures for a small mix, every price's effect
 * on its own item only, counterfactual ordering, zero requests, hourly billing, units and
 * assumptions on every figure, and the shipped bundle's figures at its default point (printed).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLOUD_EGRESS_USD_PER_GB,
  COST_ITEMS,
  type CostItem,
  type CostReport,
  costReport,
  DEFAULT_BACKEND_THROUGHPUT,
  DEFAULT_PRICES,
  type DecisionTotals,
  type Figure,
  type ModelFacts,
  modelFacts,
  PRICE_KEYS,
  type PriceKey,
  sumTotals,
} from '../../core/cost-model.js';
import { encodeFeatures } from '../../core/feature-codec.js';
import { readManifest } from '../../core/node/bundle.js';
import { defaultSplit } from '../../core/regions.js';
import { resumeMetadata } from '../../core/wire.js';

/** 1e6 requests, 80 % at the edge, 1 ms of CPU each, 200,000 forwards of 25,088 bytes (f16 of 16×28×28). */
const MIX: DecisionTotals = {
  requests: 1e6,
  edge: 8e5,
  forwarded: 2e5,
  degraded: 0,
  errors: 0,
  edgeCpuMs: 1e6,
  backendMs: 2e5 * 5,
  bytesForwarded: 2e5 * 25_088,
  kvReads: 1_000,
  d1RowsWritten: 1_000,
};

/** A toy bundle: the edge runs 1 M MACs per request, a forward 5 M on the backend, the backbone 10 M. */
const TOY: ModelFacts = {
  name: 'toy',
  backboneMacs: 10e6,
  inputBytes: 784,
  edgeMacsPerRequest: 1e6,
  backendMacsPerForward: 5e6,
  forwardShare: 0.2,
  source: 'toy facts',
};

/** 10,000 samples/s measured on 5 M MACs per sample: 50 GMAC/s. */
const TOY_THROUGHPUT = { samplesPerSec: 10_000, macsPerSample: 5e6, source: 'toy measurement' };

const v = (f: Figure | undefined) => f?.value ?? Number.NaN;

describe('cost model: the actual mix by item', () => {
  it('prices a small mix as computed by hand', () => {
    const r = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT });
    const items = r.actual.items;
    // 1e6 requests: per-million figures equal the period's dollars.
    expect(v(items.requests)).toBeCloseTo(0.3, 12); // 1e6 × $0.30/M
    expect(v(items.cpu)).toBeCloseTo(0.02, 12); // 1e6 CPU-ms × $0.02/M
    expect(v(items.kv)).toBeCloseTo(0.0005, 12); // 1,000 reads × $0.50/M
    expect(v(items.d1)).toBeCloseTo(0.001, 12); // 1,000 rows × $1.00/M
    expect(v(items.egress)).toBe(0); // ingress: $0/GB by default
    // GPU: 2e5 samples × $3/h ÷ 3600 ÷ 10,000 samples/s (5 M MACs each, as measured).
    const gpu = (2e5 * 3) / 3600 / 10_000;
    expect(v(items.gpu)).toBeCloseTo(gpu, 12);
    expect(items.analyticsEngine).toBeUndefined(); // off by default
    expect(v(r.actual)).toBeCloseTo(0.3 + 0.02 + 0.0005 + 0.001 + gpu, 12);
    expect(v(r.periodTotal)).toBeCloseTo(v(r.actual), 12);
    expect(v(r.gpuPerForwardedSample)).toBeCloseTo(3 / 3600 / 10_000, 15);
    expect(v(r.measured.forwardedShare)).toBeCloseTo(0.2, 12);
    expect(v(r.measured.edgeCpuMsPerRequest)).toBeCloseTo(1, 12);
    expect(v(r.measured.edgeCpuMsPerMegaMac)).toBeCloseTo(1, 12); // 1 ms per 1 M MACs
    expect(v(r.measured.backendMsPerForward)).toBeCloseTo(5, 12);
    expect(v(r.measured.bytesPerForward)).toBe(25_088);
  });

  it('per million requests scales with the request count; the period total does not divide', () => {
    const half = { ...MIX, requests: 2e6, edge: 1.8e6, errors: 0 };
    const r = costReport(half, { model: TOY, throughput: TOY_THROUGHPUT });
    expect(v(r.actual.items.requests)).toBeCloseTo(0.3, 12);
    expect(v(r.actual.items.cpu)).toBeCloseTo(0.01, 12); // the same 1e6 CPU-ms over twice the requests
    expect(v(r.periodTotal.items.cpu)).toBeCloseTo(0.02, 12);
  });

  it('prices Analytics Engine only when it is on: one data point per request unless counted', () => {
    const on = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, analyticsEngine: true });
    expect(v(on.actual.items.analyticsEngine)).toBeCloseTo(0.25, 12);
    const counted = costReport(
      { ...MIX, aeDataPoints: 2e6 },
      { model: TOY, throughput: TOY_THROUGHPUT, analyticsEngine: true },
    );
    expect(v(counted.actual.items.analyticsEngine)).toBeCloseTo(0.5, 12);
  });

  it('rescales the measured throughput by MACs and needs model facts to do so', () => {
    // The same measurement, forwards twice as heavy: half the samples/s, twice the GPU cost.
    const heavy = costReport(MIX, { model: { ...TOY, backendMacsPerForward: 10e6 }, throughput: TOY_THROUGHPUT });
    expect(v(heavy.actual.items.gpu)).toBeCloseTo((2 * (2e5 * 3)) / 3600 / 10_000, 12);
    const blind = costReport(MIX, { throughput: TOY_THROUGHPUT });
    expect(blind.actual.items.gpu?.value).toBeNull();
    expect(blind.actual.items.gpu?.reason).toMatch(/model facts/);
    expect(blind.actual.value).toBeNull(); // a total missing an item is not shown as a smaller total
    expect(blind.actual.reason).toMatch(/gpu/);
    // A throughput without MACs is taken as measured.
    const asMeasured = costReport(MIX, { throughput: { samplesPerSec: 10_000, source: 'x' } });
    expect(v(asMeasured.actual.items.gpu)).toBeCloseTo((2e5 * 3) / 3600 / 10_000, 12);
  });

  it('utilisation below 1 raises the per-sample GPU cost in proportion', () => {
    const r = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, utilisation: 0.25 });
    expect(v(r.gpuPerForwardedSample)).toBeCloseTo((4 * 3) / 3600 / 10_000, 15);
  });

  it('sums totals across regions', () => {
    const s = sumTotals([MIX, { ...MIX, d1RowsRead: 10 }]);
    expect(s.requests).toBe(2e6);
    expect(s.bytesForwarded).toBe(2 * MIX.bytesForwarded);
    expect(s.d1RowsRead).toBe(10);
  });

  it('refuses bad totals and options, naming them', () => {
    expect(() => costReport({ ...MIX, kvReads: -1 })).toThrow(/totals\.kvReads=-1/);
    expect(() => costReport({ ...MIX, edge: 2e6 })).toThrow(/exceed requests/);
    expect(() => costReport(MIX, { utilisation: 0 })).toThrow(/utilisation=0/);
    expect(() => costReport(MIX, { gpuBilling: 'hourly' })).toThrow(/periodSeconds/);
    expect(() => costReport(MIX, { prices: { gpuHost: Number.NaN } })).toThrow(/prices\.gpuHost/);
  });
});

describe('cost model: Workers CPU from per-path figures', () => {
  const per = { edge: 0.5, forwarded: 2, source: 'a test figure' };
  it('prices edge answers and forwards at their own CPU-ms instead of the totals', () => {
    // Deployed, the totals hold ~0 CPU-ms: the per-path figures price it instead.
    const r = costReport({ ...MIX, edgeCpuMs: 0 }, { edgeCpuMsPerRequest: per });
    // 8e5 × 0.5 + 2e5 × 2 = 8e5 CPU-ms at $0.02 per million = $0.016 over 1e6 requests.
    expect(v(r.periodTotal.items.cpu)).toBeCloseTo(0.016, 12);
    expect(v(r.actual.items.cpu)).toBeCloseTo(0.016, 12);
    expect(r.actual.items.cpu!.assumptions.join(' ')).toMatch(
      /0\.5 CPU-ms per edge answer .* 2 per forward .*a test figure/,
    );
    // Without them, the totals' own figure as before.
    expect(v(costReport({ ...MIX, edgeCpuMs: 0 }).periodTotal.items.cpu)).toBe(0);
  });
  it('refuses a negative or non-finite figure', () => {
    expect(() => costReport(MIX, { edgeCpuMsPerRequest: { ...per, edge: -1 } })).toThrow(/edgeCpuMsPerRequest\.edge/);
    expect(() => costReport(MIX, { edgeCpuMsPerRequest: { ...per, forwarded: Number.NaN } })).toThrow(
      /edgeCpuMsPerRequest\.forwarded/,
    );
  });
  it("the worker's default is bench:edge:cpu's in-isolate median for the bundle it measured; EDGE_CPU_MS overrides it", async () => {
    const { edgeCpuPerRequest } = await import('../../workers/edge/src/metrics/cpu.js');
    const bench = JSON.parse(readFileSync('bench/results/edge-cpu.json', 'utf8'));
    const d = edgeCpuPerRequest({}, bench.meta.model)!;
    expect(d.edge).toBeCloseTo(bench.summary.isolate['classify-edge'].main.median, 3);
    expect(d.forwarded).toBeCloseTo(bench.summary.isolate['classify-backend'].main.median, 3);
    expect(d.source).toMatch(/bench:edge:cpu/);
    expect(edgeCpuPerRequest({}, 'another-bundle')).toBeUndefined();
    expect(edgeCpuPerRequest({ EDGE_CPU_MS: ' 0.8, 2.25 ' }, 'another-bundle')).toEqual({
      edge: 0.8,
      forwarded: 2.25,
      source: 'EDGE_CPU_MS, set by the operator',
    });
    // Unparseable: ignored (logged), the default used.
    expect(edgeCpuPerRequest({ EDGE_CPU_MS: '0.8' }, bench.meta.model)).toEqual(d);
    expect(edgeCpuPerRequest({ EDGE_CPU_MS: '-1,2' }, 'another-bundle')).toBeUndefined();
  });
});

describe('cost model: prices', () => {
  it('every default price has a value, a unit and a source', () => {
    for (const k of PRICE_KEYS) {
      const p = DEFAULT_PRICES[k];
      expect(p.value).toBeGreaterThanOrEqual(0);
      expect(p.unit).toMatch(/^USD per /);
      expect(p.source.length).toBeGreaterThan(20);
    }
    expect(DEFAULT_PRICES.gpuHost.source).toMatch(/ASSUMPTION/);
    expect(DEFAULT_PRICES.forwardedBytes.value).toBe(0);
    expect(DEFAULT_PRICES.forwardedBytes.source).toMatch(/ingress/);
    expect(DEFAULT_BACKEND_THROUGHPUT.source).toMatch(/bench\/results\/backend-device\.json/);
  });

  it('overriding one price changes only its own item, in the actual mix and every counterfactual', () => {
    const itemOf: Record<PriceKey, CostItem> = {
      workersRequests: 'requests',
      workersCpuMs: 'cpu',
      kvReads: 'kv',
      d1RowsWritten: 'd1',
      d1RowsRead: 'd1',
      analyticsEngine: 'analyticsEngine',
      forwardedBytes: 'egress',
      gpuHost: 'gpu',
      workersAiResnet50: 'workersAi',
    };
    const totals = { ...MIX, d1RowsRead: 1e6 };
    const opts = { model: TOY, throughput: TOY_THROUGHPUT, analyticsEngine: true };
    const figuresOf = (r: CostReport) => [r.actual, ...Object.values(r.counterfactuals)];
    const before = figuresOf(costReport(totals, opts));
    for (const k of PRICE_KEYS) {
      const after = costReport(totals, { ...opts, prices: { [k]: DEFAULT_PRICES[k].value * 2 + 1 } });
      expect(after.prices[k].source).toMatch(/configured/);
      let moved = 0;
      figuresOf(after).forEach((f, i) => {
        for (const item of COST_ITEMS) {
          const a = f.items[item];
          const b = before[i]!.items[item];
          if (!a) continue;
          if (item === itemOf[k]) {
            if (v(a) !== v(b)) moved++;
          } else expect(v(a), `${k} left ${item} alone`).toBe(v(b));
        }
      });
      expect(moved, `${k} moved its item`).toBeGreaterThan(0);
    }
  });

  it('the egress override: $0.09/GB on 5.0176 GB', () => {
    const r = costReport(MIX, {
      model: TOY,
      throughput: TOY_THROUGHPUT,
      prices: { forwardedBytes: CLOUD_EGRESS_USD_PER_GB },
    });
    expect(v(r.actual.items.egress)).toBeCloseTo(5.0176 * 0.09, 12);
  });
});

describe('cost model: counterfactuals', () => {
  const r = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT });
  const cf = r.counterfactuals;

  it('every request on the GPU backend: Workers request + raw-input forward + the full backbone on the GPU', () => {
    expect(v(cf.allOnGpu.items.requests)).toBeCloseTo(0.3, 12);
    expect(v(cf.allOnGpu.items.egress)).toBe(0);
    // 1e6 samples of 10 M MACs at 50 GMAC/s: 5,000 samples/s.
    expect(v(cf.allOnGpu.items.gpu)).toBeCloseTo((1e6 * 3) / 3600 / 5_000, 12);
    const billed = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, prices: { forwardedBytes: 1 } });
    expect(v(billed.counterfactuals.allOnGpu.items.egress)).toBeCloseTo((1e6 * 784) / 1e9, 12);
  });

  it('the full model at the edge: CPU-ms scaled by MACs from the measured edge ms per MAC', () => {
    // 1 ms per 1 M MACs measured; the backbone's 10 M MACs: 10 ms per request, 1e7 CPU-ms.
    expect(v(cf.fullModelAtEdge.items.cpu)).toBeCloseTo(0.2, 12);
    expect(cf.fullModelAtEdge.items.gpu).toBeUndefined();
    expect(v(cf.fullModelAtEdge)).toBeCloseTo(0.5, 12);
    const configured = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, edgeMsPerMac: 2e-6 });
    expect(v(configured.counterfactuals.fullModelAtEdge.items.cpu)).toBeCloseTo(0.4, 12);
    const unmeasured = costReport({ ...MIX, edgeCpuMs: 0 }, { model: TOY, throughput: TOY_THROUGHPUT });
    expect(unmeasured.counterfactuals.fullModelAtEdge.value).toBeNull();
    expect(unmeasured.counterfactuals.fullModelAtEdge.reason).toMatch(/edgeCpuMs is 0/);
  });

  it('Workers AI ResNet-50: $2.51 per million images plus the Workers request', () => {
    expect(v(cf.workersAiResnet50.items.workersAi)).toBeCloseTo(2.51, 12);
    expect(v(cf.workersAiResnet50)).toBeCloseTo(2.81, 12);
  });

  it('ordering: the cascade costs least, Workers AI most; the counterfactuals pay more of what they move', () => {
    expect(v(r.actual)).toBeLessThan(v(cf.allOnGpu));
    expect(v(cf.allOnGpu)).toBeLessThan(v(cf.fullModelAtEdge));
    expect(v(cf.fullModelAtEdge)).toBeLessThan(v(cf.workersAiResnet50));
    expect(v(cf.allOnGpu.items.gpu)).toBeGreaterThan(v(r.actual.items.gpu));
    expect(v(cf.fullModelAtEdge.items.cpu)).toBeGreaterThan(v(r.actual.items.cpu));
    for (const f of [cf.allOnGpu, cf.fullModelAtEdge, cf.workersAiResnet50])
      expect(v(f)).toBeGreaterThanOrEqual(v(f.items.requests));
  });

  it('errors pay the Workers request only, in every counterfactual', () => {
    const withErrors = costReport(
      { ...MIX, requests: 1.25e6, errors: 2.5e5 },
      { model: TOY, throughput: TOY_THROUGHPUT },
    );
    // 1e6 classified of 1.25e6 requests: Workers AI = 0.30 + 2.51 × 0.8.
    expect(v(withErrors.counterfactuals.workersAiResnet50)).toBeCloseTo(0.3 + 2.51 * 0.8, 12);
  });
});

describe('cost model: zero requests and hourly billing', () => {
  const ZERO: DecisionTotals = {
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

  it('zero requests: no division by zero, per-million figures null with a reason', () => {
    const r = costReport(ZERO, { model: TOY, throughput: TOY_THROUGHPUT });
    for (const f of [
      r.actual,
      r.counterfactuals.allOnGpu,
      r.counterfactuals.fullModelAtEdge,
      r.counterfactuals.workersAiResnet50,
    ]) {
      expect(f.value).toBeNull();
      expect(f.reason).toBeTruthy();
      for (const item of Object.values(f.items)) {
        expect(item.value).toBeNull();
        expect(item.reason).toBeTruthy();
      }
    }
    expect(r.periodTotal.value).toBe(0);
    for (const m of Object.values(r.measured)) {
      expect(m.value).toBeNull();
      expect(m.reason).toBeTruthy();
    }
    expect(v(r.gpuPerForwardedSample)).toBeCloseTo(3 / 3600 / 10_000, 15); // a price per sample needs no samples
    const hourly = costReport(ZERO, {
      model: TOY,
      throughput: TOY_THROUGHPUT,
      gpuBilling: 'hourly',
      periodSeconds: 3600,
    });
    expect(hourly.periodTotal.value).toBeCloseTo(3, 12); // the reserved host bills anyway
    expect(hourly.actual.value).toBeNull();
    expect(hourly.gpuPerForwardedSample.value).toBeNull();
    expect(hourly.gpuPerForwardedSample.reason).toMatch(/no samples/);
  });

  it('hourly: the host’s hours over the period, shared by the forwarded samples', () => {
    const day = 86_400;
    const r = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, gpuBilling: 'hourly', periodSeconds: day });
    // 2e5 forwards a day (2.3/s) need one host: 24 h × $3 = $72, over 1e6 requests.
    expect(v(r.actual.items.gpu)).toBeCloseTo(72, 9);
    expect(v(r.gpuPerForwardedSample)).toBeCloseTo(72 / 2e5, 12);
    expect(r.actual.items.gpu!.assumptions.join(' ')).toMatch(/1 reserved host/);
    // All on the GPU needs one host too (11.6 samples/s against 5,000): the same $72.
    expect(v(r.counterfactuals.allOnGpu.items.gpu)).toBeCloseTo(72, 9);
  });

  it('hourly: hosts sized for the mean forward rate, or as configured', () => {
    // 2e5 forwards in 10 s = 20,000 samples/s against 10,000 per host: 2 hosts for 10 s.
    const r = costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, gpuBilling: 'hourly', periodSeconds: 10 });
    expect(v(r.periodTotal.items.gpu)).toBeCloseTo((2 * 3 * 10) / 3600, 12);
    const three = costReport(MIX, {
      model: TOY,
      throughput: TOY_THROUGHPUT,
      gpuBilling: 'hourly',
      periodSeconds: 10,
      gpuHosts: 3,
    });
    expect(v(three.periodTotal.items.gpu)).toBeCloseTo((3 * 3 * 10) / 3600, 12);
    // Half the achievable throughput: 4 hosts.
    const halfUsed = costReport(MIX, {
      model: TOY,
      throughput: TOY_THROUGHPUT,
      gpuBilling: 'hourly',
      periodSeconds: 10,
      utilisation: 0.5,
    });
    expect(v(halfUsed.periodTotal.items.gpu)).toBeCloseTo((4 * 3 * 10) / 3600, 12);
  });
});

/** Every figure in a report (walks the object): [path, figure]. */
function figures(x: unknown, path = 'report'): [string, Figure][] {
  if (!x || typeof x !== 'object') return [];
  const o = x as Record<string, unknown>;
  const here: [string, Figure][] =
    'unit' in o && 'value' in o && 'assumptions' in o ? [[path, o as unknown as Figure]] : [];
  return [
    ...here,
    ...Object.entries(o)
      .filter(([k]) => k !== 'prices' && k !== 'throughput')
      .flatMap(([k, c]) => figures(c, `${path}.${k}`)),
  ];
}

describe('cost model: every figure carries its unit and assumptions', () => {
  const cases: [string, CostReport][] = [
    ['mix', costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, analyticsEngine: true })],
    ['hourly', costReport(MIX, { model: TOY, throughput: TOY_THROUGHPUT, gpuBilling: 'hourly', periodSeconds: 3600 })],
    ['no model', costReport(MIX)],
  ];
  for (const [name, r] of cases)
    it(name, () => {
      const all = figures(r);
      expect(all.length).toBeGreaterThan(20);
      for (const [path, f] of all) {
        expect(f.unit, path).toMatch(/\S/);
        if (f.value === null) expect(f.reason, path).toMatch(/\S/);
        else {
          expect(Number.isFinite(f.value), path).toBe(true);
          expect(f.assumptions.length, path).toBeGreaterThan(0);
        }
      }
      for (const f of [
        r.actual,
        r.counterfactuals.allOnGpu,
        r.counterfactuals.fullModelAtEdge,
        r.counterfactuals.workersAiResnet50,
      ]) {
        expect(f.unit).toBe('USD per million requests');
        expect(f.assumptions.join(' ')).toMatch(/Marginal list prices/);
      }
    });
});

describe('cost model: the shipped bundle models/fashion-resnet at its default point', () => {
  const m = readManifest('models/fashion-resnet');
  const split = defaultSplit(m);
  const thresholds = m.exits.map((e) => e.defaultThreshold);
  const point = m.policies.frontier[m.policies.default]!.find((p) =>
    p.thresholds.every((t, i) => t === thresholds[i]),
  )!;
  const exitRates = point.test?.exitRates ?? point.exitRates;

  it('model facts reproduce the point’s cost: edge MACs + forwarded share × backend MACs = cost × backbone MACs', () => {
    const facts = modelFacts(m, { split, exitRates, policy: m.policies.default, thresholds });
    const cost = point.test?.cost ?? point.cost;
    expect(facts.edgeMacsPerRequest + facts.forwardShare * facts.backendMacsPerForward!).toBeCloseTo(
      cost * m.backbone.macs,
      0,
    );
    const all = modelFacts(m, { split: m.segments.length, exitRates });
    expect(all.backendMacsPerForward).toBeNull();
    expect(all.edgeMacsPerRequest / m.backbone.macs).toBeCloseTo(cost, 9);
    // Every exit off ("backbone only"): the backbone's MACs exactly.
    const off = modelFacts(m, {
      split: m.segments.length,
      exitRates: [...m.exits.map(() => 0), 1],
      policy: 'max-softmax',
      thresholds: m.exits.map(() => 2),
    });
    expect(off.edgeMacsPerRequest).toBe(m.backbone.macs);
  });

  it('prints its $ per million requests against each counterfactual', () => {
    const facts = modelFacts(m, { split, exitRates, policy: m.policies.default, thresholds });
    const requests = 1e6;
    const atEdge = exitRates.slice(0, split).reduce((a, b) => a + b, 0);
    const edge = Math.round(requests * atEdge);
    const forwarded = requests - edge;
    // Edge CPU per request: bench:edge:cpu's in-isolate main-thread medians (bench/results/edge-cpu.json).
    const bench = JSON.parse(readFileSync('bench/results/edge-cpu.json', 'utf8')) as {
      summary: { isolate: Record<'classify-edge' | 'classify-backend', { main: { median: number } }> };
    };
    const cpu = {
      edge: bench.summary.isolate['classify-edge'].main.median,
      forwarded: bench.summary.isolate['classify-backend'].main.median,
    };
    // One real forward body: f16 features of the split's cut plus the signed metadata.
    const seg = m.segments[split]!;
    const body = encodeFeatures(
      new Float32Array(seg.inputShape.reduce((a, b) => a * b, 1)),
      [1, ...seg.inputShape],
      'f16',
      resumeMetadata({
        model: m.name,
        modelHash: m.backbone.sha256,
        segment: split,
        policy: m.policies.default,
        thresholds: thresholds.slice(split),
        scores: thresholds.slice(0, split).map(() => 0.5),
        thresholdVersion: 'default@v1',
        requestId: '00000000-0000-4000-8000-000000000000',
        region: 'default',
      }),
    );
    const day = 86_400;
    const totals: DecisionTotals = {
      requests,
      edge,
      forwarded,
      degraded: 0,
      errors: 0,
      edgeCpuMs: edge * cpu.edge + forwarded * cpu.forwarded,
      backendMs: 0,
      bytesForwarded: forwarded * body.length,
      // One isolate, 4 region keys re-read every 15 s (CACHE_TTL_MS) for a day.
      kvReads: 4 * (day / 15),
      // D1 per-minute aggregates (future work): ~6 (region, exit, outcome) rows a minute.
      d1RowsWritten: 6 * (day / 60),
    };
    const perSample = costReport(totals, { model: facts });
    const hourly = costReport(totals, { model: facts, gpuBilling: 'hourly', periodSeconds: day });
    const row = (name: string, f: Figure & { items: Partial<Record<string, Figure>> }) =>
      `${name.padEnd(34)} ${(f.value ?? Number.NaN).toFixed(4).padStart(9)}  ${Object.entries(f.items)
        .map(([k, i]) => `${k} ${(i?.value ?? Number.NaN).toFixed(4)}`)
        .join(', ')}`;
    const lines = [
      `fashion-resnet, ${m.policies.default} default, split ${split}: ${(atEdge * 100).toFixed(2)} % at the edge, ${body.length} B per forward, ${(facts.backendMacsPerForward! / 1e6).toFixed(2)} M MACs per forward, edge ${(facts.edgeMacsPerRequest / 1e6).toFixed(2)} M MACs and ${(totals.edgeCpuMs / (edge + forwarded)).toFixed(3)} ms per request; 1e6 requests over one day (USD per million requests)`,
      row('actual mix (GPU per sample)', perSample.actual),
      row('actual mix (GPU hourly, 1 day)', hourly.actual),
      row('all on the GPU (per sample)', perSample.counterfactuals.allOnGpu),
      row('all on the GPU (hourly, 1 day)', hourly.counterfactuals.allOnGpu),
      row('full model at the edge', perSample.counterfactuals.fullModelAtEdge),
      row('Workers AI ResNet-50', perSample.counterfactuals.workersAiResnet50),
      `GPU per forwarded sample: ${perSample.gpuPerForwardedSample.value?.toExponential(3)} USD per sample (per-sample), ${hourly.gpuPerForwardedSample.value?.toExponential(3)} (hourly)`,
    ];
    console.log(lines.join('\n'));
    for (const f of [perSample.actual, hourly.actual, ...Object.values(perSample.counterfactuals)])
      expect(f.value).not.toBeNull();
    // The cascade costs less than the full model at the edge and than Workers AI.
    expect(v(perSample.actual)).toBeLessThan(v(perSample.counterfactuals.fullModelAtEdge));
    expect(v(perSample.actual)).toBeLessThan(v(perSample.counterfactuals.workersAiResnet50));
    expect(v(perSample.actual.items.gpu)).toBeLessThan(v(perSample.counterfactuals.allOnGpu.items.gpu));
  });
});
