/**
 * The cost dashboard (served at /dashboard/ from the worker's static assets): reads the admin API
 * with the operator's token and draws, per region and over a time range, the edge / forwarded /
 * degraded rates, the exit distribution, latency quantiles, USD per million requests against the
 * counterfactuals, each region's threshold version and history (with the controller's events:
 * re-solve, guard, canary promote / rollback, cap), its budget (thresholds, a cost budget or a maximum
 * forward rate, with the controller's re-solve of it against the measured forward rate), its money cap
 * against the realised cost and what the cap held back, its shadow verification (per-exit guard,
 * floors, canary arms and decision), and the frontier with each region's operating point. Charts by
 * Chart.js (bundled, no CDN); every chart's numbers are also in a table.
 *
 * Filter and range live in the URL (?region=&range=&from=&to=&policy=), so a view can be shared; the
 * token lives in sessionStorage only. `document.body.dataset.state` is idle | loading | ready | error.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import {
  Api,
  ApiError,
  type FrontierView,
  type History,
  type Metrics,
  type RegionView,
  type Verification,
} from './api.js';
import { bytes, count, exitLabel, macShare, ms, pct, timeLabel, usd } from './format.js';
import {
  armRows,
  type Badge,
  budgetOf,
  budgetText,
  canaryText,
  cappedRateOf,
  cappedText,
  capSetText,
  decisionBadge,
  eventBadge,
  exitDistribution,
  floorText,
  forwardRateOf,
  guardedText,
  guardRows,
  moneyCapText,
  needsVerification,
  overCap,
  pointsOn,
  pointText,
  type RegionRow,
  rate,
  regionRows,
  settingsText,
  solvedText,
  verificationSummary,
} from './view.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
);
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

const COLORS = {
  edge: '#1b9e77',
  forwarded: '#7570b3',
  degraded: '#d95f02',
  capped: '#e6ab02',
  errors: '#e7298a',
  p: '#1d2330',
};
const REGION_COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];
const TOKEN_KEY = 'edge-cascade-admin-token';
const RANGES: Record<string, number> = { '15m': 15, '1h': 60, '6h': 360, '24h': 1440, '7d': 10_080, '30d': 43_200 };
/** History is read per entry: at most this many entries' (the filter picks one). */
const MAX_HISTORIES = 24;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
type Child = Node | string | number | null | undefined;
function el(tag: string, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
/** A table cell: its text, and the exact number behind it in data-value (what tests compare). */
const cell = (col: string, text: string, value?: number | string | null, cls?: string) =>
  el(
    'td',
    { 'data-col': col, 'data-value': value === null || value === undefined ? undefined : value, class: cls },
    text,
  );
function table(id: string | HTMLElement, head: string[], rows: HTMLElement[]): void {
  (typeof id === 'string' ? $(id) : id).replaceChildren(
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows),
  );
}
/** A badge (a verdict, a decision, an event), coloured by its classes in dashboard.css. */
const badge = (b: Badge) => el('span', { class: b.cls }, b.text);
/** A table cell holding a badge, the status it shows in data-status. */
const badgeCell = (col: string, b: Badge, status: string) =>
  el('td', { 'data-col': col, 'data-status': status, class: 'text' }, badge(b));

const charts = new Map<string, Chart>();
function draw(id: string, config: ChartConfiguration): void {
  charts.get(id)?.destroy();
  charts.set(id, new Chart($<HTMLCanvasElement>(id), config));
}

