/**
 * `npm run bench:cascade [-- --bundle=models/fashion-resnet]`: accuracy vs mean cost of the cascade
 * on the bundle's 10,000 test images, every figure re-derived from the deployed ONNX files in
 * onnxruntime-node (training/evaluate.ts `measureBundle`; thresholds come from the manifest, where
 * they were calibrated on validation).
 *
 *   - every policy's frontier (its validation-calibrated operating points, each measured on test);
 *   - the oracle: the cheapest any policy could be at a given accuracy, knowing the labels (each image
 *     leaves at its earliest correct exit; images no exit gets right leave at exit 0; lower accuracies
 *     by sending the images with the largest savings to exit 0);
 *   - headline per policy: the cheapest point certified on validation (calibrate/bound.ts), its test
 *     cost, accuracy drop, fidelity and edge share, and its cost relative to the oracle's at equal
 *     test accuracy;
 *   - per exit: AUROC of each score for "this exit is right", branch cost as a share of the backbone,
 *     and every candidate position attach trained (manifest provenance).
 *
 * Writes bench/results/cascade.{json,md,svg}; options: `npm run bench:cascade -- --help`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { argmax, POLICIES, type Policy } from '../core/cascade-rule.js';
import { ruleOf } from '../core/manifest.js';
import { defaultSplit, resolveThresholds } from '../core/regions.js';
import { cliArgs } from '../scripts/cli-args.js';
import { type Costs, evaluatePolicy, exitAccuracy, type SplitOutputs, scores } from '../training/calibrate/frontier.js';
import { atDefault, bundleAurocs, measureBundle } from '../training/evaluate.js';

const args = cliArgs({
  usage: 'npm run bench:cascade -- [options]',
  about:
    "Accuracy vs mean cost of the cascade on the bundle's test images, re-derived from its deployed ONNX files in\n" +
    "onnxruntime-node: every policy's validation-calibrated frontier measured on test, the label-aware oracle, the cheapest\n" +
    'certified point per policy, the point each operator budget serves, and per exit its AUROCs and cost.',
  writes: 'bench/results/<name>.{json,md,svg}',
  options: {
    bundle: {
      arg: 'dir',
      description: 'Bundle folder (manifest.json and its ONNX files) to measure',
      default: 'models/fashion-resnet',
    },
    name: { arg: 'stem', description: 'File stem of the results in bench/results', default: 'cascade' },
  },
});
const DIR = args.bundle;
const NAME = args.name;
const MAX_DROP = 0.005;

/** The label-aware lower bound: cost at each reachable accuracy, as [accuracy, cost] pairs (accuracy descending). */
export function oracleCurve(o: SplitOutputs, costs: Costs): { accuracy: number; cost: number }[] {
  const K = o.classes,
    E = o.exits.length;
  let correct = 0,
    cost = 0;
  const savings: number[] = [];
  for (let n = 0; n < o.count; n++) {
    let e = -1;
    for (let i = 0; i < E && e < 0; i++)
      if (argmax(o.exits[i]!.logits.subarray(n * K, (n + 1) * K)) === o.labels[n]) e = i;
    const finalOk = argmax(o.finalLogits.subarray(n * K, (n + 1) * K)) === o.labels[n];
    if (e === 0) {
      correct++;
      cost += costs.exits[0]!;
      continue;
    }
    if (e < 0 && !finalOk) {
      cost += costs.exits[0]!;
      continue;
    } // wrong everywhere: leave as early as possible
    const c = e < 0 ? costs.final : costs.exits[e]!;
    correct++;
    cost += c;
    savings.push(c - costs.exits[0]!);
  }
  savings.sort((a, b) => b - a);
  const out = [{ accuracy: correct / o.count, cost: cost / o.count }];
  for (const s of savings) {
    correct--;
    cost -= s;
    out.push({ accuracy: correct / o.count, cost: cost / o.count });
  }
  return out;
}

/** The oracle's cost at accuracy `a` (interpolated on its curve). */
export function oracleCostAt(curve: { accuracy: number; cost: number }[], a: number): number {
  if (a >= curve[0]!.accuracy) return curve[0]!.cost;
  for (let k = 1; k < curve.length; k++) if (curve[k]!.accuracy <= a) return curve[k]!.cost;
  return curve[curve.length - 1]!.cost;
}

interface Point {
  thresholds: number[];
  valAccuracy: number;
  valCost: number;
  certified: boolean;
  accuracy: number;
  cost: number;
  exitRates: number[];
  fidelity: number;
}

