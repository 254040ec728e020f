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
  epochs: 12,
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
  blocksPerStage: 1,
  valPerClass: 500,
  /** Keep only the first N train images per class (0 = all); val/test shrink in proportion (smoke runs). */
  limitPerClass: 0,
  /** 'auto' picks tfjs-node(-gpu) when installed, else wasm, else cpu. */
  tfBackend: 'auto',
  /** BatchNorm running-statistics momentum (PyTorch's 0.1 ⇒ 0.9 here). */
  bnMomentum: 0.9,
};
export type BackboneConfig = typeof BACKBONE_DEFAULTS;

export const BACKBONE_CONFIGS: Record<string, Partial<BackboneConfig>> = {
  default: {},
  /** CI/tests: a few hundred images, one epoch, a tiny net, into a scratch folder. */
  smoke: { out: '.cache/smoke-bundle', epochs: 1, limitPerClass: 30, stemWidth: 4, widths: [4, 8, 8], batchSize: 32, augment: false },
};

export const ATTACH_DEFAULTS = {
  /** Backbone ONNX file (any exporter); the bundle is written beside it unless `out` is set. */
  backbone: 'models/fashion-resnet/backbone.onnx',
  out: '',
  dataset: 'fashion-mnist',
  /** Folder with CIFAR-10 binary batches when dataset=cifar10. */
  datasetDir: '',
  /** Cut tensors by name (comma-separated); empty = choose by MAC fraction. */
  cuts: [] as string[],
  /** Target cumulative MAC fractions for the exits when `cuts` is empty (PTEENet places exits by compute share). */
  macFractions: [0.12, 0.35, 0.6],
  /** Normalisation applied before the backbone: x = (u8/255 − mean)/std, per channel. */
  mean: [0.286],
  std: [0.353],
  inputLayout: 'NCHW',
  /** Minimum channels of an exit's conv blocks (an exit uses max(feature channels, this)). */
  branchWidth: 24,
  epochs: 6,
  batchSize: 128,
  lr: 0.003,
  /** EENets cost weight λ in L = CE(cascade) + λ·E[cost] + mean_i CE(exit_i). */
  costWeight: 0.05,
  seed: 7,
  valPerClass: 500,
  limitPerClass: 0,
  tfBackend: 'auto',
  /** Default policy and thresholds: the cheapest validation operating point of any policy whose
   *  accuracy is within this drop of the backbone's (0.005 = 0.5 percentage points). */
  defaultMaxDrop: 0.005,
};
export type AttachConfig = typeof ATTACH_DEFAULTS;

export const ATTACH_CONFIGS: Record<string, Partial<AttachConfig>> = {
  default: {},
  smoke: { backbone: '.cache/smoke-bundle/backbone.onnx', epochs: 1, limitPerClass: 30, branchWidth: 8, batchSize: 32 },
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
