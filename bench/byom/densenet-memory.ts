/**
 * `npm run bench:byom:memory`: does attach fit a wide DenseNet's default cuts on the full data in
 * this machine's memory? Writes a DenseNet-shaped export (PyTorch's form, tests/helpers/foreign-backbones.ts;
 * random weights, since memory does not depend on them: the sanity check is turned off for that
 * reason alone) whose concatenated maps make every candidate's features wide, then runs
 * `npm run train -- attach` with default options otherwise under GNU time, on all 70,000 images,
 * and records the plan attach printed (estimate per cache mode, the mode taken), its peak RSS and
 * its wall time. Exit training runs `--epochs` epochs (default 1): the caches are built once before
 * the first epoch and only read after it, so more epochs add time, not memory.
 *
 * @example
 * npm run bench:byom:memory                # bench/results/byom-densenet-memory.{json,md,log}
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../core/node/bundle.js';
import { cliArgs, text as cliText } from '../../scripts/cli-args.js';
import { foreignDenseNet } from '../../tests/helpers/foreign-backbones.js';

const args = cliArgs({
  usage: 'npm run bench:byom:memory -- [options]',
  about:
    'Peak memory of attach on a wide DenseNet-shaped export (default cuts, all 70,000 Fashion-MNIST images), with the\n' +
    'feature-cache plan attach chose (f32 / f16 in memory, or f16 on disk) and its estimate.',
  writes: 'bench/results/<name>.{json,md,log}',
  options: {
    epochs: {
      arg: 'n',
      description: 'Exit-training epochs (memory peaks while caching and in the first epoch)',
      default: '1',
      schema: cliText.int(1),
    },
    name: { arg: 'stem', description: 'File stem of the results in bench/results', default: 'byom-densenet-memory' },
    keep: {
      arg: 'true|false',
      description: 'Keep the bundle in models/.tmp-densenet-memory afterwards',
      default: 'false',
      schema: cliText.bool(),
    },
  },
});

const GiB = 1024 ** 3;
const work = '.cache/byom';
mkdirSync(work, { recursive: true });
const backbone = join(work, 'densenet-wide.onnx');
// Three dense blocks at 28×28, 14×14 and 7×7 (growth 24 from 48 channels): the concatenations widen
// every later map, as in DenseNet-121 (whose default cuts the issue measured at ~34 GB as f32).
writeFileSync(backbone, foreignDenseNet({ batchNorm: true, opset: 17, init: 48, growth: 24, layers: [4, 8, 8] }));
const out = 'models/.tmp-densenet-memory';
rmSync(out, { recursive: true, force: true });
mkdirSync('bench/results', { recursive: true });
const logFile = `bench/results/${args.name}.log`;
const log = createWriteStream(logFile);
const cmd = [
  '-v',
  process.execPath,
  '--import',
  'tsx',
  'training/cli.ts',
  'attach',
  `--backbone=${backbone}`,
  `--out=${out}`,
  '--sanity=false',
  `--epochs=${args.epochs}`,
];
console.error(`/usr/bin/time ${cmd.join(' ')}`);
const t0 = performance.now();
const stderr: string[] = [];
const code = await new Promise<number>((resolve) => {
  const child = spawn('/usr/bin/time', cmd, { stdio: ['ignore', 'inherit', 'pipe'] });
  child.stderr.on('data', (d: Buffer) => {
    process.stderr.write(d);
    log.write(d);
    stderr.push(d.toString());
  });
  child.on('exit', (c) => resolve(c ?? 1));
});
log.end();
const seconds = (performance.now() - t0) / 1000;
const text = stderr.join('');
const rssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? NaN);
const plan = /feature caches: (.*)/.exec(text)?.[1] ?? '';
if (code !== 0) throw new Error(`attach exited ${code}; see ${logFile}`);
const m = readManifest(out);
const result = {
  date: new Date().toISOString().slice(0, 10),
  machine: `2-core x86 VM, ${(totalmem() / GiB).toFixed(1)} GiB`,
  backbone: {
    shape:
      'DenseNet-shaped, 3 dense blocks (4, 8, 8 layers, growth 24, 48 initial channels), BatchNormalization, opset 17, random weights',
    macs: m.backbone.macs,
    params: m.backbone.params,
  },
  images: m.provenance.counts.train + m.provenance.counts.val + m.provenance.counts.test,
  candidates: (m.provenance.candidates ?? []).map((c) => c.tensor),
  plan,
  featureCache: m.provenance.featureCache,
  epochs: args.epochs,
  peakRssGiB: rssKiB / 1024 / 1024,
  wallSeconds: seconds,
  fits24GB: rssKiB * 1024 <= 24e9,
};
writeFileSync(`bench/results/${args.name}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(
  `bench/results/${args.name}.md`,
  [
    `# attach on a wide DenseNet: memory (${result.date})`,
    '',
    `\`npm run bench:byom:memory\` on a ${result.machine}. Backbone: ${result.backbone.shape}; ${(result.backbone.macs / 1e6).toFixed(1)} M MACs, ${result.backbone.params} params.`,
    `Default options but \`--sanity=false\` (random weights) and \`--epochs=${result.epochs}\`; all ${result.images} images (train + validation + test splits).`,
    '',
    '| measure | value |',
    '|---|---|',
    `| default candidates | ${result.candidates.length}: ${result.candidates.join(', ')} |`,
    `| attach's plan | ${plan} |`,
    `| cache taken | ${result.featureCache?.mode}, ${((result.featureCache?.bytes ?? 0) / GiB).toFixed(2)} GiB |`,
    `| peak RSS (GNU time) | ${result.peakRssGiB.toFixed(2)} GiB |`,
    `| wall time | ${(seconds / 60).toFixed(1)} min |`,
    `| within 24 GB | ${result.fits24GB ? 'yes' : 'NO'} |`,
    '',
    `The log of the run is \`${logFile}\`.`,
    '',
  ].join('\n'),
);
if (!args.keep) rmSync(out, { recursive: true, force: true });
console.log(readFileSync(`bench/results/${args.name}.md`, 'utf8'));