const x = await measureBundle(DIR);
const { m, test, costs } = x;
const E = m.exits.length;
const backbone = exitAccuracy(test, -1);
const curves: Partial<Record<Policy, Point[]>> = {};
/** Each policy's scores on test, computed once (they do not depend on thresholds). */
const testScores = new Map<Policy, Float64Array[]>();
for (const policy of POLICIES) {
  const pts = m.policies.frontier[policy];
  if (!pts?.length) continue;
  const s = scores(policy, test, ruleOf(m, policy, []).scheduler);
  testScores.set(policy, s);
  curves[policy] = pts.map((p) => {
    const r = evaluatePolicy(test, s, p.thresholds, costs, policy);
    return {
      thresholds: p.thresholds,
      valAccuracy: p.accuracy,
      valCost: p.cost,
      certified: !!p.certified,
      accuracy: r.accuracy,
      cost: r.cost,
      exitRates: r.exitRates,
      fidelity: r.fidelity,
    };
  });
}
const oracle = oracleCurve(test, costs);
const headline = Object.entries(curves).map(([policy, pts]) => {
  const cert = pts.filter((p) => p.certified);
  const chosen = cert.length ? cert.reduce((a, b) => (b.valCost < a.valCost ? b : a)) : undefined;
  const hindsight = pts
    .filter((p) => backbone - p.accuracy <= MAX_DROP)
    .reduce<Point | undefined>((a, b) => (!a || b.cost < a.cost ? b : a), undefined);
  return {
    policy,
    certified: chosen && {
      cost: chosen.cost,
      accuracy: chosen.accuracy,
      drop: backbone - chosen.accuracy,
      holdsOnTest: backbone - chosen.accuracy <= MAX_DROP,
      fidelity: chosen.fidelity,
      edgeShare: 1 - chosen.exitRates[E]!,
      oracleCost: oracleCostAt(oracle, chosen.accuracy),
      vsOracle: chosen.cost / oracleCostAt(oracle, chosen.accuracy),
    },
    hindsight: hindsight && {
      cost: hindsight.cost,
      accuracy: hindsight.accuracy,
      edgeShare: 1 - hindsight.exitRates[E]!,
    },
  };
});
// Operators' budgets: the point each policy serves for a region set to `budget` (core/regions.ts
// resolveThresholds, the edge's own resolution), measured on test.
const BUDGETS = [0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1];
const budgets = BUDGETS.map((budget) => ({
  budget,
  policies: Object.fromEntries(
    Object.keys(curves).map((policy) => {
      const p = policy as Policy;
      const cheapest = m.policies.frontier[p]![0]!.cost;
      if (budget < cheapest) return [p, null];
      const thresholds = resolveThresholds({ policy: p, budget, split: E, encoding: 'f16' }, m);
      const r = evaluatePolicy(test, testScores.get(p)!, thresholds, costs, p);
      return [p, { accuracy: r.accuracy, cost: r.cost }];
    }),
  ) as Record<string, { accuracy: number; cost: number } | null>,
}));
const dflt = atDefault(x);
const au = bundleAurocs(m, test);
const result = {
  bundle: m.name,
  date: new Date().toISOString(),
  machine: `${cpus().length}-core ${process.arch} (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, onnxruntime-node`,
  images: test.count,
  backbone: { accuracy: backbone, macs: m.backbone.macs },
  default: {
    policy: m.policies.default,
    rule: m.policies.defaultRule,
    accuracy: dflt.accuracy,
    drop: backbone - dflt.accuracy,
    cost: dflt.cost,
    fidelity: dflt.fidelity,
    answeredByAnExit: 1 - dflt.exitRates[E]!,
    split: defaultSplit(m),
    edgeShare: dflt.exitRates.slice(0, defaultSplit(m)).reduce((a, b) => a + b, 0),
    exitRates: dflt.exitRates,
    oracleCost: oracleCostAt(oracle, dflt.accuracy),
  },
  oracle: {
    full: oracle[0],
    atBackboneMinusMaxDrop: { accuracy: backbone - MAX_DROP, cost: oracleCostAt(oracle, backbone - MAX_DROP) },
  },
  headline,
  budgets,
  exits: m.exits.map((e, i) => ({
    input: e.input,
    backboneFraction: e.backboneFraction,
    branchFraction: e.macs / m.backbone.macs,
    width: e.width,
    costFraction: e.costFraction,
    accuracy: exitAccuracy(test, i),
    auroc: au[i],
  })),
  candidates: m.provenance.candidates ?? [],
  schedulerMaxDiff: x.schedulerMaxDiff,
  curves,
};

