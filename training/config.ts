/**
 * Training configuration as zod schemas: every key typed, with its built-in default (enums as
 * z.enum, numbers with the range that makes sense); named configs that override some keys, each
 * value with the reason for it; `--key=value` overrides on top, read by the command-line parser
 * every entry point uses (scripts/cli-args.ts). As in nanoGPT's configurator, an unknown key, a value
 * of the wrong type or outside its range is refused (a ConfigError naming the value and what is
 * allowed), never ignored or silently replaced. The effective config is saved in the manifest
 * (provenance).
 *
 * @example
 * const cfg = resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'smoke', ['--epochs=2', '--widths=8,16']);
 * resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--tfBackend=foo']);
 * // ConfigError: --tfBackend=foo: expected one of auto, tensorflow, wasm, cpu
 */
import { z } from 'zod';
import { ConfigError, issueText } from '../core/config-error.js';
import { fromText, type OptionSpec, parseCli } from '../scripts/cli-args.js';
// The trainer imports tfjs by type only: this loads no tfjs.
import { FASHION_MEAN, FASHION_STD } from './backbone/train.js';
import type { TfBackendChoice } from './tf.js';

export type ConfigValue = number | string | boolean | number[] | string[];
export type ConfigShape = Record<string, ConfigValue>;

/** training/tf.ts's TF_BACKENDS, spelt out: importing it would load tfjs before any option is checked. */
const TF_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
true satisfies Same<TfBackendChoice, (typeof TF_BACKENDS)[number]>; // fails the typecheck when the two lists part

const int = (min: number) => z.number().int().min(min);
/** A share in (0, 1]. */
const share = () => z.number().gt(0).max(1);
const tfBackend = z.enum(TF_BACKENDS).default('auto');

export const BACKBONE_SCHEMA = z.strictObject({
  /** Output bundle folder. */
  out: z.string().min(1).default('models/fashion-resnet'),
  seed: z.number().int().default(42),
  epochs: int(1).default(10),
  batchSize: int(1).default(128),
  /** Peak Adam learning rate; linear warm-up then cosine decay to zero. */
  lr: z.number().positive().default(0.004),
  warmupEpochs: z.number().min(0).default(0.5),
  /** L2 penalty on conv and dense weights (added to the loss: tfjs has no AdamW). */
  weightDecay: z.number().min(0).default(0.0001),
  /** Random horizontal flips and shifts of up to `shift` pixels. */
  augment: z.boolean().default(true),
  shift: int(0).default(1),
  stemWidth: int(1).default(16),
  widths: z
    .array(int(1))
    .min(1)
    .default(() => [16, 32, 64]),
  /** Two basic blocks per stage: six single-tensor cut points for exits (stem and five block outputs). */
  blocksPerStage: int(1).default(2),
  /** At least one: the epoch exported is the best on validation. */
  valPerClass: int(1).default(500),
  /** Keep only the first N train images per class (0 = all); val/test shrink in proportion (smoke runs). */
  limitPerClass: int(0).default(0),
  /** 'auto' picks tfjs-node(-gpu) when installed, else wasm, else cpu. */
  tfBackend,
  /** BatchNorm running-statistics momentum (PyTorch's 0.1 ⇒ 0.9 here). */
  bnMomentum: z.number().min(0).lt(1).default(0.9),
  /** Checkpoint of a shallower run to start from ('' = random init): its blocks are loaded and the
   *  blocks it lacks start as identities (see ResNet.warmStart), so a deeper net begins at the
   *  checkpoint's accuracy. */
  warmStart: z.string().default(''),
});