interface View {
  region: string;
  range: string;
  from: string;
  to: string;
  policy: string;
}
function readView(): View {
  const q = new URLSearchParams(location.search);
  const range = q.get('range') ?? '1h';
  return {
    region: q.get('region') ?? '',
    range: range in RANGES || range === 'custom' ? range : '1h',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    policy: q.get('policy') ?? '',
  };
}
function writeView(v: View): void {
  const q = new URLSearchParams();
  if (v.region) q.set('region', v.region);
  q.set('range', v.range);
  if (v.range === 'custom') {
    q.set('from', v.from);
    q.set('to', v.to);
  }
  if (v.policy) q.set('policy', v.policy);
  history.replaceState(null, '', `${location.pathname}?${q}`);
}
/** The query's [from, to) as ISO: a preset ends now; custom inputs are UTC wall times. */
function rangeOf(v: View): { from: string; to: string } {
  if (v.range === 'custom') {
    const iso = (s: string) => {
      const t = Date.parse(`${s}Z`);
      if (Number.isNaN(t)) throw new ApiError(0, 'BAD_RANGE', 'choose both ends of the custom range');
      return new Date(t).toISOString();
    };
    return { from: iso(v.from), to: iso(v.to) };
  }
  const to = Date.now();
  return { from: new Date(to - RANGES[v.range]! * 60_000).toISOString(), to: new Date(to).toISOString() };
}

function status(state: 'loading' | 'ready' | 'error', text: string): void {
  document.body.dataset.state = state;
  $('status').textContent = text;
}

function kpis(m: Metrics): void {
  const t = m.totals;
  const card = (key: string, label: string, text: string, value: number | null, unit?: string) =>
    el(
      'div',
      { class: 'card', 'data-kpi': key, 'data-value': value ?? undefined },
      el('div', { class: 'label' }, label),
      el('div', { class: 'value' }, text),
      unit ? el('div', { class: 'unit' }, unit) : null,
    );
  $('kpis').replaceChildren(
    card('requests', 'Requests', count(t.requests), t.requests, 'decisions in the range'),
    card('edgeRate', 'Edge exit', pct(t.edgeRate), t.edgeRate, `${count(t.edge)} answered at the edge`),
    card(
      'forwardedRate',
      'Forwarded',
      pct(rate(t.forwarded, t.requests)),
      rate(t.forwarded, t.requests),
      `${count(t.forwarded)} answered by the backend`,
    ),
    card(
      'degradedRate',
      'Degraded',
      pct(rate(t.degraded, t.requests)),
      rate(t.degraded, t.requests),
      `${count(t.degraded)} forward failed, edge answered`,
    ),
    card(
      'cappedRate',
      'Capped',
      pct(cappedRateOf(t)),
      cappedRateOf(t),
      `${count(t.capped)} held at the edge by the money cap (reason budget)`,
    ),
    card('errors', 'Errors', count(t.errors), t.errors, 'no answer (502/504/500)'),
    card('p50', 'Latency p50', ms(t.latencyMs.p50), t.latencyMs.p50, 'arrival to answer'),
    card('p95', 'Latency p95', ms(t.latencyMs.p95), t.latencyMs.p95, 'arrival to answer'),
    card('p99', 'Latency p99', ms(t.latencyMs.p99), t.latencyMs.p99, 'arrival to answer'),
    card('costActual', 'Cost', usd(t.cost.actual.value), t.cost.actual.value, t.cost.actual.unit),
    card(
      'bytesForwarded',
      'Forwarded bytes',
      bytes(t.bytesForwarded),
      t.bytesForwarded,
      'feature bodies sent to the backend',
    ),
  );
  $('range-note').textContent =
    `${m.region ? `Region ${m.region}` : 'All regions'}, ${m.from} to ${m.to} (UTC, end exclusive), step ${m.step}; read from ${m.tables.join(' and ')}. Cost computed for ${m.model}.`;
}