const pct = (v: number | undefined, d = 1) => (v === undefined ? '—' : `${(v * 100).toFixed(d)} %`);
const f3 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(3));
const md = [
  `# Cascade accuracy vs cost (\`npm run bench:cascade\`)`,
  '',
  `${result.date}, ${result.machine}. Bundle \`${m.name}\`, ${test.count} test images; every number re-derived from the deployed ONNX files. Thresholds were calibrated on the ${m.provenance.counts.val} validation images; nothing here was fitted on test.`,
  '',
  `Backbone: ${pct(backbone, 2)} test accuracy at ${(m.backbone.macs / 1e6).toFixed(2)} M MACs per image (100 % cost).`,
  '',
  '![accuracy vs cost](cascade.svg)',
  '',
  `## Headline: the cheapest point certified on validation (drop < ${MAX_DROP * 100} pp at ${m.policies.defaultRule ? `confidence ${1 - m.policies.defaultRule.delta}` : "the manifest's confidence"}), measured on test`,
  '',
  '| policy | test cost | test accuracy (drop) | holds on test | fidelity | answered by an exit | oracle cost at equal accuracy | cost / oracle | cheapest test point within 0.5 pp (hindsight) |',
  '|---|---|---|---|---|---|---|---|---|',
  ...headline.map((h) =>
    h.certified
      ? `| ${h.policy}${h.policy === m.policies.default ? ' (default)' : ''} | ${pct(h.certified.cost)} | ${pct(h.certified.accuracy, 2)} (${(h.certified.drop * 100).toFixed(2)} pp) | ${h.certified.holdsOnTest ? 'yes' : '**no**'} | ${pct(h.certified.fidelity, 2)} | ${pct(h.certified.edgeShare)} | ${pct(h.certified.oracleCost)} | ${h.certified.vsOracle.toFixed(2)}× | ${h.hindsight ? `${pct(h.hindsight.cost)} (edge ${pct(h.hindsight.edgeShare)})` : '—'} |`
      : `| ${h.policy} | no certified point | | | | | | | ${h.hindsight ? pct(h.hindsight.cost) : '—'} |`,
  ),
  '',
  `Oracle (labels known): ${pct(oracle[0]!.accuracy, 2)} at ${pct(oracle[0]!.cost)}; held to the backbone − 0.5 pp (${pct(backbone - MAX_DROP, 2)}) it costs ${pct(result.oracle.atBackboneMinusMaxDrop.cost)}. (The manifest's oracle sends images no exit gets right to the final head instead: ${pct(m.policies.oracle.test.accuracy, 2)} at ${pct(m.policies.oracle.test.cost)} on test.)`,
  '',
  '## By budget: the point a region set to `budget` serves (best validation accuracy within the budget), measured on test',
  '',
  `| budget | ${Object.keys(curves)
    .map((p) => `${p} test accuracy (cost)`)
    .join(' | ')} |`,
  `|---|${Object.keys(curves)
    .map(() => '---')
    .join('|')}|`,
  ...budgets.map((b) => {
    const best = Math.max(...Object.values(b.policies).map((v) => v?.accuracy ?? -1));
    return `| ${pct(b.budget, 1)} | ${Object.keys(curves)
      .map((p) => {
        const v = b.policies[p];
        return v
          ? `${v.accuracy === best ? '**' : ''}${pct(v.accuracy, 2)}${v.accuracy === best ? '**' : ''} (${pct(v.cost)})`
          : 'below the cheapest point';
      })
      .join(' | ')} |`;
  }),
  '',
  '## Exits',
  '',
  '| exit | after | backbone share at the cut | branch width | branch cost (share of backbone) | cost if it answers | test accuracy | AUROC confidence head | AUROC max-softmax | AUROC EENet score | share answered at the default |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...result.exits.map(
    (e, i) =>
      `| ${i} | ${e.input} | ${pct(e.backboneFraction)} | ${e.width ?? '—'} | ${pct(e.branchFraction, 2)} | ${pct(e.costFraction)} | ${pct(e.accuracy, 2)} | ${f3(e.auroc?.confidence)} | ${f3(e.auroc?.maxSoftmax)} | ${f3(e.auroc?.eenet)} | ${pct(dflt.exitRates[i])} |`,
  ),
  `| final | ${m.backbone.output} | 100 % | — | — | ${pct(m.final.costFraction)} | ${pct(backbone, 2)} | — | — | — | ${pct(dflt.exitRates[E])} |`,
  '',
  ...(result.candidates.length
    ? [
        '## Candidate positions (attach trained one branch per position and kept the subset that pays)',
        '',
        '| cut | backbone share | width | branch cost | val accuracy | test accuracy | test AUROC confidence / max-softmax | kept |',
        '|---|---|---|---|---|---|---|---|',
        ...result.candidates.map(
          (c) =>
            `| ${c.tensor} | ${pct(c.backboneFraction)} | ${c.width} | ${pct(c.branchFraction, 2)} | ${pct(c.accuracy.val, 2)} | ${pct(c.accuracy.test, 2)} | ${f3(c.auroc.test.confidence)} / ${f3(c.auroc.test.maxSoftmax)} | ${c.kept ? 'yes' : 'no'} |`,
        ),
        '',
      ]
    : []),
  `Default (${m.policies.default}): test accuracy ${pct(dflt.accuracy, 2)} (drop ${((backbone - dflt.accuracy) * 100).toFixed(2)} pp), cost ${pct(dflt.cost)}, fidelity ${pct(dflt.fidelity, 2)}, ${pct(1 - dflt.exitRates[E]!)} answered by an exit, ${pct(result.default.edgeShare)} at the edge with the default split (the first ${result.default.split} segments and exits there, core/regions.ts defaultSplit). Scheduler ONNX vs JS: max |Δ| ${x.schedulerMaxDiff.toExponential(1)}.`,
  '',
].join('\n');

