/**
 * A model bundle on disk (`models/<name>/`: manifest.json + segment_i.onnx + exit_i.onnx
 * (+ score_i.onnx) + backbone.onnx), for everything that runs on Node: the GPU backend, training
 * (attach writes bundles, evaluate re-measures them), benches, scripts and tests.
 *
 * NODE ONLY. Everything else in core/ is pure and runs in workerd too (the edge worker imports it);
 * `node:` imports belong in core/node/ and nowhere else in core/. The worker's tsconfig must not
 * include this folder, and nothing the worker imports may import it.
 *
 * Reading checks every file against the manifest: a file must lie inside the bundle folder, exist,
 * and hash to the manifest's sha256, or a BundleFileError names the file (and both hashes).
 * Per-model facts (input shape, layout, normalisation, classes) come from the manifest only.
 *
 * @example
 * const b = loadBundle('models/fashion-resnet');          // manifest + segment and exit bytes, verified
 * const { mean, std } = b.manifest.input.normalisation;
 * const m = readManifest('models/fashion-resnet');         // the manifest alone, validated
 * const hash = sha256Hex(bytes);                           // what the manifest records per file
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { type Manifest, parseManifest } from '../manifest.js';

/** The manifest's file name in a bundle folder. */
export const MANIFEST_FILE = 'manifest.json';

/** The graph files attach writes, by kind and index (the names the manifest records). */
export const graphFile = (kind: 'segment' | 'exit' | 'score', index: number) => `${kind}_${index}.onnx`;
const GRAPH_FILE = /^(segment|exit|score)_\d+\.onnx$/;

/** Lowercase hex sha256 of `bytes`, as the manifest records every file's. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A bundle file that is missing, outside its folder, unreadable, invalid or not what the manifest says. */
export class BundleFileError extends Error {
  /**
   * @param file   the file's path (the bundle folder joined with its name)
   * @param reason what is wrong with it, without the path
   */
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
    this.name = 'BundleFileError';
  }
}

/** Reads and validates `dir`/manifest.json; a BundleFileError names the file (missing, not JSON, or every bad field). */
export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file))
    throw new BundleFileError(
      file,
      `missing: ${dir} is not a model bundle (write one with npm run train -- attach … --out=${dir})`,
    );
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BundleFileError(file, `not JSON (${(e as Error).message})`, { cause: e });
  }
  try {
    return parseManifest(json);
  } catch (e) {
    throw new BundleFileError(file, (e as Error).message, { cause: e });
  }
}

/** Every file a manifest names (backbone, segments, exits, schedulers), manifest.json first. */
export function bundleFiles(m: Manifest): string[] {
  return [
    MANIFEST_FILE,
    m.backbone.file,
    ...m.segments.map((s) => s.file),
    ...m.exits.map((e) => e.file),
    ...m.exits.flatMap((e) => (e.scheduler ? [e.scheduler.file] : [])),
  ];
}

/** The files the GPU backend serves from (manifest, segments, exits): what a deployment must carry. */
export function servedFiles(m: Manifest): string[] {
  return [MANIFEST_FILE, ...m.segments.map((s) => s.file), ...m.exits.map((e) => e.file)];
}

/** `dir`/`file`'s bytes, if the file lies inside `dir`, exists and hashes to `sha256`; a BundleFileError otherwise. */
export function readBundleFile(dir: string, file: string, sha256: string): Uint8Array {
  const path = join(dir, file);
  const r = relative(resolve(dir), resolve(dir, file));
  if (r === '' || r.startsWith('..') || isAbsolute(r))
    throw new BundleFileError(
      path,
      `outside the bundle folder ${dir} (the manifest names "${file}"): a bundle's files must lie in its folder`,
    );
  if (!existsSync(path)) throw new BundleFileError(path, `missing (the manifest names it, with sha256 ${sha256})`);
  const bytes = new Uint8Array(readFileSync(path));
  const actual = sha256Hex(bytes);
  if (actual !== sha256)
    throw new BundleFileError(
      path,
      `sha256 differs from the manifest: the manifest says ${sha256}, the file hashes to ${actual} (the file was changed or replaced after attach wrote the manifest; rerun attach)`,
    );
  return bytes;
}

export interface Bundle {
  dir: string;
  manifest: Manifest;
  /** segment_i.onnx's bytes, by index. */
  segments: Uint8Array[];
  /** exit_i.onnx's bytes, by index. */
  exits: Uint8Array[];
}

export interface LoadOptions {
  /** Also read and check the schedulers (score_i.onnx) the manifest names. */
  schedulers?: boolean;
  /** Also read and check the backbone (backbone.onnx). */
  backbone?: boolean;
}

/** A bundle with what `opts` asked for: `schedulers` (one per exit, where the manifest names one) and `backbone`. */
export type LoadedBundle<O extends LoadOptions = Record<never, never>> = Bundle &
  (O extends { schedulers: true } ? { schedulers: (Uint8Array | undefined)[] } : unknown) &
  (O extends { backbone: true } ? { backbone: Uint8Array } : unknown);

/**
 * The bundle in `dir`: its validated manifest and the segment and exit graphs (what the backend
 * serves), every file checked against its manifest sha256; with `{ schedulers: true }` the
 * score_i.onnx files too, with `{ backbone: true }` backbone.onnx.
 */
export function loadBundle<O extends LoadOptions = Record<never, never>>(dir: string, opts?: O): LoadedBundle<O> {
  const manifest = readManifest(dir);
  const b: Bundle & { schedulers?: (Uint8Array | undefined)[]; backbone?: Uint8Array } = {
    dir,
    manifest,
    segments: manifest.segments.map((s) => readBundleFile(dir, s.file, s.sha256)),
    exits: manifest.exits.map((e) => readBundleFile(dir, e.file, e.sha256)),
  };
  if (opts?.schedulers)
    b.schedulers = manifest.exits.map((e) =>
      e.scheduler ? readBundleFile(dir, e.scheduler.file, e.scheduler.sha256) : undefined,
    );
  if (opts?.backbone) b.backbone = readBundleFile(dir, manifest.backbone.file, manifest.backbone.sha256);
  return b as LoadedBundle<O>;
}

/** Removes `dir`'s graph files (segment_i / exit_i / score_i.onnx), so a rerun that keeps fewer exits leaves none of the earlier run's. */
export function removeGraphFiles(dir: string): void {
  for (const f of readdirSync(dir)) if (GRAPH_FILE.test(f)) rmSync(join(dir, f));
}

/** Writes `bytes` as `dir`/`file`; returns the name and sha256 the manifest records for it. */
export function writeBundleFile(dir: string, file: string, bytes: Uint8Array): { file: string; sha256: string } {
  writeFileSync(join(dir, file), bytes);
  return { file, sha256: sha256Hex(bytes) };
}

/** Validates `m` and writes it as `dir`/manifest.json; returns the path written. */
export function writeManifest(dir: string, m: Manifest): string {
  const file = join(dir, MANIFEST_FILE);
  writeFileSync(file, `${JSON.stringify(parseManifest(m), null, 2)}\n`);
  return file;
}