function series(m: Metrics): void {
  const withDate = Date.parse(m.to) - Date.parse(m.from) > 86_400_000;
  const labels = m.series.map((s) => timeLabel(s.time, withDate));
  const line = (label: string, data: (number | null)[], color: string) => ({
    label,
    data,
    borderColor: color,
    backgroundColor: color,
    pointRadius: 2,
    spanGaps: false,
  });
  draw('chart-rates', {
    type: 'line',
    data: {
      labels,
      datasets: [
        line(
          'edge exit',
          m.series.map((s) => rate(s.edge, s.requests)),
          COLORS.edge,
        ),
        line(
          'forwarded',
          m.series.map((s) => rate(s.forwarded, s.requests)),
          COLORS.forwarded,
        ),
        line(
          'degraded',
          m.series.map((s) => rate(s.degraded, s.requests)),
          COLORS.degraded,
        ),
        line(
          'capped (money cap)',
          m.series.map((s) => rate(s.capped, s.requests)),
          COLORS.capped,
        ),
      ],
    },
    options: {
      scales: {
        y: {
          min: 0,
          max: 1,
          title: { display: true, text: 'share of requests' },
          ticks: { callback: (v) => pct(Number(v)) },
        },
      },
    },
  });
  const bar = (label: string, key: 'edge' | 'forwarded' | 'degraded' | 'capped' | 'errors') => ({
    label,
    data: m.series.map((s) => s[key]),
    backgroundColor: COLORS[key],
    stack: 'n',
  });
  draw('chart-volume', {
    type: 'bar',
    data: {
      labels,
      datasets: [
        bar('edge exit', 'edge'),
        bar('forwarded', 'forwarded'),
        bar('degraded', 'degraded'),
        bar('capped', 'capped'),
        bar('errors', 'errors'),
      ],
    },
    options: {
      scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: `requests per ${m.step}` } } },
    },
  });
  draw('chart-latency', {
    type: 'line',
    data: {
      labels,
      datasets: [
        line(
          'p95 (bucket upper bound)',
          m.series.map((s) => s.p95Ms),
          COLORS.p,
        ),
      ],
    },
    options: { scales: { y: { min: 0, title: { display: true, text: 'ms, arrival to answer' } } } },
  });
  table(
    'table-series',
    ['step start (UTC)', 'requests', 'edge', 'forwarded', 'degraded', 'capped', 'errors', 'p95'],
    m.series
      .filter((s) => s.requests > 0)
      .map((s) =>
        el(
          'tr',
          { 'data-time': s.time },
          cell('time', s.time),
          cell('requests', count(s.requests), s.requests),
          cell('edge', count(s.edge), s.edge),
          cell('forwarded', count(s.forwarded), s.forwarded),
          cell('degraded', count(s.degraded), s.degraded),
          cell('capped', count(s.capped), s.capped),
          cell('errors', count(s.errors), s.errors),
          cell('p95', ms(s.p95Ms), s.p95Ms),
        ),
      ),
  );
}

function exits(m: Metrics, f: FrontierView): void {
  const d = exitDistribution(m.totals, f.exits);
  const edgeExits = f.defaultSplit;
  draw('chart-exits', {
    type: 'bar',
    data: {
      labels: d.map((x) => exitLabel(x.index, f.exits)),
      datasets: [
        {
          label: 'answered',
          data: d.map((x) => x.count),
          backgroundColor: d.map((x) => (x.index < edgeExits ? COLORS.edge : COLORS.forwarded)),
        },
      ],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: { y: { min: 0, title: { display: true, text: 'decisions answered' } } },
    },
  });
  table(
    'table-exits',
    ['exit', 'answered', 'share of answered'],
    d.map((x) =>
      el(
        'tr',
        { 'data-exit': x.index },
        cell('exit', exitLabel(x.index, f.exits)),
        cell('count', count(x.count), x.count),
        cell('share', pct(x.share), x.share),
      ),
    ),
  );
}

const COSTS = [
  ['actual', 'Actual mix (this cascade)'],
  ['allOnGpu', 'Every request on the GPU backend'],
  ['fullModelAtEdge', 'The full model in the Worker'],
  ['workersAiResnet50', "Workers AI's ResNet-50 (outside reference)"],
] as const;

