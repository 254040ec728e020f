import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config-error.js';
import { main } from '../../training/commands.js';
import {
  ATTACH_CONFIGS,
  ATTACH_DEFAULTS,
  BACKBONE_CONFIGS,
  BACKBONE_DEFAULTS,
  mergeConfig,
  resolveConfig,
} from '../../training/config.js';

describe('training configs', () => {
  it('merges defaults, a named config and typed overrides', () => {
    const c = resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'smoke', [
      '--epochs=3',
      '--widths=4,8',
      '--augment=true',
      '--tfBackend=cpu',
    ]);
    expect(c.epochs).toBe(3);
    expect(c.widths).toEqual([4, 8]);
    expect(c.augment).toBe(true);
    expect(c.limitPerClass).toBe(BACKBONE_CONFIGS.smoke!.limitPerClass);
    expect(c.lr).toBe(BACKBONE_DEFAULTS.lr);
    const a = resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'default', [
      '--cuts=a,b',
      '--sanity',
      '--cache=disk',
      '--calibration',
      'test-half',
    ]);
    expect(a.cuts).toEqual(['a', 'b']);
    expect(a.sanity).toBe(true);
    expect(a.cache).toBe('disk');
    expect(a.calibration).toBe('test-half');
    expect(resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', ['--sanity=false', '--cuts=']).cuts).toEqual([]);
    // The effective config (what the manifest records) has every key, in the schema's order.
    expect(Object.keys(resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'smoke', []))).toEqual(
      Object.keys(ATTACH_DEFAULTS),
    );
  });

  it('every named config resolves against its schema', () => {
    for (const name of Object.keys(BACKBONE_CONFIGS))
      expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, name, []), name).not.toThrow();
    for (const name of Object.keys(ATTACH_CONFIGS))
      expect(() => resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, name, []), name).not.toThrow();
  });

  it('rejects unknown keys, bad values and unknown config names, listing what is allowed', () => {
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--epoch=3'])).toThrow(
      /unknown option\(s\) --epoch; allowed: .*--epochs/,
    );
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--epochs=many'])).toThrow(
      /--epochs=many: expected a number, not "many"/,
    );
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--widths=4,x'])).toThrow(
      /--widths=4,x: value 2: expected a number, not "x"/,
    );
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--epochs'])).toThrow(
      /argument missing/,
    );
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'huge', [])).toThrow(
      /unknown config "huge"; known: default, scratch, v1, smoke/,
    );
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['epochs=3'])).toThrow(ConfigError);
  });

  it('checks enums, integers and ranges, naming the value and what is allowed', () => {
    const bad = (args: string[], message: RegExp) =>
      expect(() => resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'default', args)).toThrow(message);
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--tfBackend=foo'])).toThrow(
      new ConfigError('--tfBackend=foo: expected one of auto, tensorflow, wasm, cpu'),
    );
    bad(['--cache=f64'], /--cache=f64: expected one of auto, f32, f16, disk/);
    bad(['--calibration=train'], /--calibration=train: expected one of auto, val, test-half/);
    bad(['--inputLayout=CHW'], /--inputLayout=CHW: expected one of auto, NCHW, NHWC/);
    bad(['--dataset=mnist'], /--dataset=mnist: expected one of fashion-mnist, cifar10/);
    bad(['--epochs=1.5'], /--epochs=1\.5: expected an integer/);
    bad(['--epochs=0'], /--epochs=0: must be ≥ 1/);
    bad(['--lr=0'], /--lr=0: must be > 0/);
    bad(['--delta=1'], /--delta=1: must be < 1/);
    bad(['--std=0.3,-1'], /--std=0.3,-1: value 2: must be > 0/);
    bad(['--mean='], /--mean=: needs at least 1 value/);
    bad(['--sanity=maybe'], /--sanity=maybe: expected true or false/);
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--widths=4,0'])).toThrow(
      /--widths=4,0: value 2: must be ≥ 1/,
    );
  });

  it('refuses a named config with an unknown key or a bad value, naming the config', () => {
    expect(() => mergeConfig(BACKBONE_DEFAULTS, { odd: { tfBackend: 'gpu' as never } }, 'odd', {})).toThrow(
      /config "odd" sets tfBackend="gpu": expected one of auto, tensorflow, wasm, cpu/,
    );
    expect(() => mergeConfig(BACKBONE_DEFAULTS, { odd: { epoch: 3 } as never }, 'odd', {})).toThrow(
      /config "odd": unknown key\(s\) epoch/,
    );
  });

  it('the CLI rejects unknown commands and options before doing any work', async () => {
    await expect(main(['fly'])).rejects.toThrow(
      /unknown command "fly"; expected one of: backbone, attach, evaluate, cuts, all/,
    );
    await expect(main(['cuts', '--bundle=x'])).rejects.toThrow(
      /cuts: unknown option\(s\) --bundle; allowed: --backbone;/,
    );
    await expect(main(['evaluate', '--fast'])).rejects.toThrow(/unknown option\(s\) --fast/);
  });
});
