/** Reads a model bundle from disk for the backend, checking every file's sha256 against the manifest. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '../../core/manifest.js';
import type { BundleFiles } from './executors/executor.js';

export function loadBundle(dir: string): BundleFiles {
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const read = (file: string, sha: string) => {
    const b = new Uint8Array(readFileSync(join(dir, file)));
    if (createHash('sha256').update(b).digest('hex') !== sha) throw new Error(`${join(dir, file)}: sha256 differs from the manifest`);
    return b;
  };
  return { manifest, segments: manifest.segments.map((s) => read(s.file, s.sha256)), exits: manifest.exits.map((e) => read(e.file, e.sha256)) };
}