function cost(m: Metrics): void {
  const c = m.totals.cost;
  const figure = (k: (typeof COSTS)[number][0]) => (k === 'actual' ? c.actual : c.counterfactuals[k]);
  const actual = c.actual.value;
  draw('chart-cost', {
    type: 'bar',
    data: {
      labels: COSTS.map(([, label]) => label),
      datasets: [
        {
          label: c.actual.unit,
          data: COSTS.map(([k]) => figure(k).value),
          backgroundColor: ['#1b9e77', '#7570b3', '#a6a6a6', '#d95f02'],
        },
      ],
    },
    options: {
      indexAxis: 'y',
      plugins: { legend: { display: false } },
      scales: { x: { min: 0, title: { display: true, text: c.actual.unit } } },
    },
  });
  table(
    'table-cost',
    ['', 'USD per million requests', 'the cascade saves', 'unit'],
    COSTS.map(([k, label]) => {
      const f = figure(k);
      const saving = actual !== null && f.value ? 1 - actual / f.value : null;
      return el(
        'tr',
        { 'data-cost': k },
        cell('label', label),
        cell('value', f.value === null ? `— (${f.reason ?? 'n/a'})` : usd(f.value), f.value),
        cell('saving', k === 'actual' || saving === null ? '' : pct(saving), k === 'actual' ? undefined : saving),
        cell('unit', f.unit, undefined, 'text'),
      );
    }),
  );
  $('cost-note').textContent =
    `Totals of the range priced by the cost model; counterfactuals price the same requests another way. Range total: ${usd(c.periodTotal.value)} (${c.periodTotal.unit}).`;
  const list = (items: string[]) => el('ul', { class: 'assumptions' }, ...items.map((a) => el('li', {}, a)));
  $('cost-assumptions').replaceChildren(
    el('h3', {}, 'All figures'),
    list(c.assumptions),
    ...COSTS.flatMap(([k, label]) => [el('h3', {}, label), list(figure(k).assumptions)]),
  );
}

function regionsTable(rows: RegionRow[], selected: string): void {
  table(
    'table-regions',
    [
      'region',
      'requests',
      'edge exit (measured)',
      'forward rate (measured)',
      'edge share (expected)',
      'forwarded',
      'degraded',
      'errors',
      'p50',
      'p95',
      'p99',
      'USD / M requests',
      'money cap (USD / M)',
      'capped (measured, reason budget)',
      'cap set by the controller',
      'version',
      'updated',
      'budget',
      're-solved (forward rate, 95 % interval, inputs)',
      'settings',
      'point',
      'accuracy (expected)',
      'cost (expected, of backbone MACs)',
    ],
    rows.map((r) => {
      const t = r.traffic;
      const p = r.point;
      const x = r.expected;
      const s = r.entry?.settings;
      const budget = cell('budget', budgetText(s), s ? budgetOf(s).value : undefined, 'text');
      if (s) budget.dataset.kind = budgetOf(s).kind;
      const solved = cell('solvedForwardRate', solvedText(s), s?.solved?.forwardRate, 'text');
      if (s?.solved) {
        solved.dataset.lo = String(s.solved.interval.lo);
        solved.dataset.hi = String(s.solved.interval.hi);
        solved.dataset.samples = String(s.solved.samples);
        solved.dataset.met = String(s.solved.met);
      }
      const fwd = forwardRateOf(t);
      const over = overCap(t, s);
      const realised = cell('costActual', usd(t?.cost.actual.value), t?.cost.actual.value, over ? 'flag' : undefined);
      const cap = cell(
        'maxUsdPerMillion',
        `${moneyCapText(s)}${over ? ' (realised above the cap)' : ''}`,
        s?.maxUsdPerMillion,
        over ? 'text flag' : 'text',
      );
      if (over !== null) cap.dataset.over = String(over);
      const cappedRate = cappedRateOf(t);
      const capped = cell('capped', cappedText(t), cappedRate, (t?.capped ?? 0) > 0 ? 'text flag' : 'text');
      capped.dataset.count = String(t?.capped ?? 0);
      const capSet = cell('cappedShare', capSetText(s), s?.capped?.share, s?.capped ? 'text flag' : 'text');
      return el(
        'tr',
        { 'data-region': r.key, class: r.key === selected ? 'selected' : undefined },
        cell('region', r.key),
        cell('requests', count(t?.requests ?? 0), t?.requests ?? 0),
        cell('edgeRate', pct(t?.edgeRate), t?.edgeRate),
        cell('forwardRate', pct(fwd), fwd),
        cell('expectedEdgeShare', x ? pct(x.edgeShare) : '—', x?.edgeShare),
        cell('forwarded', count(t?.forwarded ?? 0), t?.forwarded ?? 0),
        cell('degraded', count(t?.degraded ?? 0), t?.degraded ?? 0),
        cell('errors', count(t?.errors ?? 0), t?.errors ?? 0),
        cell('p50', ms(t?.latencyMs.p50), t?.latencyMs.p50),
        cell('p95', ms(t?.latencyMs.p95), t?.latencyMs.p95),
        cell('p99', ms(t?.latencyMs.p99), t?.latencyMs.p99),
        realised,
        cap,
        capped,
        capSet,
        cell('version', r.entry ? `v${r.entry.version}` : 'none (bundle default)', r.entry?.version),
        cell('updated', r.entry?.updatedAt ?? ''),
        budget,
        solved,
        cell('settings', r.entry ? settingsText(r.entry.settings) : '', undefined, 'text'),
        cell('point', pointText(r), p?.index ?? (r.pointFrom === 'live' ? s?.solved?.lambda : undefined), 'text'),
        cell('expectedAccuracy', x ? pct(x.accuracy) : '—', x?.accuracy),
        cell('expectedCost', x ? macShare(x.cost) : '—', x?.cost),
      );
    }),
  );
}

