/**
 * `npm run train -- <backbone|attach> --help`: a one-line description of every BACKBONE_DEFAULTS and
 * ATTACH_DEFAULTS key (typed by the defaults' keys, so a new key without a description fails the
 * typecheck) and the formatter that prints `--key=<type>  description (default: value)` for each
 * (the type read off the key's schema in config.ts: an enum lists its values),
 * with the values of the chosen named config, then the named configs and what they override.
 *
 * @example
 * console.log(configHelp({ defaults: ATTACH_DEFAULTS, descriptions: ATTACH_DESCRIPTIONS, named: ATTACH_CONFIGS, notes: ATTACH_CONFIG_NOTES, config: 'smoke' }));
 * //   --epochs=<number>  Epochs of exit-classifier training … (default: 1 under --config=smoke; built-in: 12)
 */
import { z } from 'zod';
import {
  type ATTACH_DEFAULTS,
  type BACKBONE_DEFAULTS,
  type ConfigShape,
  type ConfigValue,
  schemaOf,
} from './config.js';

const TF_BACKEND = 'tfjs backend: auto (tfjs-node(-gpu) when installed, else wasm, else cpu), tensorflow, wasm or cpu';

export const BACKBONE_DESCRIPTIONS: Record<keyof typeof BACKBONE_DEFAULTS, string> = {
  out: 'Output folder: backbone.onnx, backbone.json (training record), checkpoints and train-log.jsonl',
  seed: "Seed of the weight initialisation and of every epoch's shuffle and augmentation",
  epochs: 'Passes over the training images; rerun with the same config, training resumes after the last finished epoch',
  batchSize: 'Training images per Adam step',
  lr: 'Peak Adam learning rate: linear warm-up, then cosine decay to zero at the last epoch',
  warmupEpochs: 'Length of the linear learning-rate warm-up, in epochs (fractions allowed)',
  weightDecay: 'L2 penalty on conv and dense weights, added to the loss (tfjs has no AdamW)',
  augment: 'Random horizontal flips and shifts of the training images',
  shift: 'Largest random shift in pixels, each direction (with augment)',
  stemWidth: 'Channels of the stem conv3x3',
  widths: 'Channels per stage; every stage after the first halves the resolution',
  blocksPerStage: 'Basic blocks per stage (2: six single-tensor cut points for exits, the stem and five block outputs)',
  valPerClass: 'Training images per class held out as validation; the best-validation epoch is the one exported',
  limitPerClass:
    'Keep only the first N training images per class (0 = all); validation and test shrink in proportion (smoke runs)',
  tfBackend: TF_BACKEND,
  bnMomentum: "BatchNorm running-statistics momentum (PyTorch's 0.1 is 0.9 here)",
  warmStart:
    'Checkpoint of a shallower run to start from ("" = random init): its blocks are loaded, the blocks it lacks start as identities',
};

export const ATTACH_DESCRIPTIONS: Record<keyof typeof ATTACH_DEFAULTS, string> = {
  backbone: 'Backbone ONNX file (any exporter), read and never written',
  out: 'Bundle folder to write ("" = the backbone\'s folder)',
  dataset: 'Images to train and calibrate the exits on: fashion-mnist or cifar10',
  datasetDir: 'Folder with the CIFAR-10 binary batches (dataset=cifar10)',
  cuts: 'Candidate cut tensors by name, comma-separated (the cuts command lists them); empty = the default candidates',
  maxCutFraction: "Default candidates: cuts with at most this share of the backbone's MACs before them",
  maxCandidates: 'Default candidates: at most this many, spread evenly by MAC share',
  mean: 'Per-channel mean of the normalisation before the backbone, x = (u8/255 − mean)/std',
  std: 'Per-channel standard deviation of that normalisation',
  inputLayout: "Layout of the backbone's input: auto (read off its input shape), NCHW or NHWC",
  calibration:
    'Data the thresholds are calibrated on: val (the validation split, for a backbone trained without it), test-half (half the test set; the other half evaluates), or auto (val when backbone.json beside the backbone says it never saw it, else test-half)',
  sanity:
    'Run the backbone on calibration images first and stop if it is near chance or another common normalisation does far better',
  cache:
    'Where the cached features live: auto (f32 in memory if within maxMemoryGiB, else f16, else f16 on disk), f32, f16 or disk',
  maxMemoryGiB: "Memory the feature caches may use, GiB (0 = 60 % of this machine's memory)",
  branchBudget: "Per-exit MAC budget as a share of the backbone's: each branch gets the widest width that fits",
  branchMaxWidth: 'Widest branch considered (channels of its convs)',
  epochs: 'Epochs of exit-classifier training on the cached features; rerun with the same config, training resumes',
  batchSize: 'Images per Adam step of the exit classifiers',
  lr: 'Peak Adam learning rate of the exit classifiers (cosine decay to zero)',
  distill: "Weight α of distillation from the backbone's logits in each classifier's loss (0 = cross-entropy only)",
  distillTemperature: 'Temperature T of that distillation (soft targets softmax(logits/T), loss scaled by T²)',
  confHoldoutPerClass: 'Training images per class held out from the classifiers to fit the confidence heads on',
  confEpochs: 'Epochs of confidence-head training on that holdout',
  confLr: 'Peak Adam learning rate of the confidence heads (cosine decay to zero)',
  seed: 'Seed of the branch initialisation and of the shuffles',
  valPerClass:
    'Training images per class held out as the validation split, which calibrates under calibration=val (else the exits train on it too)',
  limitPerClass:
    'Keep only the first N training images per class (0 = all, fashion-mnist only); validation and test shrink in proportion',
  tfBackend: TF_BACKEND,
  defaultMaxDrop:
    'Default operating point: the cheapest of any policy whose accuracy drop against the backbone is certified below this (0.005 = 0.5 pp)',
  delta:
    'Certification level of that drop: confidence 1 − delta, fixed-sequence binomial test on the calibration images',
};