export const ATTACH_SCHEMA = z.strictObject({
  /** Backbone ONNX file (any exporter); the bundle is written beside it unless `out` is set. */
  backbone: z.string().min(1).default('models/fashion-resnet/backbone.onnx'),
  out: z.string().default(''),
  dataset: z.enum(['fashion-mnist', 'cifar10']).default('fashion-mnist'),
  /** Folder with CIFAR-10 binary batches when dataset=cifar10. */
  datasetDir: z.string().default(''),
  /** Candidate cut tensors by name (comma-separated); empty = every valid single-tensor cut. */
  cuts: z.array(z.string().min(1)).default(() => []),
  /** Candidates are cuts with at most this share of the backbone's MACs before them (an exit
   *  later than that cannot save enough to pay for itself). */
  maxCutFraction: share().default(0.9),
  /** At most this many candidate exits (evenly spread by MAC share when the backbone has more cuts). */
  maxCandidates: int(1).default(8),
  /** Normalisation applied before the backbone: x = (u8/255 − mean)/std, per channel. */
  mean: z
    .array(z.number())
    .min(1)
    .default(() => [...FASHION_MEAN]),
  std: z
    .array(z.number().positive())
    .min(1)
    .default(() => [...FASHION_STD]),
  /** How the backbone's input is laid out: 'auto' reads it off the input shape (NCHW or NHWC). */
  inputLayout: z.enum(['auto', 'NCHW', 'NHWC']).default('auto'),
  /** Which data calibrates the thresholds and which measures the result: 'val' (the validation
   *  split, held out of the training images: right only for a backbone trained without it, as the
   *  shipped one), 'test-half' (half the test set calibrates, the other half evaluates; the exits
   *  train on all training images), or 'auto': 'val' when a backbone.json beside the backbone says it
   *  was trained here with the same validation split, else 'test-half'. */
  calibration: z.enum(['auto', 'val', 'test-half']).default('auto'),
  /** Run the backbone on a sample of the calibration data first and stop if its accuracy is near
   *  chance or another common normalisation does far better (wrong --mean/--std, layout or labels). */
  sanity: z.boolean().default(true),
  /** Where the cached features live: 'auto' (f32 in memory if it fits in maxMemoryGiB, else f16, else
   *  f16 on disk), 'f32', 'f16' or 'disk' (training/branches/features.ts's CACHE_MODES, which loads
   *  onnxruntime: not imported here). */
  cache: z.enum(['auto', 'f32', 'f16', 'disk']).default('auto'),
  /** Memory the feature caches may use, GiB (0 = 60 % of this machine's memory). */
  maxMemoryGiB: z.number().min(0).default(0),
  /** Per-exit MAC budget as a share of the backbone's: each branch gets the widest width that fits. */
  branchBudget: share().default(0.035),
  /** Widest branch considered. */
  branchMaxWidth: int(1).default(48),
  epochs: int(1).default(12),
  batchSize: int(1).default(128),
  lr: z.number().positive().default(0.003),
  /** Weight α of distillation from the backbone's logits in each classifier's loss, and its temperature. */
  distill: z.number().min(0).max(1).default(0.5),
  distillTemperature: z.number().positive().default(3),
  /** Training images per class held out from the classifiers to fit the confidence heads on. */
  confHoldoutPerClass: int(1).default(500),
  confEpochs: int(1).default(40),
  confLr: z.number().positive().default(0.005),
  seed: z.number().int().default(7),
  valPerClass: int(0).default(500),
  limitPerClass: int(0).default(0),
  tfBackend,
  /** Default policy and thresholds: the cheapest operating point of any policy whose accuracy drop
   *  against the backbone is certified below this (0.005 = 0.5 percentage points) … */
  defaultMaxDrop: z.number().min(0).max(1).default(0.005),
  /** … at confidence 1 − delta, by the fixed-sequence binomial test on validation (calibrate/bound.ts). */
  delta: z.number().gt(0).lt(1).default(0.05),
});

export type BackboneConfig = z.output<typeof BACKBONE_SCHEMA>;
export type AttachConfig = z.output<typeof ATTACH_SCHEMA>;

/** The schema each config's defaults were parsed from (resolveConfig takes the defaults, as its callers always have). */
const SCHEMAS = new WeakMap<object, z.ZodObject>();
function defaultsOf<T extends object>(schema: z.ZodObject): T {
  const d = schema.parse({}) as T;
  SCHEMAS.set(d, schema);
  return d;
}

/** The schema of a config's defaults (BACKBONE_DEFAULTS or ATTACH_DEFAULTS, not a copy of them). */
export function schemaOf(defaults: object): z.ZodObject {
  const s = SCHEMAS.get(defaults);
  if (!s) throw new Error('not the defaults of a training config (BACKBONE_DEFAULTS or ATTACH_DEFAULTS)');
  return s;
}

export const BACKBONE_DEFAULTS = defaultsOf<BackboneConfig>(BACKBONE_SCHEMA);
export const ATTACH_DEFAULTS = defaultsOf<AttachConfig>(ATTACH_SCHEMA);