function frontier(f: FrontierView, rows: RegionRow[], policy: string): void {
  const points = f.policies[policy] ?? [];
  const marked = pointsOn(rows, policy);
  draw('chart-frontier', {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: `${policy} frontier`,
          data: points.map((p) => ({ x: p.cost, y: p.accuracy })),
          showLine: true,
          borderColor: '#9aa3b2',
          backgroundColor: '#9aa3b2',
          pointRadius: 2,
        },
        {
          label: 'backbone alone',
          data: [{ x: 1, y: f.backboneAccuracy }],
          backgroundColor: '#1d2330',
          pointStyle: 'rectRot',
          pointRadius: 7,
        },
        ...marked.map((r, i) => ({
          label: r.pointFrom === 'live' && !r.point ? `${r.key} (live re-solve)` : r.key,
          data: [{ x: r.expected!.cost, y: r.expected!.accuracy }],
          backgroundColor: REGION_COLORS[i % REGION_COLORS.length],
          pointStyle: 'triangle',
          pointRadius: 9,
        })),
      ],
    },
    options: {
      scales: {
        x: {
          min: 0,
          title: { display: true, text: "mean cost, share of the backbone's MACs (validation)" },
          ticks: { callback: (v) => macShare(Number(v)) },
        },
        y: {
          title: { display: true, text: 'expected accuracy (validation)' },
          ticks: { callback: (v) => pct(Number(v)) },
        },
      },
    },
  });
  table(
    'table-points',
    [
      'region',
      'policy',
      'point',
      'cost (of backbone MACs)',
      'accuracy (val)',
      'accuracy (test)',
      'edge share (expected)',
      'edge exit (measured)',
      'on this chart',
    ],
    rows.map((r) => {
      const p = r.point;
      const x = r.expected;
      const live = !p && r.pointFrom === 'live';
      const rowPolicy = p?.policy ?? (live ? r.entry?.settings.policy : undefined);
      return el(
        'tr',
        { 'data-region': r.key },
        cell('region', r.key),
        cell('policy', rowPolicy ?? '—'),
        cell('index', p ? `#${p.index} (${r.pointFrom})` : live ? pointText(r) : '—', p?.index),
        cell('cost', x ? macShare(x.cost) : '—', x?.cost),
        cell('accuracy', x ? pct(x.accuracy) : '—', x?.accuracy),
        cell('testAccuracy', p?.test ? pct(p.test.accuracy) : '—', p?.test?.accuracy),
        cell('expectedEdgeShare', x ? pct(x.edgeShare) : '—', x?.edgeShare),
        cell('edgeRate', pct(r.traffic?.edgeRate), r.traffic?.edgeRate),
        cell('shown', !rowPolicy ? 'no' : rowPolicy === policy ? 'yes' : 'no (other policy)'),
      );
    }),
  );
}