/** What each named config is for (BACKBONE_CONFIGS). */
export const BACKBONE_CONFIG_NOTES: Record<string, string> = {
  default: 'what ships: v1 deepened to two blocks per stage and fine-tuned for 2 epochs',
  scratch: 'from scratch at the built-in defaults (about 2 h on 2 cores)',
  v1: "the first shipped backbone (one block per stage), the default's warm start",
  smoke: 'CI/tests: a few hundred images, one epoch, a tiny net, into a scratch folder',
};

/** What each named config is for (ATTACH_CONFIGS). */
export const ATTACH_CONFIG_NOTES: Record<string, string> = {
  default: 'the built-in defaults, on the shipped backbone',
  smoke: 'CI/tests: exits on the smoke backbone, a few hundred images, one epoch',
};

export type HelpRow = readonly [left: string, right: string];

/** Two aligned columns, indented by two spaces. */
export function table(rows: readonly HelpRow[]): string[] {
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`);
}

export const HELP_ROW: HelpRow = ['--help, -h', 'Print this help and exit (wins over every other argument)'];

/** A value as `--key=` takes it: lists comma-separated, the empty string as "". */
export function formatValue(v: ConfigValue): string {
  const s = Array.isArray(v) ? v.join(',') : String(v);
  return s === '' ? '""' : s;
}

/** The value placeholder of a key, from its schema: `<number>`, `<true|false>`, `<auto|wasm|…>` (an enum's values), `<n,n,…>`, `<a,b,…>`, `<string>`. */
function placeholder(field: z.ZodType): string {
  const t = field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field;
  if (t instanceof z.ZodArray) return t.element instanceof z.ZodNumber ? '<n,n,…>' : '<a,b,…>';
  if (t instanceof z.ZodEnum) return `<${t.options.join('|')}>`;
  if (t instanceof z.ZodBoolean) return '<true|false>';
  if (t instanceof z.ZodNumber) return '<number>';
  return '<string>';
}

/** The named configs, one row each: what it is for and the keys it sets. */
export function namedConfigs<T extends ConfigShape>(
  named: Record<string, Partial<T>>,
  notes: Record<string, string>,
): string[] {
  return table(
    Object.entries(named).map(([name, o]): HelpRow => {
      const set = Object.entries(o)
        .map(([k, v]) => `${k}=${formatValue(v as ConfigValue)}`)
        .join(', ');
      return [name, `${notes[name] ?? ''}${set ? ` (sets ${set})` : ' (no overrides)'}`];
    }),
  );
}

/**
 * The options block of a config-driven command: `--config`, one row per key with the value it takes
 * under `config` (and the built-in default where the config overrides it), `--help`, then the named
 * configs with their overrides.
 */
export function configHelp<T extends ConfigShape>(h: {
  defaults: T;
  descriptions: Record<keyof T, string>;
  named: Record<string, Partial<T>>;
  notes: Record<string, string>;
  config: string;
}): string {
  const over = h.named[h.config] ?? {};
  const shape = schemaOf(h.defaults).shape as Record<string, z.ZodType>;
  const rows: HelpRow[] = [
    ['--config=<name>', `Named config to start from: ${Object.keys(h.named).join(', ')} (default: default)`],
    ...Object.entries(h.defaults).map(([k, base]): HelpRow => {
      const v = over[k];
      const dflt =
        v === undefined || formatValue(v) === formatValue(base)
          ? formatValue(base)
          : `${formatValue(v)} under --config=${h.config}; built-in: ${formatValue(base)}`;
      return [`--${k}=${placeholder(shape[k]!)}`, `${h.descriptions[k as keyof T]} (default: ${dflt})`];
    }),
    HELP_ROW,
  ];
  return [
    `Options (defaults under --config=${h.config}):`,
    ...table(rows),
    '',
    'Named configs (--config=<name>, over the built-in defaults):',
    ...namedConfigs(h.named, h.notes),
  ].join('\n');
}
