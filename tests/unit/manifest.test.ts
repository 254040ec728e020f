import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.js';

const SHIPPED = 'models/fashion-resnet/manifest.json';

describe('manifest schema', () => {
  it('accepts the shipped manifest and names every bad field of a broken one', () => {
    const good = JSON.parse(readFileSync(SHIPPED, 'utf8'));
    expect(() => parseManifest(good)).not.toThrow();
    const bad = structuredClone(good);
    bad.segments[1].input = 'elsewhere';
    bad.exits[0].accuracy.test = 1.5;
    bad.backbone.sha256 = 'xyz';
    expect(() => parseManifest(bad)).toThrow(
      /segments\.1\.input: segment 1 reads "elsewhere".*|exits\.0\.accuracy\.test/,
    );
    try {
      parseManifest(bad);
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toMatch(/backbone\.sha256/);
      expect(msg).toMatch(/exits\.0\.accuracy\.test/);
      expect(msg).toMatch(/segments\.1\.input/);
    }
  });

  it('rejects a manifest that is not an object', () => {
    expect(() => parseManifest(42)).toThrow(/invalid manifest/);
  });
});