function svg(): string {
  const W = 760,
    H = 420,
    L = 60,
    R = 170,
    T = 20,
    B = 44;
  const all = [
    ...Object.values(curves)
      .flat()
      .map((p) => p.accuracy),
    backbone,
    oracle[0]!.accuracy,
  ];
  const ymin = Math.max(0, Math.floor((backbone - 0.06) * 100) / 100),
    ymax = Math.ceil(Math.max(...all) * 100 + 0.5) / 100;
  const xmax = Math.max(1.05, m.final.costFraction * 1.02);
  const px = (v: number) => L + (v / xmax) * (W - L - R),
    py = (v: number) => H - B - ((Math.max(ymin, v) - ymin) / (ymax - ymin)) * (H - T - B);
  const colours: Record<string, string> = {
    confidence: '#1f77b4',
    'max-softmax': '#ff7f0e',
    entropy: '#2ca02c',
    eenet: '#d62728',
    oracle: '#555',
  };
  const line = (pts: { accuracy: number; cost: number }[], colour: string, dash = '') =>
    `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${[
      ...pts,
    ]
      .sort((a, b) => a.cost - b.cost)
      .map((p) => `${px(p.cost).toFixed(1)},${py(p.accuracy).toFixed(1)}`)
      .join(' ')}"/>`;
  const series = Object.entries(curves).map(([k, pts]) => line(pts, colours[k]!));
  const legend = [...Object.keys(curves), 'oracle'].map(
    (k, i) =>
      `<text x="${W - R + 12}" y="${T + 18 * i + 12}" font-size="12" fill="${colours[k]}">${k}${k === m.policies.default ? ' (default policy)' : ''}</text>`,
  );
  const yt = Array.from({ length: 7 }, (_, i) => ymin + ((ymax - ymin) * i) / 6).map(
    (v) =>
      `<text x="${L - 6}" y="${py(v) + 4}" font-size="11" text-anchor="end">${(v * 100).toFixed(1)}</text><line x1="${L}" x2="${W - R}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`,
  );
  const xt = Array.from({ length: 6 }, (_, i) => (xmax * i) / 5).map(
    (v) => `<text x="${px(v)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${(v * 100).toFixed(0)}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${yt.join('\n')}
${xt.join('\n')}
<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>
<line x1="${L}" x2="${W - R}" y1="${py(backbone - MAX_DROP)}" y2="${py(backbone - MAX_DROP)}" stroke="#999" stroke-dasharray="4 3"/>
<text x="${W - R - 4}" y="${py(backbone - MAX_DROP) + 14}" font-size="11" text-anchor="end" fill="#666">backbone − 0.5 pp</text>
<text x="${(L + W - R) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">mean cost per image (% of the backbone's MACs), test split</text>
<text x="14" y="${(T + H - B) / 2}" font-size="12" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">test accuracy (%)</text>
${series.join('\n')}
${line(oracle, colours.oracle!, '6 3')}
<circle cx="${px(1)}" cy="${py(backbone)}" r="5" fill="black"/><text x="${px(1) - 8}" y="${py(backbone) - 8}" font-size="11" text-anchor="end">backbone</text>
<circle cx="${px(dflt.cost)}" cy="${py(dflt.accuracy)}" r="6" fill="none" stroke="black" stroke-width="2"/><text x="${px(dflt.cost) + 9}" y="${py(dflt.accuracy) + 16}" font-size="11">default</text>
${legend.join('\n')}
</svg>
`;
}

mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/${NAME}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`bench/results/${NAME}.md`, md);
writeFileSync(`bench/results/${NAME}.svg`, svg());
console.log(md);
