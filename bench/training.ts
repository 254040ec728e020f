/**
 * `npm run bench:training`: training throughput on this machine, per tfjs backend tried.
 *
 *   - backbone: the default ResNet config (Adam step on a batch of real Fashion-MNIST images);
 *   - exits: the three default branches on features of the shipped bundle's cut shapes, with the
 *     EENets cascade loss (what `attach` runs).
 *
 * For every backend: median samples/s over timed steps after warm-up steps. Backends that cannot
 * train are reported with the reason (stock wasm lacks Conv2DBackpropFilter; tfjs-node cannot be
 * installed offline). Writes bench/results/training.{json,md}; options: `npm run bench:training -- --help`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { readManifest } from '../core/node/bundle.js';
import { normaliseImages } from '../core/normalise.js';
import { cliArgs, text } from '../scripts/cli-args.js';
import { gaussian, mulberry32, ResNet } from '../training/backbone/resnet.js';
import { FASHION_MEAN, FASHION_STD } from '../training/backbone/train.js';
import { registerWasmGradKernels, restoreStockWasmKernels } from '../training/backbone/wasm-grad-kernels.js';
import { Branch, chooseWidth } from '../training/branches/branch.js';
import { nchwToNhwc } from '../training/branches/train.js';
import { ATTACH_DEFAULTS, BACKBONE_DEFAULTS } from '../training/config.js';
import { loadFashionMnist } from '../training/data/fashion-mnist.js';
import { initTf, tf } from '../training/tf.js';

/** The pure-JS cpu backend manages a few samples/s: time fewer, smaller steps so the bench ends. */
const CPU_STEPS = 2;
const args = cliArgs({
  usage: 'npm run bench:training -- [options]',
  about:
    'Training throughput on this machine, per tfjs backend: median samples/s of Adam steps of the default backbone on real\n' +
    "Fashion-MNIST images, and of the default exit branches on features of the shipped bundle's cut shapes. A backend that\n" +
    `cannot train is reported with the reason. The cpu backend runs batch 16, ${CPU_STEPS} timed steps after 1 warm-up step.`,
  writes: 'bench/results/training.{json,md}',
  options: {
    steps: { arg: 'n', description: 'Timed steps per backend and task', default: '8', schema: text.int(1) },
    warmup: { arg: 'n', description: 'Untimed warm-up steps before them', default: '2', schema: text.int(0) },
    backends: {
      arg: 'list',
      description:
        'Backends to try, comma-separated: wasm (our gradient kernels), wasm-stock-input, wasm-stock, cpu, tensorflow',
      default: 'wasm,wasm-stock-input,wasm-stock,cpu,tensorflow',
      schema: text.someOf(['wasm', 'wasm-stock-input', 'wasm-stock', 'cpu', 'tensorflow']),
    },
  },
  env: { BENCH_DEBUG: 'Set (to anything): print the stack of a step that fails' },
});
const STEPS = args.steps;
const WARMUP = args.warmup;
const BACKENDS = args.backends;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Times `step` (one optimizer step on `batch` samples); returns median samples/s. */
function timeSteps(step: () => void, batch: number, steps: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) step();
  const rates: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    step();
    rates.push(batch / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

function backboneStep(batch: number): () => void {
  const cfg = BACKBONE_DEFAULTS;
  const ds = loadFashionMnist({ limitPerClass: { train: Math.ceil(batch / 10), val: 1, test: 1 } });
  const net = new ResNet(
    tf,
    {
      inputChannels: 1,
      numClasses: 10,
      stemWidth: cfg.stemWidth,
      widths: cfg.widths,
      blocksPerStage: cfg.blocksPerStage,
    },
    1,
  );
  const opt = tf.train.adam(cfg.lr);
  const x = normaliseImages(
    ds.train.images.subarray(0, batch * 784),
    batch,
    ds.shape,
    FASHION_MEAN,
    FASHION_STD,
    'NHWC',
  );
  const labels = Int32Array.from(ds.train.labels.subarray(0, batch));
  // As in training: the step in a tidy scope, then the BatchNorm running statistics committed outside
  // it (inside, the new running tensors would be disposed with the scope).
  return () => {
    tf.tidy(() => {
      const xt = tf.tensor4d(x, [batch, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
      opt
        .minimize(
          () => tf.losses.softmaxCrossEntropy(y, net.forward(xt, true)) as tf.Scalar,
          true,
          net.trainableVariables(),
        )!
        .dataSync();
    });
    net.commitBatchNorm(cfg.bnMomentum);
  };
}

/** Candidate cut shapes of the default backbone (stem and the first five block outputs). */
const CUT_SHAPES = [
  [16, 28, 28],
  [16, 28, 28],
  [16, 28, 28],
  [32, 14, 14],
  [32, 14, 14],
  [64, 7, 7],
];
/** The shipped backbone's MACs per image (for the per-position branch width, as attach chooses it). */
const BACKBONE_MACS = readManifest('models/fashion-resnet').backbone.macs;

/** One step of attach's phase 1: every candidate branch's classifier on pooled cached features. */
function exitStep(batch: number): () => void {
  const rand = mulberry32(3);
  const shapes = CUT_SHAPES.map((s) => ({ channels: s[0]!, height: s[1]!, width: s[2]! }));
  const branches = shapes.map(
    (s, i) =>
      new Branch(
        tf,
        `exit_${i}`,
        s,
        {
          width: chooseWidth(s, 10, ATTACH_DEFAULTS.branchBudget * BACKBONE_MACS, ATTACH_DEFAULTS.branchMaxWidth),
          classes: 10,
        },
        rand,
      ),
  );
  const pooled = branches.map((b) => [b.pooledInput.channels, b.pooledInput.height, b.pooledInput.width]);
  const feats = pooled.map((s) => gaussian(rand, batch * s[0]! * s[1]! * s[2]!, 1).map(Math.abs));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const opt = tf.train.adam(ATTACH_DEFAULTS.lr);
  const vars = branches.flatMap((b) => b.classifierVariables());
  return () => {
    tf.tidy(() => {
      const xs = feats.map((f, i) => nchwToNhwc(tf, f, batch, pooled[i]!));
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10) as tf.Tensor2D;
      opt
        .minimize(
          () =>
            tf.addN(branches.map((b, i) => tf.losses.softmaxCrossEntropy(y, b.body(xs[i]!, true).logits))) as tf.Scalar,
          true,
          vars,
        )!
        .dataSync();
    });
    for (const b of branches) b.commitBatchNorm(0.9);
  };
}

const NOTES: Record<string, string> = {
  wasm: 'filter and input gradients as forward convs (ours)',
  'wasm-stock-input': 'our filter gradient, stock Conv2DBackpropInput',
  cpu: 'pure JS, batch 16',
};

interface Row {
  backend: string;
  task: string;
  batch: number;
  samplesPerSec: number | null;
  note: string;
}

async function setBackend(name: string): Promise<string | null> {
  try {
    if (name === 'wasm') await initTf({ backend: 'wasm', quiet: true });
    else if (name === 'cpu') await initTf({ backend: 'cpu', quiet: true });
    else if (name === 'tensorflow') await initTf({ backend: 'tensorflow', quiet: true });
    else if (name === 'wasm-stock-input') {
      // Our filter gradient with the stock (slow) input gradient kernel.
      await initTf({ backend: 'wasm', quiet: true });
      registerWasmGradKernels({ input: 'stock' });
    } else if (name === 'wasm-stock') {
      // The wasm backend as shipped: no filter gradient kernel at all.
      await initTf({ backend: 'wasm', quiet: true });
      restoreStockWasmKernels();
    }
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const rows: Row[] = [];
for (const backend of BACKENDS) {
  const err = await setBackend(backend);
  for (const task of ['backbone', 'exits'] as const) {
    const batch =
      backend === 'cpu' ? 16 : task === 'backbone' ? BACKBONE_DEFAULTS.batchSize : ATTACH_DEFAULTS.batchSize;
    if (err) {
      rows.push({ backend, task, batch, samplesPerSec: null, note: `unavailable: ${err}` });
      continue;
    }
    try {
      const step = task === 'backbone' ? backboneStep(batch) : exitStep(batch);
      const sps = timeSteps(step, batch, backend === 'cpu' ? CPU_STEPS : STEPS, backend === 'cpu' ? 1 : WARMUP);
      rows.push({ backend, task, batch, samplesPerSec: sps, note: NOTES[backend] ?? '' });
    } catch (e) {
      rows.push({ backend, task, batch, samplesPerSec: null, note: `fails: ${(e as Error).message.split('\n')[0]}` });
      if (process.env.BENCH_DEBUG) console.error(e);
    }
    console.error(
      `${backend} ${task}: ${rows[rows.length - 1]!.samplesPerSec?.toFixed(1) ?? rows[rows.length - 1]!.note}`,
    );
  }
}

const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
  steps: STEPS,
  warmup: WARMUP,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/training.json', `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
const md = [
  `# Training throughput (\`npm run bench:training\`)`,
  '',
  `${meta.date}, Node ${meta.node}, ${meta.cpus}; median of ${STEPS} timed steps after ${WARMUP} warm-up steps (cpu: ${CPU_STEPS} after 1).`,
  '',
  '| tfjs backend | task | batch | samples/s | note |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.backend} | ${r.task} | ${r.batch} | ${r.samplesPerSec === null ? '—' : r.samplesPerSec.toFixed(1)} | ${r.note} |`,
  ),
  '',
].join('\n');
writeFileSync('bench/results/training.md', md);
console.log(md);