function histories(hs: History[], entries: Map<string, RegionView>): void {
  if (hs.length === 0) {
    $('history').replaceChildren(
      el('p', { class: 'note' }, 'No region entries: every request runs at the bundle default.'),
    );
    return;
  }
  $('history').replaceChildren(
    ...hs.map((h) => {
      const current = entries.get(h.key)?.version;
      const t = el('table', { 'data-history': h.key });
      t.append(
        el('caption', {}, h.key),
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...['version', 'written (UTC)', 'event', 'settings', 'note'].map((x) => el('th', { scope: 'col' }, x)),
          ),
        ),
        el(
          'tbody',
          {},
          ...[...h.versions].reverse().map((v) => {
            const ev = eventBadge(v);
            const event = el(
              'td',
              { 'data-col': 'event', 'data-event': ev?.kind, class: 'text' },
              ...(ev ? [badge(ev), ev.reason ? ` ${ev.reason}` : ''] : ['operator write']),
            );
            return el(
              'tr',
              {
                'data-version': v.version,
                'data-event': ev?.kind,
                class: v.version === current ? 'selected' : undefined,
              },
              cell('version', `v${v.version}${v.version === current ? ' (current)' : ''}`, v.version),
              cell('updatedAt', v.updatedAt),
              event,
              cell('settings', settingsText(v.settings), undefined, 'text'),
              cell('note', v.settings.note ?? '', undefined, 'text'),
            );
          }),
        ),
      );
      return t;
    }),
  );
}

/** A verification's outcome for one region: the document, or why it could not be read. */
type Verified = { key: string; entry: RegionView; verification: Verification | null; error: string | null };

