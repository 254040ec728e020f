import { describe, expect, it } from 'vitest';
import { ATTACH_CONFIGS, ATTACH_DEFAULTS, BACKBONE_CONFIGS, BACKBONE_DEFAULTS, ConfigError, resolveConfig } from '../../training/config.js';
import { main } from '../../training/cli.js';

describe('training configs', () => {
  it('merges defaults, a named config and typed overrides', () => {
    const c = resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'smoke', ['--epochs=3', '--widths=4,8', '--augment=true', '--tfBackend=cpu']);
    expect(c.epochs).toBe(3);
    expect(c.widths).toEqual([4, 8]);
    expect(c.augment).toBe(true);
    expect(c.limitPerClass).toBe(BACKBONE_CONFIGS.smoke!.limitPerClass);
    expect(c.lr).toBe(BACKBONE_DEFAULTS.lr);
    const a = resolveConfig(ATTACH_DEFAULTS, ATTACH_CONFIGS, 'default', ['--cuts=a,b']);
    expect(a.cuts).toEqual(['a', 'b']);
  });

  it('rejects unknown keys, bad values and unknown config names, listing what is allowed', () => {
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--epoch=3'])).toThrow(/unknown option --epoch; allowed: .*--epochs/);
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--epochs=many'])).toThrow(/--epochs=many: expected a number/);
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['--widths=4,x'])).toThrow(/"x" is not a number/);
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'huge', [])).toThrow(/unknown config "huge"; known: default, scratch, v1, smoke/);
    expect(() => resolveConfig(BACKBONE_DEFAULTS, BACKBONE_CONFIGS, 'default', ['epochs=3'])).toThrow(ConfigError);
  });

  it('the CLI rejects unknown commands and options before doing any work', async () => {
    await expect(main(['fly'])).rejects.toThrow(/unknown command "fly"; expected one of: backbone, attach, evaluate, cuts, all/);
    await expect(main(['cuts', '--bundle=x'])).rejects.toThrow(/cuts: unknown option\(s\) --bundle=x; allowed: --backbone=<file.onnx>/);
    await expect(main(['evaluate', '--fast'])).rejects.toThrow(/unknown option\(s\) --fast/);
  });
});