export const BACKBONE_CONFIGS: Record<string, Partial<BackboneConfig>> = {
  /** What ships: the one-block-per-stage net trained from scratch (`v1`, 12 epochs) deepened to two
   *  blocks per stage and fine-tuned (the deepened net starts at v1's accuracy). */
  default: {
    warmStart: 'models/fashion-resnet/backbone-v1.ckpt.safetensors', // v1's blocks; the second block of each stage starts as an identity
    epochs: 2, // fine-tuning: training from scratch at 2 blocks per stage takes ~2 h on a 2-core VM
    lr: 0.001, // below the from-scratch peak (0.004): the weights are trained already
    warmupEpochs: 0.1, // a short warm-up, for the fresh Adam moments only
  },
  /** From scratch at the default depth. */
  scratch: {}, // the built-in defaults are the from-scratch recipe
  /** The first shipped backbone (one block per stage), the default's warm start. */
  v1: {
    blocksPerStage: 1, // v1's depth: the default deepens it to 2
    epochs: 12, // what v1 was trained for
    out: 'scratch/backbone-v1', // beside the shipped bundle, not over it
  },
  /** CI/tests: a few hundred images, one epoch, a tiny net, into a scratch folder. */
  smoke: {
    out: '.cache/smoke-bundle', // ignored by git; never the shipped bundle
    warmStart: '', // random init: the v1 checkpoint's widths are not this net's
    epochs: 1, // seconds, not minutes
    limitPerClass: 30, // 300 training images
    stemWidth: 4, // a tiny net: fast on any backend
    widths: [4, 8, 8], // three stages as the default, far narrower
    batchSize: 32, // ~10 steps on 300 images
    augment: false, // one epoch on a few images: augmentation only adds noise to the check
  },
} satisfies Record<string, Partial<z.output<typeof BACKBONE_SCHEMA>>>;

export const ATTACH_CONFIGS: Record<string, Partial<AttachConfig>> = {
  default: {}, // the built-in defaults, on the shipped backbone
  /** The smoke backbone trains one epoch on 300 images (near chance by design), so no sanity check. */
  smoke: {
    backbone: '.cache/smoke-bundle/backbone.onnx', // what `backbone --config=smoke` writes
    epochs: 1, // seconds, not minutes
    limitPerClass: 30, // the smoke backbone's 300 training images
    branchMaxWidth: 8, // the smoke backbone is 4–8 channels wide
    batchSize: 32, // a few steps per epoch on 300 images
    confHoldoutPerClass: 8, // of 30 per class (the default 500 would leave none to train the exits on)
    confEpochs: 5, // a few passes over the 80 held-out images
    sanity: false, // the smoke backbone is near chance by design
  },
} satisfies Record<string, Partial<z.output<typeof ATTACH_SCHEMA>>>;

/**
 * The `--key=value` options of a config (for parseCli): each key's value read off its text by its
 * schema (numbers, `true`/`false`, comma-separated lists, enums), booleans also as a bare `--key`.
 */
export function configOptions<T extends ConfigShape>(
  defaults: T,
  descriptions?: Record<keyof T, string>,
): Record<string, OptionSpec> {
  const shape = schemaOf(defaults).shape as Record<string, z.ZodType>;
  return Object.fromEntries(
    Object.entries(shape).map(([k, field]) => [
      k,
      {
        description: descriptions?.[k as keyof T] ?? k,
        schema: fromText(field),
        flag: typeof defaults[k] === 'boolean',
      },
    ]),
  );
}

/**
 * Merges defaults ← named config ← overrides already read (parseCli with configOptions) and checks
 * the result against the schema: a named config that sets an unknown key or a bad value is refused too.
 */
export function mergeConfig<T extends ConfigShape>(
  defaults: T,
  named: Record<string, Partial<T>>,
  name: string,
  overrides: Partial<T>,
): T {
  const base = Object.hasOwn(named, name) ? named[name] : undefined;
  if (!base) throw new ConfigError(`unknown config "${name}"; known: ${Object.keys(named).join(', ')}`);
  const merged: Record<string, unknown> = { ...defaults, ...base, ...overrides };
  const r = schemaOf(defaults).safeParse(merged);
  if (!r.success) {
    const issues = r.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const where =
        key in overrides
          ? `--${key}=${JSON.stringify(merged[key])}`
          : key
            ? `config "${name}" sets ${key}=${JSON.stringify(merged[key])}`
            : `config "${name}"`;
      return `${where}: ${issueText(i)}`;
    });
    throw new ConfigError(issues.join('; '));
  }
  return r.data as T;
}

/**
 * Merges defaults ← named config ← overrides. Overrides are `--key=value` (or `--key` for a
 * boolean); unknown keys, values their schema refuses and unknown config names throw a ConfigError
 * naming what is allowed (`hint` ends the messages of the command-line errors).
 */
export function resolveConfig<T extends ConfigShape>(
  defaults: T,
  named: Record<string, Partial<T>>,
  name: string,
  overrides: string[],
  hint = '',
): T {
  const r = parseCli({ usage: '', about: '', options: configOptions(defaults), hint }, overrides);
  if ('help' in r) throw new ConfigError(`--help is not a config key${hint}`);
  return mergeConfig(defaults, named, name, r.values as Partial<T>);
}