function verifications(vs: Verified[]): void {
  if (vs.length === 0) {
    $('verification').replaceChildren(
      el(
        'p',
        { class: 'note' },
        'No region is shadow-verified: set a shadow share or a canary on an entry (npm run ops) to see its guard here.',
      ),
    );
    return;
  }
  $('verification').replaceChildren(
    ...vs.map(({ key, entry, verification: v, error }) => {
      const s = entry.settings;
      const block = el('div', { class: 'verification', 'data-verification': key }, el('h3', {}, key));
      if (error) {
        block.append(el('p', { class: 'flag', 'data-error': key }, `Verification not read: ${error}`));
      } else if (!v) {
        block.append(el('p', { class: 'note' }, 'Not shadow-verified now (no shadow share, no canary).'));
      } else {
        const summary = el('table', { 'data-summary': key });
        table(
          summary,
          ['summary', 'value'],
          verificationSummary(v).map((i) =>
            el('tr', { 'data-item': i.item }, cell('label', i.label), cell('value', i.text, i.value, 'text')),
          ),
        );
        const exits = el('table', { 'data-guard': key });
        const rows = guardRows(v, s.guarded);
        table(
          exits,
          [
            'exit',
            'threshold',
            'floor (controller)',
            'shadowed',
            'disagreement (interval at the guard’s confidence)',
            'status',
            'shadowed answers to settle',
          ],
          rows.length
            ? rows.map((r) => {
                const tr = el(
                  'tr',
                  { 'data-exit': r.exit, 'data-status': r.status, class: r.status === 'broken' ? 'broken' : undefined },
                  cell('exit', `exit ${r.exit}`),
                  cell('threshold', r.threshold.toFixed(3), r.threshold),
                  cell('floor', floorText(r.floor), r.floor),
                  cell('n', count(r.n), r.n),
                  cell('disagreement', r.disagreement, r.rate, 'text'),
                  badgeCell('status', r.badge, r.status),
                  cell('needed', r.needed, r.samplesNeeded, 'text'),
                );
                const d = tr.querySelector<HTMLElement>('td[data-col="disagreement"]')!;
                d.dataset.lo = String(r.lo);
                d.dataset.hi = String(r.hi);
                d.dataset.disagree = String(r.disagree);
                return tr;
              })
            : [el('tr', {}, el('td', { colspan: 7, class: 'text' }, 'no edge exit is on'))],
        );
        exits.prepend(el('caption', {}, 'Per edge exit that is on: its shadowed answers at or above its threshold'));
        block.append(summary, exits);
      }
      const floors = guardedText(s.guarded);
      block.append(
        el(
          'p',
          { class: s.guarded ? 'flag' : 'note', 'data-guarded': key },
          floors ? `Guarded floors: ${floors}` : 'Guarded floors: none (no guard has broken).',
        ),
      );
      const canary = canaryText(s, v);
      if (canary) {
        block.append(el('p', { 'data-canary-settings': key }, `Canary: ${canary}`));
        if (v) {
          const arms = el('table', { 'data-canary': key });
          table(
            arms,
            ['arm', 'requests', 'forward rate (interval)', 'shadowed', 'disagreement (interval)', 'status'],
            armRows(v).map((a) => {
              const tr = el(
                'tr',
                { 'data-arm': a.arm, 'data-status': a.status },
                cell('arm', a.arm),
                cell('requests', count(a.requests), a.requests),
                cell('forwardRate', a.forward, a.forwardRate),
                cell('shadowed', count(a.shadowed), a.shadowed),
                cell('disagreement', a.disagreement, a.rate, 'text'),
                badgeCell('status', a.badge, a.status),
              );
              const f = tr.querySelector<HTMLElement>('td[data-col="forwardRate"]')!;
              f.dataset.lo = String(a.forwardInterval.lo);
              f.dataset.hi = String(a.forwardInterval.hi);
              const d = tr.querySelector<HTMLElement>('td[data-col="disagreement"]')!;
              d.dataset.lo = String(a.lo);
              d.dataset.hi = String(a.hi);
              return tr;
            }),
          );
          block.append(arms);
          if (v.canary) {
            const b = decisionBadge(v.canary.decision);
            block.append(
              el(
                'p',
                { 'data-decision': v.canary.decision, 'data-canary-decision': key },
                'Decision: ',
                badge(b),
                ` ${v.canary.reason}`,
              ),
            );
          }
        }
      }
      return block;
    }),
  );
}

function fillSelect(id: string, values: string[], current: string, first?: [string, string]): void {
  const s = $<HTMLSelectElement>(id);
  s.replaceChildren(
    ...(first ? [el('option', { value: first[0] }, first[1])] : []),
    ...values.map((v) => el('option', { value: v }, v)),
  );
  s.value = values.includes(current) || (first && current === first[0]) ? current : (first?.[0] ?? values[0] ?? '');
}

