/**
 * Training configuration: typed defaults, named configs, `--key=value` overrides that reject unknown
 * keys. The effective config is saved in the manifest (provenance).
 *
 * @example
 * const cfg = resolveConfig(BACKBONE_CONFIGS, 'smoke', ['--epochs=2', '--widths=8,16']);
 */
export type ConfigValue = number | string | boolean | number[] | string[];
export type ConfigShape = Record<string, ConfigValue>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const BACKBONE_DEFAULTS = {
  /** Output bundle folder. */
  out: 'models/fashion-resnet',
  seed: 42,
  epochs: 10,
  batchSize: 128,
  /** Peak Adam learning rate; linear warm-up then cosine decay to zero. */
  lr: 0.004,
  warmupEpochs: 0.5,
  /** L2 penalty on conv and dense weights (added to the loss: tfjs has no AdamW). */
  weightDecay: 0.0001,
  /** Random horizontal flips and shifts of up to `shift` pixels. */
  augment: true,
  shift: 1,
  stemWidth: 16,
  widths: [16, 32, 64],
  /** Two basic blocks per stage: six single-tensor cut points for exits (stem and five block outputs). */
  blocksPerStage: 2,
  valPerClass: 500,
  /** Keep only the first N train images per class (0 = all); val/test shrink in proportion (smoke runs). */
  limitPerClass: 0,
  /** 'auto' picks tfjs-node(-gpu) when installed, else wasm, else cpu. */
  tfBackend: 'auto',
  /** BatchNorm running-statistics momentum (PyTorch's 0.1 ⇒ 0.9 here). */
  bnMomentum: 0.9,
  /** Checkpoint of a shallower run to start from ('' = random init): its blocks are loaded and the
   *  blocks it lacks start as identities (see ResNet.warmStart), so a deeper net begins at the
   *  checkpoint's accuracy. */
  warmStart: '',
};
export type BackboneConfig = typeof BACKBONE_DEFAULTS;

export const BACKBONE_CONFIGS: Record<string, Partial<BackboneConfig>> = {
  /** What ships: the one-block-per-stage net trained from scratch (`v1`, 12 epochs) deepened to two
   *  blocks per stage and fine-tuned for 2 epochs (training from scratch at 2 blocks takes ~2 h on a
   *  2-core VM; the deepened net starts at v1's accuracy). */
  default: { warmStart: 'models/fashion-resnet/backbone-v1.ckpt.safetensors', epochs: 2, lr: 0.001, warmupEpochs: 0.1 },
  /** From scratch at the default depth. */
  scratch: {},
  /** The first shipped backbone (one block per stage), the default's warm start. */
  v1: { blocksPerStage: 1, epochs: 12, out: 'scratch/backbone-v1' },
  /** CI/tests: a few hundred images, one epoch, a tiny net, into a scratch folder. */
  smoke: { out: '.cache/smoke-bundle', warmStart: '', epochs: 1, limitPerClass: 30, stemWidth: 4, widths: [4, 8, 8], batchSize: 32, augment: false },
};

