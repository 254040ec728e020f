/**
 * core/node/bundle.ts, the one Node-side bundle loader: the shipped bundle loads with every file
 * checked; a copy with one byte changed, a file missing, a file outside the folder or a bad manifest
 * is refused with a message naming the file (and, for a changed file, both hashes).
 *
 * @example
 * npx tsx scripts/vitest.ts run tests/unit/bundle-loader.test.ts
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest.js';
import {
  BundleFileError,
  bundleFiles,
  loadBundle,
  readManifest,
  servedFiles,
  sha256Hex,
  writeBundleFile,
  writeManifest,
} from '../../core/node/bundle.js';

const DIR = 'models/fashion-resnet';
const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A copy of the shipped bundle's files (those its manifest names) in a fresh temporary folder. */
function copyShipped(): string {
  const d = mkdtempSync(join(tmpdir(), 'bundle-loader-'));
  temps.push(d);
  for (const f of bundleFiles(readManifest(DIR))) copyFileSync(join(DIR, f), join(d, f));
  return d;
}
const thrown = (f: () => unknown): BundleFileError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BundleFileError);
    return e as BundleFileError;
  }
  throw new Error('did not throw');
};

describe('loadBundle on models/fashion-resnet', () => {
  it('reads the validated manifest and every segment and exit, each hashing to the manifest', () => {
    const b = loadBundle(DIR);
    expect(b.manifest).toEqual(parseManifest(JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'))));
    expect(b.segments).toHaveLength(b.manifest.segments.length);
    expect(b.exits).toHaveLength(b.manifest.exits.length);
    b.manifest.segments.forEach((s, i) => {
      expect(sha256Hex(b.segments[i]!)).toBe(s.sha256);
    });
    b.manifest.exits.forEach((e, i) => {
      expect(sha256Hex(b.exits[i]!)).toBe(e.sha256);
    });
    // Per-model facts come from the manifest: the shipped bundle's normalisation is Fashion-MNIST's.
    expect(b.manifest.input.normalisation).toEqual({ mean: [0.286], std: [0.353] });
  });

  it('with { schedulers, backbone } reads score_i.onnx and backbone.onnx too', () => {
    const b = loadBundle(DIR, { schedulers: true, backbone: true });
    expect(sha256Hex(b.backbone)).toBe(b.manifest.backbone.sha256);
    b.manifest.exits.forEach((e, i) => {
      expect(sha256Hex(b.schedulers[i]!)).toBe(e.scheduler!.sha256);
    });
  });

  it('servedFiles is what the backend needs: manifest, segments, exits', () => {
    const m = readManifest(DIR);
    expect(servedFiles(m)).toEqual(['manifest.json', ...m.segments.map((s) => s.file), ...m.exits.map((e) => e.file)]);
  });
});

describe('a bundle that is not what its manifest says', () => {
  it('a copy with one byte of exit_1.onnx changed: the error names the file and both hashes', () => {
    const d = copyShipped();
    const m = readManifest(d);
    const bytes = new Uint8Array(readFileSync(join(d, 'exit_1.onnx')));
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(join(d, 'exit_1.onnx'), bytes);
    expect(() => loadBundle(d)).toThrow(/exit_1\.onnx: sha256 differs from the manifest/);
    const e = thrown(() => loadBundle(d));
    expect(e.file).toBe(join(d, 'exit_1.onnx'));
    expect(e.message).toContain(m.exits[1]!.sha256);
    expect(e.message).toContain(sha256Hex(bytes));
  });

  it('a changed scheduler or backbone passes the backend load but not a full one', () => {
    const d = copyShipped();
    writeFileSync(join(d, 'score_0.onnx'), new Uint8Array([1, 2, 3]));
    expect(() => loadBundle(d)).not.toThrow();
    expect(() => loadBundle(d, { schedulers: true })).toThrow(/score_0\.onnx: sha256 differs/);
    writeFileSync(join(d, 'backbone.onnx'), new Uint8Array([1]));
    expect(() => loadBundle(d, { backbone: true })).toThrow(/backbone\.onnx: sha256 differs/);
  });

  it('a missing segment is named', () => {
    const d = copyShipped();
    rmSync(join(d, 'segment_2.onnx'));
    expect(() => loadBundle(d)).toThrow(/segment_2\.onnx: missing/);
  });

  it('a manifest naming a file outside the folder is refused', () => {
    const d = copyShipped();
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    m.exits[0].file = '../exit_0.onnx';
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    expect(() => loadBundle(d)).toThrow(/exit_0\.onnx: outside the bundle folder/);
  });

  it('an invalid, unparseable or missing manifest is named with its fields', () => {
    const d = copyShipped();
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    m.backbone.sha256 = 'xyz';
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    const e = thrown(() => readManifest(d));
    expect(e.file).toBe(join(d, 'manifest.json'));
    expect(e.message).toMatch(/manifest\.json: invalid manifest: .*backbone\.sha256/);
    writeFileSync(join(d, 'manifest.json'), '{');
    expect(() => readManifest(d)).toThrow(/manifest\.json: not JSON/);
    rmSync(join(d, 'manifest.json'));
    expect(() => loadBundle(d)).toThrow(/manifest\.json: missing/);
  });
});

describe('writing a bundle', () => {
  it('writeBundleFile returns what the manifest records; writeManifest round-trips through readManifest', () => {
    const d = copyShipped();
    const m = readManifest(d);
    const bytes = readFileSync(join(d, m.exits[0]!.file));
    expect(writeBundleFile(d, 'exit_0.onnx', bytes)).toEqual({ file: 'exit_0.onnx', sha256: m.exits[0]!.sha256 });
    writeManifest(d, { ...m, name: 'copy' });
    expect(loadBundle(d).manifest).toEqual({ ...m, name: 'copy' });
  });
});