let loading = 0;
async function load(): Promise<void> {
  const token = $<HTMLInputElement>('token').value.trim();
  if (!token) {
    status('error', 'Enter the admin token first.');
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const v = readView();
  const run = ++loading;
  status('loading', 'Loading…');
  try {
    const api = new Api(token);
    const range = rangeOf(v);
    const [all, selected, regions, f] = await Promise.all([
      api.metrics(range),
      v.region ? api.metrics({ ...range, region: v.region }) : Promise.resolve(null),
      api.regions(),
      api.frontier(),
    ]);
    // The list (KV) names the keys; each entry and its history are read from its Durable Object
    // (strongly consistent), so a version written a moment ago shows at once.
    const keys = regions.regions
      .map((r) => r.key)
      .filter((k) => !v.region || k === v.region)
      .slice(0, MAX_HISTORIES);
    const [views, hs] = await Promise.all([
      Promise.all(keys.map((k) => api.region(k))),
      Promise.all(keys.map((k) => api.history(k))),
    ]);
    const entries = new Map(views.map((r) => [r.key, r]));
    // Shadow verification, for the entries that shadow or run a canary: one region's failure (say, its
    // entry deleted a moment ago) is shown in its block, not as the page's.
    const verified: Verified[] = await Promise.all(
      views
        .filter((r) => needsVerification(r.settings) || r.settings.guarded)
        .map(async (entry) => {
          if (!needsVerification(entry.settings)) return { key: entry.key, entry, verification: null, error: null };
          try {
            return { key: entry.key, entry, verification: await api.guard(entry.key), error: null };
          } catch (e) {
            const err = e as ApiError;
            if (err.status === 401) throw e;
            return { key: entry.key, entry, verification: null, error: `${err.code ?? 'ERROR'}: ${err.message}` };
          }
        }),
    );
    const allKeys = regions.regions.map((r) => r.key);
    if (run !== loading) return; // a newer load has started
    const m = selected ?? all;
    $('bundle').textContent =
      `${f.bundle} · ${f.segments} segments, ${f.exits} exits, ${f.defaultSplit} at the edge by default`;
    const known = [...new Set([...allKeys, ...Object.keys(all.byRegion)])].sort();
    fillSelect('region', known.includes(v.region) || !v.region ? known : [...known, v.region].sort(), v.region, [
      '',
      'all regions',
    ]);
    const policy = v.policy && f.policies[v.policy] ? v.policy : f.defaultPolicy;
    fillSelect('policy', Object.keys(f.policies), policy);
    const rows = regionRows(all, views, f, v.region || undefined);
    kpis(m);
    series(m);
    exits(m, f);
    cost(m);
    regionsTable(rows, v.region);
    frontier(f, rows, policy);
    verifications(verified);
    histories(hs, entries);
    status('ready', `Loaded ${new Date().toISOString().slice(11, 19)} UTC: ${count(m.totals.requests)} decisions.`);
  } catch (e) {
    if (run !== loading) return;
    const err = e as ApiError;
    const hint = err.status === 401 ? ' Check the admin token.' : '';
    status('error', `${err.code ? `${err.code}: ` : ''}${err.message}${hint}`);
  }
}

function viewFromControls(): View {
  return {
    region: $<HTMLSelectElement>('region').value,
    range: $<HTMLSelectElement>('range').value,
    from: $<HTMLInputElement>('from').value,
    to: $<HTMLInputElement>('to').value,
    policy: $<HTMLSelectElement>('policy').value,
  };
}

function init(): void {
  const v = readView();
  $<HTMLInputElement>('token').value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  fillSelect('region', v.region ? [v.region] : [], v.region, ['', 'all regions']);
  $<HTMLSelectElement>('range').value = v.range;
  $<HTMLInputElement>('from').value = v.from;
  $<HTMLInputElement>('to').value = v.to;
  $('custom-range').hidden = v.range !== 'custom';
  const apply = () => {
    const next = viewFromControls();
    $('custom-range').hidden = next.range !== 'custom';
    writeView(next);
    if (next.range !== 'custom' || (next.from && next.to)) void load();
  };
  $('region').addEventListener('change', apply);
  $('range').addEventListener('change', apply);
  $('policy').addEventListener('change', apply);
  $('from').addEventListener('change', apply);
  $('to').addEventListener('change', apply);
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    writeView(viewFromControls());
    void load();
  });
  let timer: number | undefined;
  $<HTMLInputElement>('auto').addEventListener('change', (e) => {
    clearInterval(timer);
    if ((e.target as HTMLInputElement).checked) timer = window.setInterval(() => void load(), 30_000);
  });
  if ($<HTMLInputElement>('token').value) void load();
}

init();