export const ATTACH_DEFAULTS = {
  /** Backbone ONNX file (any exporter); the bundle is written beside it unless `out` is set. */
  backbone: 'models/fashion-resnet/backbone.onnx',
  out: '',
  dataset: 'fashion-mnist',
  /** Folder with CIFAR-10 binary batches when dataset=cifar10. */
  datasetDir: '',
  /** Candidate cut tensors by name (comma-separated); empty = every valid single-tensor cut. */
  cuts: [] as string[],
  /** Candidates are cuts with at most this share of the backbone's MACs before them (an exit
   *  later than that cannot save enough to pay for itself). */
  maxCutFraction: 0.9,
  /** At most this many candidate exits (evenly spread by MAC share when the backbone has more cuts). */
  maxCandidates: 8,
  /** Normalisation applied before the backbone: x = (u8/255 − mean)/std, per channel. */
  mean: [0.286],
  std: [0.353],
  /** How the backbone's input is laid out: 'auto' reads it off the input shape (NCHW or NHWC). */
  inputLayout: 'auto',
  /** Which data calibrates the thresholds and which measures the result: 'val' (the validation
   *  split, held out of the training images: right only for a backbone trained without it, as the
   *  shipped one), 'test-half' (half the test set calibrates, the other half evaluates; the exits
   *  train on all training images), or 'auto': 'val' when a backbone.json beside the backbone says it
   *  was trained here with the same validation split, else 'test-half'. */
  calibration: 'auto',
  /** Run the backbone on a sample of the calibration data first and stop if its accuracy is near
   *  chance or another common normalisation does far better (wrong --mean/--std, layout or labels). */
  sanity: true,
  /** Where the cached features live: 'auto' (f32 in memory if it fits in maxMemoryGiB, else f16, else
   *  f16 on disk), 'f32', 'f16' or 'disk'. */
  cache: 'auto',
  /** Memory the feature caches may use, GiB (0 = 60 % of this machine's memory). */
  maxMemoryGiB: 0,
  /** Per-exit MAC budget as a share of the backbone's: each branch gets the widest width that fits. */
  branchBudget: 0.035,
  /** Widest branch considered. */
  branchMaxWidth: 48,
  epochs: 12,
  batchSize: 128,
  lr: 0.003,
  /** Weight α of distillation from the backbone's logits in each classifier's loss, and its temperature. */
  distill: 0.5,
  distillTemperature: 3,
  /** Training images per class held out from the classifiers to fit the confidence heads on. */
  confHoldoutPerClass: 500,
  confEpochs: 40,
  confLr: 0.005,
  seed: 7,
  valPerClass: 500,
  limitPerClass: 0,
  tfBackend: 'auto',
  /** Default policy and thresholds: the cheapest operating point of any policy whose accuracy drop
   *  against the backbone is certified below this (0.005 = 0.5 percentage points) … */
  defaultMaxDrop: 0.005,
  /** … at confidence 1 − delta, by the fixed-sequence binomial test on validation (calibrate/bound.ts). */
  delta: 0.05,
};
export type AttachConfig = typeof ATTACH_DEFAULTS;

export const ATTACH_CONFIGS: Record<string, Partial<AttachConfig>> = {
  default: {},
  /** The smoke backbone trains one epoch on 300 images (near chance by design), so no sanity check. */
  smoke: { backbone: '.cache/smoke-bundle/backbone.onnx', epochs: 1, limitPerClass: 30, branchMaxWidth: 8, batchSize: 32, confHoldoutPerClass: 8, confEpochs: 5, sanity: false },
};

function coerce(key: string, raw: string, like: ConfigValue): ConfigValue {
  if (typeof like === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${key}=${raw}: expected a number`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (raw === 'true' || raw === '1' || raw === '') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`--${key}=${raw}: expected true or false`);
  }
  if (Array.isArray(like)) {
    const parts = raw === '' ? [] : raw.split(',').map((s) => s.trim());
    // An empty default array (e.g. cuts) holds strings; a non-empty one tells its element type.
    if (like.length > 0 && typeof like[0] === 'number') {
      return parts.map((p) => {
        const n = Number(p);
        if (!Number.isFinite(n)) throw new ConfigError(`--${key}=${raw}: "${p}" is not a number (expected a comma-separated list of numbers)`);
        return n;
      });
    }
    return parts;
  }
  return raw;
}

/**
 * Merges defaults ← named config ← overrides. Overrides are `--key=value` (or `--key` for true);
 * unknown keys and unknown config names throw a ConfigError listing the allowed ones.
 */
export function resolveConfig<T extends ConfigShape>(defaults: T, named: Record<string, Partial<T>>, name: string, overrides: string[]): T {
  const base = named[name];
  if (!base) throw new ConfigError(`unknown config "${name}"; known: ${Object.keys(named).join(', ')}`);
  const cfg: T = { ...defaults, ...base };
  for (const arg of overrides) {
    const m = /^--([A-Za-z][A-Za-z0-9]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new ConfigError(`cannot parse argument "${arg}"; expected --key=value`);
    const key = m[1]!;
    if (!(key in defaults)) throw new ConfigError(`unknown option --${key}; allowed: ${Object.keys(defaults).map((k) => `--${k}`).join(', ')}`);
    (cfg as ConfigShape)[key] = coerce(key, m[2] ?? '', defaults[key]!);
  }
  return cfg;
}
